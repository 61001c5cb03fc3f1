/* The trainer's data: the samples of a run file (/samples: trace, step,
 * soft label) turned into (input ids, label) pairs, and the order in which
 * optimizer steps consume them.
 *
 * Sample i's input is the trace's prompt followed by its generated ids
 * before step t: /traces/tokens[token_offsets[tr] : + prompt_len[tr] + t].
 * Inputs longer than max_length are skipped and counted (never truncated).
 *
 * Order: a stream of epochs, each a permutation of the kept samples drawn
 * from (seed, epoch) (identity with shuffle off). Optimizer step k consumes
 * stream positions [k·B, (k+1)·B) for global batch B. The stream does not
 * depend on the number of ranks; the data cursor of a checkpoint is k·B.
 *
 * Streaming (the trainer ranks of `run`): samples arrive chunk by chunk,
 * in problem order, while training runs; tr_data_at asks the feed for more
 * when it needs them (blocking). With a shuffle buffer (capacity M, start
 * threshold S <= M) the FIRST epoch is drawn through the buffer:
 *   draw k (k = 0, 1, ...) first admits samples, in arrival order, until
 *   min(M + k, S + 2k) have been admitted (or all, once the stream ended),
 *   then takes buffer slot (rng(seed, k) mod size) and fills the hole with
 *   the last slot.
 * So training starts once S samples exist, the buffer grows by one per draw
 * up to M, and the order is a pure function of (samples, seed, M, S): never
 * of timing, rank counts or where a run was resumed. Later epochs are the
 * usual permutations of all samples. Without a buffer (M = 0) the first
 * epoch is also a full permutation, so training waits for every sample and
 * the result equals `sample` then `train` exactly. */
#ifndef LR_TRAIN_DATA_H
#define LR_TRAIN_DATA_H

#include <stdint.h>

#include "io/chunk.h"
#include "method/method.h"

struct tr_data;
/* Appends the next chunk of samples to d (tr_data_append_chunk): 0 one
 * chunk appended (it may hold no sample), 1 the stream has ended, -1 +
 * lr_error. */
typedef int (*tr_feed_fn)(void *ctx, struct tr_data *d);

typedef struct tr_data {
    int64_t n;              /* kept samples (so far, while streaming) */
    int64_t n_file;         /* samples in /samples */
    int64_t n_skipped_long; /* inputs over max_length */
    int64_t max_len;        /* longest kept input */
    uint64_t digest;        /* of every kept input and label: what --resume checks the data by */
    int32_t *tokens;        /* all trace ids (/traces/tokens) */
    int64_t *in_off;        /* (n) input of kept sample i = tokens[in_off[i] .. + in_len[i]) */
    int32_t *in_len;        /* (n) */
    int64_t *row;           /* (n) its row in /samples */
    int64_t *lab_off;       /* (n + 1) into lab_ids / lab_w */
    int32_t *lab_ids;
    float *lab_w;
    /* order */
    uint64_t seed;
    int shuffle;
    int64_t perm_epoch;     /* epoch whose permutation perm holds, -1 none */
    int64_t *perm;          /* (n) */
    /* streaming */
    int complete;           /* every sample is in (a loaded file: always) */
    tr_feed_fn feed;
    void *feed_ctx;
    int vocab;
    int64_t max_length;
    int64_t n_tokens, n_steps;          /* appended so far */
    int64_t cap_tokens, cap_n, cap_lab; /* allocated */
    /* shuffle buffer of the first epoch */
    int64_t buf_cap, buf_start;         /* M, S; M = 0: none */
    int64_t *order0, n_order0, cap_order0; /* draws so far */
    int64_t *buf, buf_n, admitted;
    int64_t buf_alloc;                  /* entries allocated in buf (grows to min(M, samples)) */
} tr_data;

/* Reads /samples and /traces of a complete run file. vocab: the model's
 * vocabulary (label and input ids are checked against it). 0 ok; -1 +
 * lr_error for a missing group, no samples, inconsistent offsets or ids
 * out of range. */
int tr_data_load(const char *run_path, int vocab, int64_t max_length, tr_data *d);
void tr_data_free(tr_data *d);

void tr_data_set_order(tr_data *d, uint64_t seed, int shuffle);
/* The first epoch through a shuffle buffer of capacity M starting at S
 * samples (1 <= S <= M, 0 = M; M = 0: no buffer). Only with shuffle on. */
void tr_data_set_buffer(tr_data *d, int64_t capacity, int64_t start);
/* Kept-sample index at stream position pos; -1 + lr_error when the feed
 * failed or the stream ended without a sample. */
int64_t tr_data_at(tr_data *d, int64_t pos);

/* Feeds until the stream has ended (a no-op for a loaded file). 0 or -1. */
int tr_data_finish(tr_data *d);
/* Feeds one more chunk: 0 one came (it may hold no sample), 1 the stream
 * has ended (d->complete; a loaded file always), -1 + lr_error. */
int tr_data_feed(tr_data *d);

/* An empty streaming data set fed by feed(ctx, d). */
void tr_data_stream_init(tr_data *d, int vocab, int64_t max_length, tr_feed_fn feed, void *ctx);
/* Appends one scored chunk: its traces' ids and the samples the method m
 * makes of its steps (method_sample), exactly as the join writes /samples.
 * 0, or -1 + lr_error for ids outside the vocabulary. */
int tr_data_append_chunk(tr_data *d, const lr_chunk *c, const lr_method *m);

#endif
