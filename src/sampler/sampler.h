/* Sampler: the expert side of the sampling stage (SPEC §2). For a chunk of
 * problems it renders the chat prompts, generates the expert traces
 * (greedy by default) and keeps every step's raw logits row, which is what
 * a scorer needs to compute the contrast exactly (--transport rows), or
 * only the ids, for a scorer that reads the expert itself (ids). */
#ifndef LR_SAMPLER_H
#define LR_SAMPLER_H

#include <stdint.h>

#include "model/eos.h"
#include "model/model.h"
#include "io/chunk.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    lr_model *expert;
    const lr_tokenizer *tok;
    lr_chat_template tpl;
    const char *system;          /* system prompt S */
    const char *const *questions; /* (n_problems) */
    int n_problems;
    int batch;                   /* problems per chunk = concurrent sequences */
    int max_new_tokens;
    double temperature, top_p;
    uint64_t seed;
    lr_eos_set eos;              /* model_eos_set: the expert's and its tokenizer's */
    int ctx_limit;               /* min(expert, amateur) max_position_embeddings */
    int vocab_amateur;           /* a trace is cut before an id >= V_A (the amateur cannot read it) */
    int ids_only;                /* 1: keep no logits rows (out->logits = NULL; --transport ids) */
    /* called at every generated token (MPI progress); may be NULL */
    void (*poll)(void *ctx);
    void *poll_ctx;
} lr_sampler;

/* Number of chunks for n problems. */
int64_t sampler_n_chunks(int n_problems, int batch);

/* Generates chunk `chunk` into *out. Prompts longer than ctx_limit - 1 are
 * skipped (status PROBLEM_SKIPPED_CONTEXT). 0 ok; -1 + lr_error. */
int sampler_run_chunk(lr_sampler *s, int64_t chunk, lr_chunk *out);

#endif
