#include "sampler/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/hash.h"
#include "io/runfile.h"

int64_t sampler_n_chunks(int n_problems, int batch) { return ((int64_t)n_problems + batch - 1) / batch; }

/* Per-step callback state: every trace's logits rows, grown on demand. */
typedef struct {
    lr_sampler *s;
    int vocab;
    float **rows;  /* (n) each (cap[i], vocab); NULL: ids only */
    int *cap;
} step_ctx;

static void on_step(void *vctx, int seq, int step, int32_t token, const float *logits) {
    step_ctx *c = vctx;
    (void)token;
    if (!c->rows) { /* ids only: nothing to keep */
        if (c->s->poll) c->s->poll(c->s->poll_ctx);
        return;
    }
    if (step >= c->cap[seq]) {
        int cap = c->cap[seq] ? 2 * c->cap[seq] : 16;
        while (cap <= step) cap *= 2;
        if (cap > c->s->max_new_tokens && step < c->s->max_new_tokens) cap = c->s->max_new_tokens;
        c->rows[seq] = xrealloc(c->rows[seq], (size_t)cap * (size_t)c->vocab * sizeof(float));
        c->cap[seq] = cap;
    }
    memcpy(c->rows[seq] + (size_t)step * (size_t)c->vocab, logits, (size_t)c->vocab * sizeof(float));
    if (c->s->poll) c->s->poll(c->s->poll_ctx);
}

/* The generated text without special tokens; ids the tokenizer does not
 * know (the padding rows of a model's vocab_size) are skipped, as HF does. */
static char *decode_text(const lr_tokenizer *tok, const int32_t *ids, int n) {
    int32_t *known = xmalloc((size_t)(n ? n : 1) * sizeof *known);
    int k = 0, nt = tokenizer_n_tokens(tok);
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < nt) known[k++] = ids[i];
    size_t len = 0;
    char *text = tokenizer_decode(tok, known, (size_t)k, 1, &len);
    free(known);
    if (!text) {
        lr_error_clear();
        text = xstrdup("");
    }
    return text;
}

/* splitmix64's draw chunk + 1 from the run seed: a chunk's seed, so that chunk streams differ. */
static uint64_t mix_seed(uint64_t seed, int64_t chunk) { return lr_mix64(seed + LR_SPLITMIX64_GAMMA * (uint64_t)(chunk + 1)); }

int sampler_run_chunk(lr_sampler *s, int64_t chunk, lr_chunk *out) {
    memset(out, 0, sizeof *out);
    const int V = model_vocab_size(s->expert);
    int64_t first = chunk * s->batch;
    int n = (int)((first + s->batch <= s->n_problems) ? s->batch : s->n_problems - first);
    LR_CHECK(n > 0, "chunk %lld is outside the problems", (long long)chunk);
    out->chunk = chunk;
    out->first_problem = first;
    out->n_problems = n;
    out->vocab_expert = V;
    out->problem_status = xcalloc((size_t)n, 1);

    /* prompts */
    int32_t **prompt = xcalloc((size_t)n, sizeof *prompt);
    int *plen = xcalloc((size_t)n, sizeof *plen);
    int *which = xmalloc((size_t)n * sizeof *which); /* trace -> problem offset */
    int nt = 0;
    for (int i = 0; i < n; i++) {
        char *text = tokenizer_chat_render(s->tok, s->tpl, s->system, s->questions[first + i], 1);
        int32_t *ids = NULL;
        long len = tokenizer_encode(s->tok, text, strlen(text), &ids);
        free(text);
        if (len < 0) {
            for (int k = 0; k < nt; k++) free(prompt[k]);
            free(prompt), free(plen), free(which);
            chunk_free(out);
            return -1;
        }
        if (len < 1 || len >= s->ctx_limit) {
            out->problem_status[i] = PROBLEM_SKIPPED_CONTEXT;
            free(ids);
            continue;
        }
        prompt[nt] = ids;
        plen[nt] = (int)len;
        which[nt++] = i;
    }

    out->n_traces = nt;
    out->trace_problem = xmalloc((size_t)(nt ? nt : 1) * sizeof *out->trace_problem);
    out->prompt_len = xmalloc((size_t)(nt ? nt : 1) * sizeof *out->prompt_len);
    out->n_generated = xmalloc((size_t)(nt ? nt : 1) * sizeof *out->n_generated);
    out->finish = xmalloc((size_t)(nt ? nt : 1) * sizeof *out->finish);
    out->token_offsets = xmalloc((size_t)(nt + 1) * sizeof *out->token_offsets);
    out->text = xcalloc((size_t)(nt ? nt : 1), sizeof *out->text);
    out->logits = s->ids_only ? NULL : xcalloc((size_t)(nt ? nt : 1), sizeof *out->logits);
    out->token_offsets[0] = 0;
    int rc = 0;
    if (nt > 0) {
        step_ctx sc = {s, V, out->logits, xcalloc((size_t)nt, sizeof(int))};
        int32_t **gen = xcalloc((size_t)nt, sizeof *gen);
        int *glen = xcalloc((size_t)nt, sizeof *glen);
        lr_finish_reason *fin = xcalloc((size_t)nt, sizeof *fin);
        lr_gen_params gp = {.max_new_tokens = s->max_new_tokens,
                            .temperature = s->temperature,
                            .top_p = s->top_p,
                            .seed = mix_seed(s->seed, chunk),
                            .eos_ids = s->eos.ids,
                            .n_eos = s->eos.n,
                            .batch = nt,
                            .no_step_logits = s->ids_only}; /* ids: the scorers recompute the rows */
        rc = model_generate(s->expert, (const int32_t *const *)prompt, plen, nt, &gp, on_step, &sc, gen, glen, fin);
        if (rc == 0) {
            size_t total = 0;
            for (int t = 0; t < nt; t++) total += (size_t)plen[t] + (size_t)glen[t];
            out->tokens = xmalloc((total ? total : 1) * sizeof *out->tokens);
            for (int t = 0; t < nt; t++) {
                int T = glen[t];
                int8_t f = (int8_t)fin[t];
                LR_CHECK(T >= 1, "model_generate returned an empty trace");
                /* the amateur reads x || y_<T-1: its context and vocabulary bound T */
                int ctx_room = s->ctx_limit - plen[t] + 1;
                if (T > ctx_room) T = ctx_room, f = TRACE_CONTEXT;
                for (int k = 0; k < T - 1; k++)
                    if (gen[t][k] >= s->vocab_amateur) {
                        T = k + 1;
                        f = TRACE_AMATEUR_VOCAB;
                        break;
                    }
                int64_t o = out->token_offsets[t];
                memcpy(out->tokens + o, prompt[t], (size_t)plen[t] * sizeof(int32_t));
                memcpy(out->tokens + o + plen[t], gen[t], (size_t)T * sizeof(int32_t));
                out->token_offsets[t + 1] = o + plen[t] + T;
                out->trace_problem[t] = first + which[t];
                out->prompt_len[t] = plen[t];
                out->n_generated[t] = T;
                out->finish[t] = f;
                out->text[t] = decode_text(s->tok, gen[t], T);
            }
        }
        for (int t = 0; t < nt; t++) free(gen[t]);
        free(gen), free(glen), free(fin), free(sc.cap);
    }
    for (int t = 0; t < nt; t++) free(prompt[t]);
    free(prompt), free(plen), free(which);
    if (rc != 0) chunk_free(out);
    return rc;
}
