/* Trace packing (`train --pack traces`, `run --pack traces`,
 * docs/train.md): the selected steps of one trace share its prefix, so the
 * trainer runs one causal pass over the trace up to its last selected step
 * and reads the loss at every selected step's position (train_net.h: loss
 * positions) instead of one pass per sample. Same losses and the same
 * summed gradient (dropout 0), about (mean steps per trace) times fewer
 * tokens.
 *
 * What changes is the batch composition: the order is a stream of epochs
 * of TRACES, and optimizer step k takes the next traces of that stream
 * until they hold at least B samples (the global batch; the last trace may
 * overshoot; when all samples together are fewer than B, until they hold
 * all of them), where the reference shuffles individual samples.
 *   - Epoch e (shuffle on, no buffer): the permutation of all traces drawn
 *     from (seed, e); shuffle off: trace order.
 *   - With a shuffle buffer (capacity M, start S <= M, both counted in
 *     SAMPLES as for per-sample training) the FIRST epoch is drawn through
 *     a buffer of whole traces: draw k first admits traces, in arrival
 *     order, until the admitted traces hold at least min(M + D, S + 2D)
 *     samples, D = the samples of the traces drawn before (or all traces,
 *     once the stream ended), then takes buffer slot
 *     rng(seed, k) mod (traces in the buffer) and fills the hole with the
 *     last slot. The buffer so holds at least min(M, S + D) samples' worth
 *     of traces, training starts once S samples in whole traces exist, and
 *     later epochs are the (seed, 1), (seed, 2), ... permutations.
 * A trace is the samples that share its token start (tr_data in_off).
 * Streaming (`run`), samples arrive chunk by chunk and a chunk always holds
 * whole traces (the scorer finishes every trace it starts), so the traces
 * known so far are complete ones. The plan is a pure function of (kept
 * samples, seed, shuffle, M, S, B): never of ranks, chunking, timing or
 * resumes; a loaded file and a stream of the same samples give the same
 * plan. */
#ifndef LR_TRAIN_PACK_H
#define LR_TRAIN_PACK_H

#include <stdint.h>

#include "trainer/train_data.h"

typedef struct {
    tr_data *d;        /* the samples: a loaded file, or a stream fed on demand */
    int64_t n_traces;  /* grouped so far */
    int64_t *first;    /* (n_traces + 1) trace j = sample[first[j] .. first[j+1]) */
    int64_t *sample;   /* (n_grouped) kept-sample indices grouped by trace, ascending input length */
    int64_t n_grouped; /* d's samples grouped so far */
    int64_t cap_traces, cap_grouped;
    int64_t max_per_trace;
    uint64_t seed;
    int shuffle;
    int64_t perm_epoch; /* epoch whose permutation perm holds, -1 none */
    int64_t *perm;      /* (n_traces) once every trace is in */
    /* the first epoch through a buffer of traces (buf_cap > 0, shuffle on) */
    int64_t buf_cap, buf_start;            /* M, S in samples */
    int64_t *order0, n_order0, cap_order0; /* traces drawn so far */
    int64_t *buf, buf_n, buf_alloc;        /* traces in the buffer */
    int64_t admitted, admitted_samples, drawn_samples;
    int64_t plan_step, plan_pos; /* stream position where step plan_step starts (cache) */
} tr_pack;

/* Packs d's samples: a loaded file is grouped at once (its rows may come in
 * any order); a stream is grouped as it is fed. buf_cap, buf_start: the
 * first epoch's buffer as resolved by tr_data_set_buffer (buf_cap 0: none;
 * ignored with shuffle off). d must outlive p. */
void tr_pack_init(tr_pack *p, tr_data *d, uint64_t seed, int shuffle, int64_t buf_cap, int64_t buf_start);
void tr_pack_free(tr_pack *p);
/* Trace at trace-stream position pos (feeding a stream as needed); -1 +
 * lr_error when the feed failed or the stream ended without a sample. */
int64_t tr_pack_trace_at(tr_pack *p, int64_t pos);
/* Optimizer step `step` of global batch B: trace-stream positions
 * [*first, *end) holding *n_samples >= min(B, all) samples. 0, or -1 +
 * lr_error (as tr_pack_trace_at). */
int tr_pack_step(tr_pack *p, int64_t B, int64_t step, int64_t *first, int64_t *end, int64_t *n_samples);

#endif
