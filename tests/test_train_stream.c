/* The trainer's streaming data order (train_data.h): samples arrive in
 * chunks while training runs and the first epoch is drawn through a
 * shuffle buffer. Checked here on the order alone (a feed that only
 * announces samples):
 *   - every epoch is a permutation of all samples;
 *   - the order does not depend on how the samples are chunked (so not on
 *     timing or on the number of scorer ranks);
 *   - draw k never needs more than min(M + k, S + 2k) samples (the start
 *     threshold and the buffer growth are honoured: training starts early);
 *   - without a buffer the order is the file-mode permutation (`sample`
 *     then `train`), and later epochs are those permutations too. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "trainer/rng.h"
#include "trainer/train_data.h"

typedef struct {
    int64_t total, chunk, calls;
} fake_feed;

static int feed(void *ctx, tr_data *d) {
    fake_feed *f = ctx;
    if (d->n >= f->total) return 1;
    d->n = d->n + f->chunk < f->total ? d->n + f->chunk : f->total;
    f->calls++;
    return 0;
}

/* The first 3 epochs of a stream of `total` samples in chunks of `chunk`. */
static int64_t *order(int64_t total, int64_t chunk, int64_t M, int64_t S, int check_lazy) {
    tr_data d;
    fake_feed f = {total, chunk, 0};
    tr_data_stream_init(&d, 100, 512, feed, &f);
    tr_data_set_order(&d, 42, 1);
    tr_data_set_buffer(&d, M, S);
    int64_t *o = malloc((size_t)(3 * total) * sizeof *o);
    for (int64_t k = 0; k < 3 * total; k++) {
        o[k] = tr_data_at(&d, k);
        if (check_lazy && M > 0 && k < total) {
            int64_t need = M + k < S + 2 * k ? M + k : S + 2 * k;
            EXPECT(d.n < need + chunk || d.n == total, "draw %lld loaded %lld samples, needs %lld (chunk %lld)",
                   (long long)k, (long long)d.n, (long long)need, (long long)chunk);
        }
    }
    tr_data_free(&d);
    return o;
}

static int is_perm(const int64_t *o, int64_t n) {
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        if (o[i] < 0 || o[i] >= n || seen[o[i]]) ok = 0;
        else seen[o[i]] = 1;
    }
    free(seen);
    return ok;
}

int main(void) {
    const int64_t sizes[][3] = {{100, 32, 8}, {100, 16, 16}, {37, 64, 4}, {500, 64, 1}, {1, 8, 2}};
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        const int64_t n = sizes[c][0], M = sizes[c][1], S = sizes[c][2];
        int64_t *ref = order(n, 1, M, S, 1);
        for (int e = 0; e < 3; e++) EXPECT(is_perm(ref + e * n, n), "n %lld: epoch %d is a permutation", (long long)n, e);
        if (n > 8) EXPECT(memcmp(ref, ref + n, (size_t)n * sizeof *ref) != 0, "epochs differ");
        const int64_t chunks[] = {3, 7, 31, 1000};
        for (size_t k = 0; k < 4; k++) {
            int64_t *o = order(n, chunks[k], M, S, 1);
            EXPECT(memcmp(o, ref, (size_t)(3 * n) * sizeof *o) == 0, "n %lld M %lld S %lld: chunks of %lld change the order",
                   (long long)n, (long long)M, (long long)S, (long long)chunks[k]);
            free(o);
        }
        /* the first draws come from the first samples only */
        if (n >= 100) EXPECT(ref[0] < S, "first draw %lld from the first %lld samples", (long long)ref[0], (long long)S);
        /* later epochs: the file-mode permutations of (seed, epoch) */
        int64_t *perm = malloc((size_t)n * sizeof *perm);
        rng_permutation(rng_key(rng_key(42, RNG_TAG_SHUFFLE), 1), n, perm);
        EXPECT(memcmp(perm, ref + n, (size_t)n * sizeof *perm) == 0, "epoch 1 is the (seed, 1) permutation");
        /* no buffer: epoch 0 is the file-mode permutation too */
        int64_t *o0 = order(n, 7, 0, 0, 0);
        rng_permutation(rng_key(rng_key(42, RNG_TAG_SHUFFLE), 0), n, perm);
        EXPECT(memcmp(perm, o0, (size_t)n * sizeof *perm) == 0, "no buffer = full permutation of epoch 0");
        free(o0);
        free(perm);
        free(ref);
    }
    /* an empty stream is an error, not a hang or a crash */
    tr_data d;
    fake_feed f = {0, 4, 0};
    tr_data_stream_init(&d, 100, 512, feed, &f);
    tr_data_set_order(&d, 1, 1);
    tr_data_set_buffer(&d, 8, 2);
    EXPECT(tr_data_at(&d, 0) == -1, "no samples -> -1");
    tr_data_free(&d);
    return test_finish("test_train_stream");
}
