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

static void grow(int64_t **v, int64_t *cap, int64_t need) {
    if (need <= *cap) return;
    *cap = need > 2 * *cap ? need : 2 * *cap;
    *v = xrealloc(*v, (size_t)*cap * sizeof **v);
}

static int64_t samples_in(const tr_pack *p, int64_t j) { return p->first[j + 1] - p->first[j]; }

/* Groups the samples a stream appended since the last call. A chunk holds
 * whole traces, each trace's samples in step order (tr_data_append_chunk),
 * so a trace is a run of samples with one token start. */
static void group(tr_pack *p) {
    const tr_data *d = p->d;
    if (p->n_grouped == d->n) return;
    const int64_t j0 = p->n_traces > 0 ? p->n_traces - 1 : 0;
    grow(&p->sample, &p->cap_grouped, d->n);
    grow(&p->first, &p->cap_traces, p->n_traces + (d->n - p->n_grouped) + 1);
    for (int64_t i = p->n_grouped; i < d->n; i++) {
        p->sample[i] = i;
        if (i == 0 || d->in_off[i] != d->in_off[i - 1]) p->first[p->n_traces++] = i;
    }
    p->n_grouped = d->n;
    p->first[p->n_traces] = d->n;
    for (int64_t j = j0; j < p->n_traces; j++)
        if (samples_in(p, j) > p->max_per_trace) p->max_per_trace = samples_in(p, j);
}

/* A loaded file: its /samples rows may come in any order, so sort them by
 * (token start, input length). */
static void group_loaded(tr_pack *p) {
    const tr_data *d = p->d;
    const int64_t n = d->n;
    key3 *k = xmalloc((size_t)(n ? n : 1) * sizeof *k);
    for (int64_t i = 0; i < n; i++) k[i] = (key3){d->in_off[i], d->in_len[i], i};
    qsort(k, (size_t)n, sizeof *k, cmp_key3);
    grow(&p->sample, &p->cap_grouped, n ? n : 1);
    grow(&p->first, &p->cap_traces, n + 1);
    for (int64_t i = 0; i < n; i++) {
        p->sample[i] = k[i].idx;
        if (i == 0 || k[i].off != k[i - 1].off) p->first[p->n_traces++] = i;
    }
    p->first[p->n_traces] = n;
    p->n_grouped = n;
    for (int64_t j = 0; j < p->n_traces; j++)
        if (samples_in(p, j) > p->max_per_trace) p->max_per_trace = samples_in(p, j);
    free(k);
}

void tr_pack_init(tr_pack *p, tr_data *d, uint64_t seed, int shuffle, int64_t buf_cap, int64_t buf_start) {
    *p = (tr_pack){.d = d, .seed = seed, .shuffle = shuffle, .perm_epoch = -1};
    if (shuffle && buf_cap > 0) p->buf_cap = buf_cap, p->buf_start = buf_start > 0 ? buf_start : buf_cap;
    grow(&p->first, &p->cap_traces, 1);
    p->first[0] = 0;
    if (d->complete && !d->feed) group_loaded(p);
}

void tr_pack_free(tr_pack *p) {
    free(p->first), free(p->sample), free(p->perm), free(p->order0), free(p->buf);
    *p = (tr_pack){0};
}

/* Feeds until trace j exists: 0, or 1 when the stream ended before it;
 * -1 + lr_error (a failed feed, or no sample at all). */
static int have_trace(tr_pack *p, int64_t j) {
    for (;;) {
        group(p);
        if (p->n_traces > j) return 0;
        if (p->d->complete) break;
        if (tr_data_feed(p->d) < 0) return -1;
    }
    if (p->n_traces > 0) return 1;
    tr_data_finish(p->d); /* sets the error: nothing to train on */
    return -1;
}

/* Draw n_order0 of the first epoch through the buffer (train_pack.h).
 * 0 drawn, 1 the first epoch is over (every trace drawn), -1 error. */
static int draw_first_epoch(tr_pack *p) {
    const int64_t k = p->n_order0, D = p->drawn_samples;
    const int64_t target = p->buf_cap + D < p->buf_start + 2 * D ? p->buf_cap + D : p->buf_start + 2 * D;
    while (p->admitted_samples < target) {
        const int r = have_trace(p, p->admitted);
        if (r < 0) return -1;
        if (r == 1) break; /* the stream has ended: every trace is in */
        if (p->buf_n == p->buf_alloc) grow(&p->buf, &p->buf_alloc, p->buf_n + 1);
        p->buf[p->buf_n++] = p->admitted;
        p->admitted_samples += samples_in(p, p->admitted++);
    }
    if (p->buf_n == 0) return 1;
    grow(&p->order0, &p->cap_order0, p->n_order0 + 1);
    const int64_t j = (int64_t)(rng_key(rng_key(p->seed, RNG_TAG_PACK_BUFFER), (uint64_t)k) % (uint64_t)p->buf_n);
    p->order0[p->n_order0++] = p->buf[j];
    p->drawn_samples += samples_in(p, p->buf[j]);
    p->buf[j] = p->buf[--p->buf_n];
    return 0;
}

int64_t tr_pack_trace_at(tr_pack *p, int64_t pos) {
    int64_t q = pos, first_epoch = 0;
    if (p->shuffle && p->buf_cap > 0) {
        while (pos >= p->n_order0) {
            const int r = draw_first_epoch(p);
            if (r < 0) return -1;
            if (r == 1) break;
        }
        if (pos < p->n_order0) return p->order0[pos];
        q = pos - p->n_order0, first_epoch = 1; /* later epochs: permutations as below */
    } else if (!p->shuffle) {
        const int r = have_trace(p, pos);
        if (r < 0) return -1;
        if (r == 0) return pos;
    }
    const int r = have_trace(p, INT64_MAX); /* a permutation needs every trace */
    if (r < 0) return -1;
    const int64_t n = p->n_traces, e = q / n + first_epoch, i = q % n;
    if (!p->shuffle) return i;
    if (e != p->perm_epoch) {
        p->perm = xrealloc(p->perm, (size_t)n * sizeof *p->perm);
        rng_permutation(rng_key(rng_key(p->seed, RNG_TAG_PACK), (uint64_t)e), n, p->perm);
        p->perm_epoch = e;
    }
    return p->perm[i];
}

/* 1 when the samples hold more than `got`, 0 when they are all in and hold
 * no more (a stream is fed until it can tell), -1 + lr_error. */
static int more_than(tr_pack *p, int64_t got) {
    while (got >= p->d->n && !p->d->complete)
        if (tr_data_feed(p->d) < 0) return -1;
    return got < p->d->n;
}

int tr_pack_step(tr_pack *p, int64_t B, int64_t step, int64_t *first, int64_t *end, int64_t *n_samples) {
    if (have_trace(p, 0) < 0) return -1;
    if (step < p->plan_step) p->plan_step = 0, p->plan_pos = 0; /* replay from the start (a resume) */
    for (;;) {
        int64_t pos = p->plan_pos, got = 0;
        /* whole traces until they hold B samples, or every sample when all of them are fewer */
        while (got < B) {
            const int more = more_than(p, got);
            if (more < 0) return -1;
            if (!more) break;
            const int64_t j = tr_pack_trace_at(p, pos++);
            if (j < 0) return -1;
            got += samples_in(p, j);
        }
        if (p->plan_step == step) {
            *first = p->plan_pos, *end = pos, *n_samples = got;
            return 0;
        }
        p->plan_step++, p->plan_pos = pos;
    }
}
