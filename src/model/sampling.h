/* Choosing the next token from a logits row: greedy (argmax, lowest id on
 * ties, like torch.argmax) or temperature + top-p (nucleus) sampling with a
 * per-sequence RNG stream, so a sequence's samples depend only on (seed,
 * sequence index) and its logits, never on batching. */
#ifndef LR_SAMPLING_H
#define LR_SAMPLING_H

#include <stdint.h>

/* xoshiro256** state. */
typedef struct {
    uint64_t s[4];
} lr_rng;

/* Seeds the stream of sequence `stream` under `seed` (splitmix64 of both). */
void lr_rng_seed(lr_rng *r, uint64_t seed, uint64_t stream);
uint64_t lr_rng_next(lr_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double lr_rng_uniform(lr_rng *r);

/* Index of the largest value; the lowest index among equal maxima; NaN is
 * never chosen unless the row is all NaN (then 0). */
int32_t lr_argmax(const float *x, int n);

/* 1 when every value of x (n) is finite (no NaN, no infinity). */
int lr_row_finite(const float *x, int n);

/* Scratch for lr_sample (grown as needed; one per thread of sampling). */
typedef struct {
    double p;
    int32_t id;
} lr_candidate;
typedef struct {
    lr_candidate *c; /* (cap) */
    int cap;
} lr_sampler_scratch;
void lr_sampler_scratch_free(lr_sampler_scratch *s);

/* Next token from logits (n): temperature <= 0 -> lr_argmax; else softmax of
 * logits / temperature (fp64), restricted to the smallest set of most
 * probable tokens whose mass reaches top_p (ties by lower id; top_p >= 1 =
 * all tokens), renormalised, and one draw from r. */
int32_t lr_sample(const float *logits, int n, double temperature, double top_p, lr_rng *r, lr_sampler_scratch *s);

/* lr_sample with its draw given: u in [0, 1), what lr_sample would take
 * from r (a device backend's sample_rows receives it as metadata, the
 * stream staying on the host). On a finite row lr_sample draws exactly
 * once, so drawing u first and calling this gives the same token. */
int32_t lr_sample_u(const float *logits, int n, double temperature, double top_p, double u, lr_sampler_scratch *s);

/* lr_sample_u's choice from its candidates: c[0, k) with p = exp((logit -
 * max) / temperature) > 0, `sum` their total over the whole row; complete
 * = 1 when c holds every candidate of the row (in any order). With
 * complete = 0, c must be the row's most probable candidates (ties by
 * lower id) and top_p < 1: the id, or -1 when c's mass does not reach
 * top_p (the nucleus is not all in c). c is reordered and rescaled. */
int32_t lr_sample_pick(lr_candidate *c, int k, double sum, double top_p, double u, int complete);

#endif
