/* The chunk of traces (io/chunk.h). */
#include "io/chunk.h"

#include <stdlib.h>
#include <string.h>

void chunk_free_logits(lr_chunk *c) {
    if (c->logits)
        for (int i = 0; i < c->n_traces; i++) free(c->logits[i]);
    free(c->logits);
    c->logits = NULL;
}

void chunk_free(lr_chunk *c) {
    chunk_free_logits(c);
    free(c->problem_status);
    free(c->trace_problem);
    free(c->prompt_len);
    free(c->n_generated);
    free(c->finish);
    free(c->token_offsets);
    free(c->tokens);
    if (c->text)
        for (int i = 0; i < c->n_traces; i++) free(c->text[i]);
    free(c->text);
    free(c->div);
    free(c->cand_offsets);
    cand_buf_free(&c->cand);
    memset(c, 0, sizeof *c);
}

lr_scored_step chunk_scored_step(const lr_chunk *c, int i, int32_t s, int64_t row) {
    const int64_t a = c->cand_offsets[row];
    lr_scored_step st = {
        .problem = c->trace_problem[i],
        .step = s,
        .token = c->tokens[c->token_offsets[i] + c->prompt_len[i] + s],
        .kl = c->div[row].kl,
        .n = (int)(c->cand_offsets[row + 1] - a),
        .ids = c->cand.ids + a,
        .lpe = c->cand.logp_expert + a,
        .lpa = c->cand.logp_amateur + a,
    };
    return st;
}
