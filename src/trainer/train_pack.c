/* Trace packing: grouping and the trace-level order (train_pack.h). */
#include "trainer/train_pack.h"

#include <stdlib.h>

#include "common/check.h"
#include "trainer/rng.h"

typedef struct {
    int64_t off, len, idx;
} key3;

static int cmp_key3(const void *a, const void *b) {
    const key3 *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void tr_pack_init(tr_pack *p, const tr_data *d, uint64_t seed, int shuffle) {
    *p = (tr_pack){.seed = seed, .shuffle = shuffle, .perm_epoch = -1, .plan_step = 0, .plan_pos = 0};
    const int64_t n = d->n;
    key3 *k = xmalloc((size_t)(n ? n : 1) * sizeof *k);
    for (int64_t i = 0; i < n; i++) k[i] = (key3){d->in_off[i], d->in_len[i], i};
    qsort(k, (size_t)n, sizeof *k, cmp_key3);
    p->sample = xmalloc((size_t)(n ? n : 1) * sizeof *p->sample);
    p->first = xmalloc((size_t)(n + 1) * sizeof *p->first);
    for (int64_t i = 0; i < n; i++) {
        p->sample[i] = k[i].idx;
        if (i == 0 || k[i].off != k[i - 1].off) p->first[p->n_traces++] = i;
    }
    p->first[p->n_traces] = n;
    for (int64_t j = 0; j < p->n_traces; j++)
        if (p->first[j + 1] - p->first[j] > p->max_per_trace) p->max_per_trace = p->first[j + 1] - p->first[j];
    p->perm = xmalloc((size_t)(p->n_traces ? p->n_traces : 1) * sizeof *p->perm);
    free(k);
}

void tr_pack_free(tr_pack *p) {
    free(p->first), free(p->sample), free(p->perm);
    *p = (tr_pack){0};
}

int64_t tr_pack_trace_at(tr_pack *p, int64_t pos) {
    const int64_t e = pos / p->n_traces, i = pos % p->n_traces;
    if (!p->shuffle) return i;
    if (e != p->perm_epoch) {
        rng_permutation(rng_key(rng_key(p->seed, RNG_TAG_PACK), (uint64_t)e), p->n_traces, p->perm);
        p->perm_epoch = e;
    }
    return p->perm[i];
}

static int64_t samples_of(tr_pack *p, int64_t pos) {
    const int64_t j = tr_pack_trace_at(p, pos);
    return p->first[j + 1] - p->first[j];
}

void tr_pack_step(tr_pack *p, int64_t B, int64_t step, int64_t *first, int64_t *end, int64_t *n_samples) {
    const int64_t total = p->first[p->n_traces];
    const int64_t want = B < total ? B : total;
    if (step < p->plan_step) p->plan_step = 0, p->plan_pos = 0; /* replay from the start (a resume) */
    for (;;) {
        int64_t pos = p->plan_pos, got = 0;
        while (got < want) got += samples_of(p, pos++);
        if (p->plan_step == step) {
            *first = p->plan_pos, *end = pos, *n_samples = got;
            return;
        }
        p->plan_step++, p->plan_pos = pos;
    }
}
