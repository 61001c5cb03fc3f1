/* The trace-level order of `--pack traces` on a stream (train_pack.h), as
 * the trainer ranks of `run` see it: whole traces arrive chunk by chunk
 * while training runs. Checked on the order alone (a feed that announces
 * samples with their token start and input length):
 *   - every epoch is a permutation of all traces; the order and every
 *     step's traces do not depend on how the traces are chunked (so not on
 *     timing or scorer ranks), nor on asking for a later step first (a
 *     resume replays the plan);
 *   - draw k never needs more than min(M + D, S + 2D) samples of whole
 *     traces, D = samples drawn before (training starts early);
 *   - a loaded file of the same samples, its rows in any order, gives the
 *     same plan (so `run --pack traces` == `sample` + `train --pack traces`
 *     with the same buffer); without a buffer, epoch e is the (seed, e)
 *     trace permutation; later epochs after a buffer are (seed, 1), ...;
 *   - step k holds >= B samples of whole traces and would hold < B without
 *     its last trace; with fewer samples than B in all, every sample;
 *   - an empty stream is an error. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "trainer/rng.h"
#include "trainer/train_pack.h"

#define N_TRACES 40

/* trace t holds steps(t) samples (0 for some: no step selected) */
static int64_t steps(int64_t t) { return t % 7 == 3 ? 0 : 1 + (t * 13 + 5) % 23; }

typedef struct {
    int64_t n_traces, per_chunk, next;
} fake_feed;

static int feed(void *ctx, tr_data *d) {
    fake_feed *f = ctx;
    if (f->next >= f->n_traces) return 1;
    for (int64_t c = 0; c < f->per_chunk && f->next < f->n_traces; c++, f->next++)
        for (int64_t s = 0; s < steps(f->next); s++) {
            d->in_off[d->n] = 1000 * f->next;
            d->in_len[d->n] = (int32_t)(10 + 2 * s);
            d->n++;
        }
    return 0;
}

static int64_t total_samples(int64_t n_traces) {
    int64_t n = 0;
    for (int64_t t = 0; t < n_traces; t++) n += steps(t);
    return n;
}

static void stream(tr_data *d, fake_feed *f, int64_t n_traces, int64_t per_chunk) {
    *f = (fake_feed){n_traces, per_chunk, 0};
    tr_data_stream_init(d, 100, 512, feed, f);
    const int64_t n = total_samples(n_traces);
    d->in_off = malloc((size_t)(n ? n : 1) * sizeof *d->in_off);
    d->in_len = malloc((size_t)(n ? n : 1) * sizeof *d->in_len);
}

/* The same samples as a complete file whose rows are in a scrambled order. */
static void loaded(tr_data *d, int64_t n_traces) {
    fake_feed f;
    stream(d, &f, n_traces, n_traces);
    while (feed(&f, d) == 0) {
    }
    const int64_t n = d->n;
    for (int64_t i = n - 1; i > 0; i--) { /* a fixed scramble */
        const int64_t j = (int64_t)(rng_key(99, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t o = d->in_off[i];
        int32_t l = d->in_len[i];
        d->in_off[i] = d->in_off[j], d->in_len[i] = d->in_len[j];
        d->in_off[j] = o, d->in_len[j] = l;
    }
    d->feed = NULL;
    d->complete = 1;
}

/* Traces (by token start / 1000) at positions [0, len). */
static int64_t *order(tr_pack *p, int64_t len) {
    int64_t *o = malloc((size_t)len * sizeof *o);
    for (int64_t k = 0; k < len; k++) {
        const int64_t j = tr_pack_trace_at(p, k);
        o[k] = j < 0 ? -1 : p->d->in_off[p->sample[p->first[j]]] / 1000;
    }
    return o;
}

static int is_perm_of_traces(const int64_t *o, int64_t n) {
    int64_t seen[N_TRACES] = {0}, want = 0;
    for (int64_t t = 0; t < N_TRACES; t++) want += steps(t) > 0;
    if (n != want) return 0;
    for (int64_t i = 0; i < n; i++) {
        if (o[i] < 0 || o[i] >= N_TRACES || steps(o[i]) == 0 || seen[o[i]]) return 0;
        seen[o[i]] = 1;
    }
    return 1;
}

int main(void) {
    int64_t n_kept = 0;
    for (int64_t t = 0; t < N_TRACES; t++) n_kept += steps(t) > 0;
    const int64_t all = total_samples(N_TRACES);
    const int64_t bufs[][2] = {{64, 16}, {30, 30}, {1000, 200}, {5, 1}, {0, 0}};
    for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) {
        const int64_t M = bufs[b][0], S = bufs[b][1];
        /* reference: one trace per chunk, checking how much was fed per draw */
        tr_data d;
        fake_feed f;
        stream(&d, &f, N_TRACES, 1);
        tr_pack p;
        tr_pack_init(&p, &d, 42, 1, M, S);
        int64_t *ref = malloc((size_t)(3 * n_kept) * sizeof *ref);
        for (int64_t k = 0; k < 3 * n_kept; k++) {
            const int64_t j = tr_pack_trace_at(&p, k);
            EXPECT(j >= 0, "M %lld: position %lld", (long long)M, (long long)k);
            ref[k] = j < 0 ? -1 : d.in_off[p.sample[p.first[j]]] / 1000;
            if (M > 0 && k < n_kept) {
                /* draw k admitted whole traces up to the target, fed one trace at a time */
                const int64_t D = p.drawn_samples - steps(ref[k]);
                const int64_t need = M + D < S + 2 * D ? M + D : S + 2 * D;
                EXPECT(d.n < need + 23 || d.n == all, "M %lld S %lld draw %lld: fed %lld samples, needs %lld",
                       (long long)M, (long long)S, (long long)k, (long long)d.n, (long long)need);
            }
        }
        for (int e = 0; e < 3; e++)
            EXPECT(is_perm_of_traces(ref + e * n_kept, n_kept), "M %lld: epoch %d is a permutation of the traces",
                   (long long)M, e);
        EXPECT(memcmp(ref, ref + n_kept, (size_t)n_kept * sizeof *ref) != 0, "M %lld: epochs differ", (long long)M);
        if (M > 0 && M < all / 2)
            EXPECT(ref[0] < 8, "M %lld: the first draw from the first traces (%lld)", (long long)M, (long long)ref[0]);
        /* epoch 1 (and epoch 0 without a buffer): the (seed, e) permutation of the traces */
        int64_t perm[N_TRACES] = {0}, idx[N_TRACES] = {0}, m = 0;
        for (int64_t t = 0; t < N_TRACES; t++)
            if (steps(t) > 0) idx[m++] = t;
        rng_permutation(rng_key(rng_key(42, RNG_TAG_PACK), 1), n_kept, perm);
        int same = 1;
        for (int64_t i = 0; i < n_kept; i++) same &= ref[n_kept + i] == idx[perm[i]];
        EXPECT(same, "M %lld: epoch 1 is the (seed, 1) trace permutation", (long long)M);
        if (M == 0) {
            rng_permutation(rng_key(rng_key(42, RNG_TAG_PACK), 0), n_kept, perm);
            same = 1;
            for (int64_t i = 0; i < n_kept; i++) same &= ref[i] == idx[perm[i]];
            EXPECT(same, "no buffer: epoch 0 is the (seed, 0) trace permutation");
        }
        /* the steps of B = 16 and B = 2000 (more than all samples) */
        const int64_t Bs[] = {16, 2000};
        int64_t plan[2][12][3];
        for (int bi = 0; bi < 2; bi++) {
            int64_t at = 0;
            for (int64_t k = 0; k < 12; k++) {
                int64_t *q = plan[bi][k];
                EXPECT(tr_pack_step(&p, Bs[bi], k, &q[0], &q[1], &q[2]) == 0, "step %lld", (long long)k);
                EXPECT(q[0] == at && q[1] > q[0], "B %lld step %lld: contiguous traces [%lld, %lld)", (long long)Bs[bi],
                       (long long)k, (long long)q[0], (long long)q[1]);
                int64_t got = 0, last = 0;
                for (int64_t pos = q[0]; pos < q[1]; pos++) {
                    const int64_t j = tr_pack_trace_at(&p, pos);
                    last = p.first[j + 1] - p.first[j];
                    got += last;
                }
                const int64_t want = Bs[bi] < all ? Bs[bi] : all;
                EXPECT(got == q[2] && got >= want && got - last < want,
                       "B %lld step %lld: %lld samples (%lld counted) for %lld", (long long)Bs[bi], (long long)k,
                       (long long)q[2], (long long)got, (long long)want);
                at = q[1];
            }
        }
        /* other chunkings, a loaded file, and a fresh pack asked for step 9 first (a resume) */
        for (int v = 0; v < 4; v++) {
            tr_data d2;
            fake_feed f2;
            if (v < 3) stream(&d2, &f2, N_TRACES, v == 0 ? 3 : v == 1 ? 7 : 1000);
            else loaded(&d2, N_TRACES);
            tr_pack p2;
            tr_pack_init(&p2, &d2, 42, 1, M, S);
            int64_t q[3];
            EXPECT(tr_pack_step(&p2, 16, 9, &q[0], &q[1], &q[2]) == 0 && !memcmp(q, plan[0][9], sizeof q),
                   "M %lld variant %d: step 9 asked first is the same", (long long)M, v);
            int64_t *o = order(&p2, 3 * n_kept);
            EXPECT(memcmp(o, ref, (size_t)(3 * n_kept) * sizeof *o) == 0, "M %lld variant %d: the same trace order",
                   (long long)M, v);
            for (int64_t k = 0; k < 12; k++) {
                EXPECT(tr_pack_step(&p2, 16, k, &q[0], &q[1], &q[2]) == 0 && !memcmp(q, plan[0][k], sizeof q),
                       "M %lld variant %d: step %lld", (long long)M, v, (long long)k);
            }
            /* a trace's samples, ascending input length, whatever the row order */
            for (int64_t j = 0; j < p2.n_traces; j++)
                for (int64_t s = p2.first[j] + 1; s < p2.first[j + 1]; s++)
                    EXPECT(d2.in_len[p2.sample[s]] > d2.in_len[p2.sample[s - 1]] &&
                               d2.in_off[p2.sample[s]] == d2.in_off[p2.sample[s - 1]],
                           "variant %d trace %lld grouped", v, (long long)j);
            free(o);
            tr_pack_free(&p2);
            tr_data_free(&d2);
        }
        free(ref);
        tr_pack_free(&p);
        tr_data_free(&d);
    }
    /* shuffle off: trace order, epoch after epoch */
    {
        tr_data d;
        fake_feed f;
        stream(&d, &f, N_TRACES, 5);
        tr_pack p;
        tr_pack_init(&p, &d, 42, 0, 64, 16);
        int64_t *o = order(&p, 2 * n_kept);
        int ok = 1;
        for (int64_t i = 0, t = 0; i < 2 * n_kept; i++, t++) {
            while (steps(t % N_TRACES) == 0) t++;
            ok &= o[i] == t % N_TRACES;
        }
        EXPECT(ok, "shuffle off: the traces in arrival order");
        free(o);
        tr_pack_free(&p);
        tr_data_free(&d);
    }
    /* an empty stream (no trace selected a step) is an error, not a hang */
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        tr_data d;
        fake_feed f;
        stream(&d, &f, 0, 4);
        tr_pack p;
        tr_pack_init(&p, &d, 1, shuffle, 8, 2);
        int64_t q[3];
        EXPECT(tr_pack_trace_at(&p, 0) == -1, "no samples -> -1 (shuffle %d)", shuffle);
        EXPECT(tr_pack_step(&p, 16, 0, &q[0], &q[1], &q[2]) == -1, "no samples: no step (shuffle %d)", shuffle);
        tr_pack_free(&p);
        tr_data_free(&d);
    }
    return test_finish("test_train_pack_stream");
}
