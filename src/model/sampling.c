/* Token choice (sampling.h): xoshiro256** streams seeded through
 * splitmix64, argmax, and temperature + top-p sampling with an O(n)
 * selection of the nucleus (no full sort of the vocabulary per token). */
#include "model/sampling.h"

#include <math.h>
#include <stdlib.h>

#include "common/check.h"
#include "common/hash.h"

void lr_rng_seed(lr_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t k = lr_splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
    for (int i = 0; i < 4; i++) r->s[i] = lr_splitmix64(&k);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lr_rng_next(lr_rng *r) {
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double lr_rng_uniform(lr_rng *r) { return (double)(lr_rng_next(r) >> 11) * 0x1.0p-53; }

int32_t lr_argmax(const float *x, int n) {
    int32_t best = 0;
    float bv = -INFINITY;
    int found = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]) && (!found || x[i] > bv)) bv = x[i], best = i, found = 1;
    return best;
}

int lr_row_finite(const float *x, int n) {
    int ok = 1; /* no early exit: the loop vectorises */
    for (int i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    return ok;
}

void lr_sampler_scratch_free(lr_sampler_scratch *s) {
    free(s->c);
    s->c = NULL;
    s->cap = 0;
}

/* Candidate order: more probable first, lower id first among equals. */
static inline int before(const lr_candidate *a, const lr_candidate *b) {
    return a->p > b->p || (a->p == b->p && a->id < b->id);
}

static inline void swap_c(lr_candidate *c, int a, int b) {
    lr_candidate t = c[a];
    c[a] = c[b];
    c[b] = t;
}

/* Rearranges candidates c[0, n) so that the first k are the nucleus: the k
 * most probable with k minimal such that their mass reaches top_p (masses
 * normalised to sum 1). Quickselect: expected O(n). Returns k. */
static int nucleus(lr_candidate *c, int n, double top_p) {
    int lo = 0, hi = n;
    double acc = 0.0;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2, last = hi - 1;
        /* median of three as pivot, moved to `last` */
        const lr_candidate *A = &c[lo], *B = &c[mid], *C = &c[last];
        int med;
        if (before(A, B)) med = before(B, C) ? mid : (before(A, C) ? last : lo);
        else med = before(A, C) ? lo : (before(B, C) ? last : mid);
        swap_c(c, med, last);
        int m = lo;
        double sum_g = 0.0;
        for (int i = lo; i < last; i++)
            if (before(&c[i], &c[last])) {
                sum_g += c[i].p;
                swap_c(c, i, m++);
            }
        swap_c(c, m, last); /* pivot at m; [lo, m) precede it */
        if (acc + sum_g >= top_p) {
            hi = m;
        } else {
            acc += sum_g + c[m].p;
            lo = m + 1;
            if (acc >= top_p) return lo;
        }
    }
    return lo;
}

static int cmp_cand(const void *x, const void *y) {
    const lr_candidate *a = x, *b = y;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* lr_sample (r) and lr_sample_u (*given): the draw comes from r at the
 * point lr_sample has always drawn it, or is given. */
static int32_t sample_impl(const float *logits, int n, double temperature, double top_p, lr_rng *r,
                           const double *given, lr_sampler_scratch *s) {
    if (!(temperature > 0.0)) return lr_argmax(logits, n);
    if (n > s->cap) {
        free(s->c);
        s->c = xmalloc((size_t)n * sizeof *s->c);
        s->cap = n;
    }
    lr_candidate *c = s->c;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    if (!isfinite(mx)) return lr_argmax(logits, n);
    /* Candidates with nonzero probability, in id order. */
    double sum = 0.0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!(logits[i] > -INFINITY)) continue; /* -inf and NaN: never sampled */
        double e = exp(((double)logits[i] - mx) / temperature);
        if (e > 0.0) {
            c[k++] = (lr_candidate){e, i};
            sum += e;
        }
    }
    const double u = given ? *given : lr_rng_uniform(r);
    return lr_sample_pick(c, k, sum, top_p, u, 1);
}

int32_t lr_sample_pick(lr_candidate *c, int k, double sum, double top_p, double u, int complete) {
    if (!complete && !(top_p < 1.0)) return -1;
    if (top_p < 1.0) {
        for (int i = 0; i < k; i++) c[i].p /= sum;
        if (!complete) { /* the nucleus lies in c only when c's mass reaches top_p */
            double mass = 0.0;
            for (int i = 0; i < k; i++) mass += c[i].p;
            if (!(mass >= top_p) || k < 1) return -1;
        }
        k = nucleus(c, k, top_p > 0.0 ? top_p : 0.0);
        if (k < 1) k = 1;
        qsort(c, (size_t)k, sizeof *c, cmp_cand); /* fixed order for the draw */
        sum = 0.0;
        for (int i = 0; i < k; i++) sum += c[i].p;
    }
    const double target = u * sum;
    double cum = 0.0;
    for (int i = 0; i < k; i++) {
        cum += c[i].p;
        if (target < cum) return c[i].id;
    }
    return c[k - 1].id;
}

int32_t lr_sample(const float *logits, int n, double temperature, double top_p, lr_rng *r, lr_sampler_scratch *s) {
    return sample_impl(logits, n, temperature, top_p, r, NULL, s);
}

int32_t lr_sample_u(const float *logits, int n, double temperature, double top_p, double u, lr_sampler_scratch *s) {
    return sample_impl(logits, n, temperature, top_p, NULL, &u, s);
}
