/* The training ops (backend.h "Training ops") give the same bits on every
 * instruction-set path this CPU can run, with 1 and 2 threads: they are
 * compiled once per ISA beside their forwards (src/model/cpu/), so a sum
 * whose order followed the vector width would make training depend on the
 * CPU. Each op's result on a path is compared with the generic path's
 * (a path this CPU lacks is reported as skipped):
 *   - rmsnorm_backward against this file's reference of the order ops.c
 *     documents (4 fp64 lanes, the tail in lane 0), also on inputs whose
 *     dot product cancels to rounding noise, where a plain sequential sum
 *     gives other bits (checked: the cases can tell orders apart);
 *   - swiglu/rope/attention backward, dropout, kl_loss (loss and dz), the
 *     GEMM with every transpose and beta, add_cols/copy_cols/scale/
 *     scatter_rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/cpu_ops.h"
#include "test_util.h"

static uint64_t rng = 777;
static float frand(void) { /* [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}
static float *rnd(size_t n, float scale) {
    float *x = malloc(n * sizeof(float) + 64);
    for (size_t i = 0; i < n; i++) x[i] = frand() * scale;
    return x;
}
static float *dup(const float *x, size_t n) {
    float *y = malloc(n * sizeof(float) + 64);
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* A backend whose ops all come from one ISA table. */
static lr_backend *backend_for(const lr_cpu_isa *isa, int threads) { return lr_backend_cpu_new_isa(isa, threads); }

static int n_diff;
/* what on the path: bits equal to the generic path's (or to the reference). */
static void same(const char *what, const char *path, const void *a, const void *b, size_t bytes, int size) {
    const int ok = memcmp(a, b, bytes) == 0;
    if (!ok && n_diff++ < 10) printf("  %s path: %s differs (size %d)\n", path, what, size);
    EXPECT(ok, "%s on the %s path: the same bits", what, path);
}

/* rmsnorm_backward of one row in the order ops.c documents (seq = 0) or
 * with plain sequential sums (seq = 1). */
static void rms_bwd_ref(const float *x, const float *w, const float *dy, float *dx, int d, float eps, int seq) {
    double ps[4] = {0}, pd[4] = {0};
    for (int i = 0; i < d; i++) {
        const int l = seq || i >= d / 4 * 4 ? 0 : i % 4;
        ps[l] += (double)x[i] * x[i];
        pd[l] += (double)w[i] * dy[i] * x[i];
    }
    const double ss = 0.0 + ps[0] + ps[1] + ps[2] + ps[3], dot = 0.0 + pd[0] + pd[1] + pd[2] + pd[3];
    const float rstd = 1.0f / sqrtf((float)(ss / d) + eps);
    const float c = (float)(dot * (double)rstd * rstd * rstd / d);
    for (int i = 0; i < d; i++) dx[i] += rstd * w[i] * dy[i] - x[i] * c;
}

/* Row r of the adversarial case: x = w = 1, dy = n heavy-tailed values, their
 * negatives in another order, then z zeros (dx there is −c alone). */
static void cancelling(float *x, float *w, float *dy, int n, int z, int seed) {
    const int d = 2 * n + z;
    for (int i = 0; i < d; i++) x[i] = w[i] = 1.0f, dy[i] = 0.0f;
    for (int i = 0; i < n; i++) dy[i] = frand() * ldexpf(1.0f, (int)(rng >> 59) * 4);
    for (int i = 0; i < n; i++) dy[n + (i * 7 + seed) % n] = -dy[i];
}

static void test_rmsnorm(const lr_cpu_isa *isa, const char *path) {
    lr_backend *be = backend_for(isa, 2);
    int told = 0;
    for (int it = 0; it < 300; it++) {
        const int adv = it >= 100, M = adv ? 1 : 1 + it % 5;
        const int n = 3 + it % 41, z = 1 + it % 3, d = adv ? 2 * n + z : 1 + (it * 37) % 300;
        float *x = rnd((size_t)M * d, 2.0f), *w = rnd(d, 1.5f), *dy = rnd((size_t)M * d, 1.0f);
        if (adv) cancelling(x, w, dy, n, z, it);
        float *dx = rnd((size_t)M * d, 1.0f), *ref = dup(dx, (size_t)M * d), *sq = dup(dx, (size_t)M * d);
        be->rmsnorm_backward(be, x, w, dy, dx, M, d, 1e-6f);
        for (int r = 0; r < M; r++) {
            const size_t o = (size_t)r * d;
            rms_bwd_ref(x + o, w, dy + o, ref + o, d, 1e-6f, 0);
            rms_bwd_ref(x + o, w, dy + o, sq + o, d, 1e-6f, 1);
        }
        same("rmsnorm_backward vs the documented order", path, dx, ref, (size_t)M * d * sizeof(float), d);
        told += adv && memcmp(ref, sq, (size_t)d * sizeof(float)) != 0;
        free(x), free(w), free(dy), free(dx), free(ref), free(sq);
    }
    /* the cancelling cases tell a sequential sum from the 4-lane one */
    EXPECT(told >= 20, "cancelling rmsnorm cases distinguish summation orders (%d of 200)", told);
    lr_backend_destroy(be);
}

/* Every other op on `be` (an ISA path) and `g` (generic), same inputs. */
static void test_ops(lr_backend *be, lr_backend *g, const char *path) {
    for (int it = 0; it < 60; it++) {
        const int M = 1 + it % 6, d = 1 + (it * 29) % 200;
        /* swiglu backward */
        float *gu = rnd((size_t)M * 2 * d, 8.0f), *da = rnd((size_t)M * d, 1.0f);
        float *a = malloc((size_t)M * 2 * d * sizeof(float)), *b = malloc((size_t)M * 2 * d * sizeof(float));
        be->swiglu_backward(be, gu, da, a, M, d);
        g->swiglu_backward(g, gu, da, b, M, d);
        same("swiglu_backward", path, a, b, (size_t)M * 2 * d * sizeof(float), d);
        /* dropout (forward = backward) */
        uint64_t keys[6];
        for (int r = 0; r < M; r++) keys[r] = (uint64_t)it * 1000003u + (uint64_t)r;
        be->dropout(be, gu, 2 * d, a, d, M, d, keys, 0.1f);
        g->dropout(g, gu, 2 * d, b, d, M, d, keys, 0.1f);
        same("dropout", path, a, b, (size_t)M * d * sizeof(float), d);
        /* add_cols / copy_cols / scale / scatter_rows */
        float *y1 = rnd((size_t)M * 2 * d, 1.0f), *y2 = dup(y1, (size_t)M * 2 * d);
        be->add_cols(be, y1, 2 * d, gu, 2 * d, M, d);
        g->add_cols(g, y2, 2 * d, gu, 2 * d, M, d);
        be->scale(be, y1, (size_t)M * 2 * d, 0.37f);
        g->scale(g, y2, (size_t)M * 2 * d, 0.37f);
        be->copy_cols(be, y1 + d, 2 * d, da, d, M, d);
        g->copy_cols(g, y2 + d, 2 * d, da, d, M, d);
        int rows[6];
        for (int r = 0; r < M; r++) rows[r] = M - 1 - r; /* distinct */
        be->scatter_rows(be, da, d, rows, M, y1);
        g->scatter_rows(g, da, d, rows, M, y2);
        same("add_cols/scale/copy_cols/scatter_rows", path, y1, y2, (size_t)M * 2 * d * sizeof(float), d);
        /* kl_loss with its gradient */
        const int V = 5 + 3 * d;
        float *z = rnd((size_t)M * V, 8.0f), *z1 = malloc((size_t)M * V * sizeof(float)),
              *z2 = malloc((size_t)M * V * sizeof(float));
        int64_t off[7] = {0};
        int32_t ids[24];
        float lw[24];
        int nl = 0;
        for (int r = 0; r < M; r++) {
            const int k = 1 + r % 4;
            float s = 0.0f;
            for (int j = 0; j < k; j++, nl++) {
                ids[nl] = (r * 7 + j * 13) % V;
                lw[nl] = fabsf(frand()) + 0.05f;
                s += lw[nl];
            }
            for (int j = nl - k; j < nl; j++) lw[j] /= s;
            off[r + 1] = nl;
        }
        double l1[6], l2[6];
        be->kl_loss(be, z, M, V, off, ids, lw, 0.37, l1, z1);
        g->kl_loss(g, z, M, V, off, ids, lw, 0.37, l2, z2);
        same("kl_loss loss", path, l1, l2, (size_t)M * sizeof(double), V);
        same("kl_loss dz", path, z1, z2, (size_t)M * V * sizeof(float), V);
        /* rope backward on a (M, ld) view */
        const int hd = 2 * (1 + it % 16), nh = 1 + it % 3, ld = nh * hd + it % 5;
        float inv_freq[16];
        for (int i = 0; i < hd / 2; i++) inv_freq[i] = powf(10000.0f, -2.0f * (float)i / (float)hd);
        int32_t pos[6];
        for (int r = 0; r < M; r++) pos[r] = (it * 31 + r * 17) % 600;
        float *r1 = rnd((size_t)M * ld, 1.0f), *r2 = dup(r1, (size_t)M * ld);
        be->rope_backward(be, r1, ld, M, nh, hd, pos, inv_freq);
        g->rope_backward(g, r2, ld, M, nh, hd, pos, inv_freq);
        same("rope_backward", path, r1, r2, (size_t)M * ld * sizeof(float), hd);
        /* GEMM: every transpose, beta 0 and 1, K = 0 */
        const int gm = 1 + it % 40, gn = 1 + (it * 7) % 90, gk = (it * 11) % 70, ta = it & 1, tb = (it >> 1) & 1;
        const float beta = it % 3 ? 1.0f : 0.0f;
        float *A = rnd((size_t)gm * gk + 1, 1.0f), *B = rnd((size_t)gn * gk + 1, 1.0f);
        float *c1 = rnd((size_t)gm * gn, 1.0f), *c2 = dup(c1, (size_t)gm * gn);
        be->gemm(be, ta, tb, gm, gn, gk, 0.7f, A, ta ? gm : gk, B, tb ? gk : gn, beta, c1, gn);
        g->gemm(g, ta, tb, gm, gn, gk, 0.7f, A, ta ? gm : gk, B, tb ? gk : gn, beta, c2, gn);
        same("gemm", path, c1, c2, (size_t)gm * gn * sizeof(float), gk);
        free(gu), free(da), free(a), free(b), free(y1), free(y2), free(z), free(z1), free(z2), free(r1), free(r2);
        free(A), free(B), free(c1), free(c2);
    }
    /* attention backward: two sequences, GQA and MHA, strided views */
    for (int it = 0; it < 12; it++) {
        const int nh = 4, nkv = it & 1 ? 2 : 4, hd = 8 + 8 * (it % 3), L0 = 3 + it * 5, L1 = 1 + it * 3, T = L0 + L1;
        const int ldq = nh * hd + 3, ldkv = nkv * hd + 1, ldd = nh * hd;
        float *q = rnd((size_t)T * ldq, 1.0f), *k = rnd((size_t)T * ldkv, 1.0f), *v = rnd((size_t)T * ldkv, 1.0f);
        float *dout = rnd((size_t)T * nh * hd, 1.0f);
        float *o1 = calloc((size_t)3 * T * ldd, sizeof(float)), *o2 = calloc((size_t)3 * T * ldd, sizeof(float));
        const int q_off[3] = {0, L0, T}, n_past[2] = {0, 0};
        const int64_t kv_row[2] = {0, L0};
        const lr_attn_batch bt = {2, q_off, n_past, kv_row, LR_F32};
        const size_t n = (size_t)T * ldd;
        be->attention_backward(be, q, ldq, k, v, ldkv, dout, o1, o1 + n, o1 + 2 * n, ldd, nh, nkv, hd, 0.3f, &bt);
        g->attention_backward(g, q, ldq, k, v, ldkv, dout, o2, o2 + n, o2 + 2 * n, ldd, nh, nkv, hd, 0.3f, &bt);
        same("attention_backward dq/dk/dv", path, o1, o2, 3 * n * sizeof(float), T);
        free(q), free(k), free(v), free(dout), free(o1), free(o2);
    }
}

int main(void) {
    const struct {
        const char *name;
        const lr_cpu_isa *isa;
    } paths[] = {
        {"generic", &lr_cpu_isa_generic},
#if defined(__x86_64__)
        {"avx2", &lr_cpu_isa_avx2},
        {"avx512", &lr_cpu_isa_avx512},
#endif
    };
    lr_backend *g = backend_for(&lr_cpu_isa_generic, 1);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!lr_cpu_isa_available(paths[i].name)) {
            printf("SKIPPED: the %s path (this CPU lacks it)\n", paths[i].name);
            continue;
        }
        printf("testing the %s path\n", paths[i].name);
        test_rmsnorm(paths[i].isa, paths[i].name);
        for (int t = 1; t <= 2; t++) {
            lr_backend *be = backend_for(paths[i].isa, t);
            const uint64_t seed = rng;
            test_ops(be, g, paths[i].name);
            rng = seed; /* the same inputs for each thread count */
            lr_backend_destroy(be);
        }
    }
    lr_backend_destroy(g);
    return test_finish("test_train_ops_isa");
}
