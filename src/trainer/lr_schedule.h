/* The learning-rate schedule as linear-decay segments, so that
 * `train --resume --max-steps N` can extend a run (docs/train.md).
 *
 * Segment k covers optimizer steps [from, to) and decays linearly from its
 * peak lr at `from` to 0 at `zero` (= to, unless a later extension cut the
 * segment short): lr(step) = lr * (zero - step) / (zero - from).
 * A fresh run is the single segment [0, max_steps) -- exactly the plain
 * linear decay. Resuming with a larger --max-steps appends the segment
 * [steps done, new max_steps) at --lr: a warm restart of the decay over the
 * added steps (the steps already taken keep the schedule they had; an
 * unfinished segment is cut at the steps done). The
 * list is recorded in /train as the attribute `lr_schedule` (JSON). */
#ifndef LR_TRAIN_LR_SCHEDULE_H
#define LR_TRAIN_LR_SCHEDULE_H

#include <stdint.h>

#define LR_SCHEDULE_MAX 64

typedef struct {
    int64_t from, to; /* optimizer steps [from, to) */
    int64_t zero;     /* where the decay reaches 0 (>= to) */
    double lr;        /* the peak at `from` */
} lr_segment;

typedef struct {
    int n;
    lr_segment seg[LR_SCHEDULE_MAX];
} lr_schedule;

void lr_schedule_init(lr_schedule *s, double lr, int64_t max_steps);
/* Parses the `lr_schedule` attribute; -1 + lr_error(where) when malformed. */
int lr_schedule_parse(const char *json, const char *where, lr_schedule *s);
/* '[{"from":0,"to":300,"zero":300,"lr":0.0001},...]' (malloc'd). */
char *lr_schedule_json(const lr_schedule *s);
/* The rate of optimizer step `step` (0-based); 0 past the end. */
double lr_schedule_at(const lr_schedule *s, int64_t step);
int64_t lr_schedule_end(const lr_schedule *s);
/* A resume at `done` steps with --max-steps new_max: unchanged when
 * new_max is the schedule's end (or <= done: nothing left to do); appends
 * [done, new_max) at lr when new_max is larger. Refuses (-1 + lr_error) a
 * new_max between done and the end (it would rewrite the decay of steps
 * not yet taken) and more than LR_SCHEDULE_MAX segments. Returns 1 when it
 * appended a segment, 0 when unchanged. */
int lr_schedule_extend(lr_schedule *s, int64_t done, int64_t new_max, double lr, const char *where);

#endif
