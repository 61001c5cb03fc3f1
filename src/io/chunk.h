/* A chunk of traces: the one batch type of the sampling stage, from the
 * sampler to the trainer (docs/pipeline.md, "Data flow"):
 *
 *   sampler  fills the trace part and the expert's logits rows
 *   MPI      carries it sampler -> scorer (sampler/chunk_msg.c)
 *   scorer   adds each step's divergence and store-alpha candidates and
 *            drops the logits (scorer/scorer.c)
 *   io       writes it as a shard and reads it back (io/runfile_shard.c),
 *            joins shards into the run file (io/runfile_join.c)
 *   trainer  turns a shard's steps into samples (trainer/train_data.c)
 *
 * One chunk is a fixed block of `batch` consecutive problems (chunk c =
 * problems [c*batch, min((c+1)*batch, n))), so the work split and every
 * floating-point reduction are the same whatever the number of ranks.
 * Steps are stored trace-major: trace i owns step rows
 * [sum_{j<i} n_generated[j], ... + n_generated[i]). Every pointer is owned
 * by the chunk; chunk_free releases whatever is set. */
#ifndef LR_IO_CHUNK_H
#define LR_IO_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "method/contrast.h"
#include "method/method.h"

/* problem_status: /problems/status */
enum { PROBLEM_SAMPLED = 0, PROBLEM_SKIPPED_CONTEXT = 1 };
/* finish: /traces/finish_reason (0..2 and 4 = lr_finish_reason of the model runtime) */
enum { TRACE_EOS = 0, TRACE_LENGTH = 1, TRACE_CONTEXT = 2, TRACE_AMATEUR_VOCAB = 3, TRACE_NONFINITE = 4 };

typedef struct {
    /* ---- the traces (sampler) */
    int64_t chunk;          /* chunk id */
    int64_t first_problem;  /* problems [first_problem, first_problem + n_problems) */
    int n_problems;
    int8_t *problem_status; /* (n_problems) PROBLEM_* */

    int n_traces;           /* one per sampled problem, in problem order */
    int64_t *trace_problem; /* (n_traces) global problem index */
    int32_t *prompt_len;    /* (n_traces) */
    int32_t *n_generated;   /* (n_traces) T_i >= 1 = scored steps */
    int8_t *finish;         /* (n_traces) TRACE_* */
    int64_t *token_offsets; /* (n_traces + 1) into tokens */
    int32_t *tokens;        /* (token_offsets[n_traces]) prompt ids then generated ids, per trace */
    char **text;            /* (n_traces) decoded generated text (special tokens skipped) */

    /* ---- sampler -> scorer only (NULL once scored, and in a shard) */
    int vocab_expert;       /* V_E: logits row length */
    float **logits;         /* (n_traces) each (T_i, V_E): the expert's raw logits row of every step */

    /* ---- the contrast (scorer; stored in the shard) */
    int64_t n_steps;        /* sum n_generated */
    lr_step_div *div;       /* (n_steps) */
    int64_t *cand_offsets;  /* (n_steps + 1) into cand */
    lr_cand_buf cand;

    /* statistics for progress (not stored) */
    int64_t n_selected;     /* steps the method selects (the scorer's lr_method) */
    int64_t n_nonfinite;    /* steps recorded as non-finite (KL NaN: NaN/Inf logits) */
} lr_chunk;

/* Frees everything c holds and zeroes it. */
void chunk_free(lr_chunk *c);
/* Frees only the expert logits (after scoring). */
void chunk_free_logits(lr_chunk *c);

/* Step s of trace i, at chunk-local step row `row`, as the method reads it
 * (method/method.h). The pointers point into c. */
lr_scored_step chunk_scored_step(const lr_chunk *c, int i, int32_t s, int64_t row);

#endif
