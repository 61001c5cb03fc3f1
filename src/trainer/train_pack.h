/* Trace packing (`train --pack traces`, docs/train.md): the selected steps
 * of one trace share its prefix, so the trainer runs one causal pass over
 * the trace up to its last selected step and reads the loss at every
 * selected step's position (train_net.h: loss positions) instead of one
 * pass per sample. Same losses and the same summed gradient (dropout 0),
 * about (mean steps per trace) times fewer tokens.
 *
 * What changes is the batch composition: the order is a stream of epochs,
 * each a seeded permutation of TRACES (identity with shuffle off), and
 * optimizer step k takes the next traces of that stream until they hold at
 * least B samples (the global batch; the last trace may overshoot), where
 * the reference shuffles individual samples. The plan is a pure function
 * of (kept samples, seed, shuffle, B): never of ranks or resumes. */
#ifndef LR_TRAIN_PACK_H
#define LR_TRAIN_PACK_H

#include <stdint.h>

#include "trainer/train_data.h"

typedef struct {
    int64_t n_traces;
    int64_t *first;      /* (n_traces + 1) trace j = sample[first[j] .. first[j+1]) */
    int64_t *sample;     /* (kept samples) grouped by trace, ascending input length */
    int64_t max_per_trace;
    uint64_t seed;
    int shuffle;
    int64_t perm_epoch;  /* epoch whose permutation perm holds, -1 none */
    int64_t *perm;       /* (n_traces) */
    int64_t plan_step, plan_pos; /* stream position where step plan_step starts (cache) */
} tr_pack;

/* Groups d's kept samples (a loaded file) by trace: samples of one trace
 * share its token start d->in_off. */
void tr_pack_init(tr_pack *p, const tr_data *d, uint64_t seed, int shuffle);
void tr_pack_free(tr_pack *p);
/* Trace at trace-stream position pos. */
int64_t tr_pack_trace_at(tr_pack *p, int64_t pos);
/* Optimizer step `step` of global batch B: trace-stream positions
 * [*first, *end) holding *n_samples >= min(B, all) samples. */
void tr_pack_step(tr_pack *p, int64_t B, int64_t step, int64_t *first, int64_t *end, int64_t *n_samples);

#endif
