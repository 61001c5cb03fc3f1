/* The sample sets bench_train trains on (bench/TRAIN.md), as the
 * micro-batches of one optimizer step. bench/train_bench.py builds the same
 * ids, labels and order, so both sides train on the same samples.
 *
 * stream: micro-batch sequences of seq-len tokens of the bench token stream,
 *   the loss at each one's last position (one micro-batch).
 * traces: n_traces traces of prompt-len + gen-len tokens (a GSM8K-style
 *   prompt and the expert's generated reply); n_samples selected steps split
 *   over them (the first traces take the remainder), step j of a trace with
 *   k steps at t = (2j + 1) * gen-len / (2k): spread over the reply, mean t =
 *   gen-len / 2. Sample s (in trace order) = x‖y_<t, the loss at its last
 *   token, labels keyed by s.
 *   per sample (pack 0): one sequence per sample, in a seeded shuffle (the
 *     reference shuffles samples), micro-batches of micro-batch sequences.
 *   packed (pack 0 → 1, `train --pack traces`): one sequence per trace up
 *     to its last selected step, a loss at each step; micro-batches of whole
 *     traces while their steps fit in micro-batch (a longer trace alone), as
 *     trainer.c's run_share_packed builds them.
 * Every sample has 4 soft-label entries. */
#ifndef LR_BENCH_TRAIN_SAMPLES_H
#define LR_BENCH_TRAIN_SAMPLES_H

#include <stdint.h>

#include "trainer/train_net.h"

typedef struct {
    int stream; /* 1: the stream set (seq_len, micro_batch sequences); 0: traces */
    int micro_batch;
    int seq_len;   /* stream */
    int n_traces;  /* traces */
    int n_samples; /* traces: selected steps in all */
    int prompt_len, gen_len;
    int pack; /* traces: 1 = one sequence per trace */
    uint64_t seed;
    int vocab;
} bench_sample_opts;

typedef struct {
    int n_mb;
    tr_batch *mb;           /* (n_mb) the micro-batches of one optimizer step */
    int n_samples;          /* supervised positions per step (loss positions of all micro-batches) */
    long tokens;            /* tokens processed per step */
    long tokens_per_sample; /* tokens if every sample were its own sequence x‖y_<t */
    int max_tokens;         /* the largest micro-batch's tokens */
    double attn_pairs;      /* sum over sequences of n(n+1)/2: the causal attention's (query, key) pairs */
} bench_step;

/* 0 ok; -1 with a message on stderr (sizes out of range). */
int bench_step_build(const bench_sample_opts *o, bench_step *st);
void bench_step_free(bench_step *st);

#endif
