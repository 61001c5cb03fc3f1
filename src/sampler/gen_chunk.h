/* A generated chunk: what a sampler hands to a scorer. One chunk is a fixed
 * block of `batch` consecutive problems (chunk c = problems
 * [c*batch, min((c+1)*batch, n))), so the work split and every floating-point
 * reduction are the same whatever the number of ranks. */
#ifndef LR_GEN_CHUNK_H
#define LR_GEN_CHUNK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t chunk;
    int64_t first_problem;
    int n_problems;
    int8_t *problem_status;  /* (n_problems) PROBLEM_* of io/runfile.h */

    int n_traces;            /* sampled problems, in problem order */
    int64_t *trace_problem;  /* (n_traces) */
    int32_t *prompt_len;     /* (n_traces) */
    int32_t *n_generated;    /* (n_traces) T_i >= 1 */
    int8_t *finish;          /* (n_traces) TRACE_* */
    int64_t *token_offsets;  /* (n_traces + 1) */
    int32_t *tokens;         /* prompt ids then generated ids, per trace */
    char **text;             /* (n_traces) */

    int vocab_expert;        /* V_E: logits row length */
    float **logits;          /* (n_traces) each (T_i, V_E): the expert's raw logits row of every step */
} lr_gen_chunk;

void gen_chunk_free(lr_gen_chunk *g);
/* Bytes of expert logits the chunk holds. */
size_t gen_chunk_logit_bytes(const lr_gen_chunk *g);

#endif
