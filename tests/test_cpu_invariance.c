/* Batch invariance of the CPU kernels, on every instruction-set path this
 * CPU can run (a path it cannot run is reported as skipped):
 *   - matmul: every output element is exactly one fp32 fma chain over k
 *     in order, then + bias, then + y (the portable path multiplies and
 *     adds), so the AVX2 and AVX-512 paths agree bit for bit; and it is
 *     bit-identical whether its row is
 *     computed alone or among M rows, whatever slice of weight rows is
 *     asked for, with 1 or 2 threads, with or without bias/accumulate,
 *     for K with and without a vector tail; and within 1e-6 (relative to
 *     Σ|x||w|) of an fp64 reference; bf16 weights give exactly the bits
 *     of the same weights widened to fp32;
 *   - attention: a sequence's output is bit-identical alone or packed
 *     with others, prefill and decode, with 1 or 2 threads;
 *   - rmsnorm / log-softmax: a row's result does not depend on the other
 *     rows, the thread count or the row's alignment. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/cpu_ops.h"
#include "test_util.h"

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}
static float *rnd(size_t n) {
    float *x = malloc(n * sizeof(float) + 64);
    for (size_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

/* w rounded to bf16 in place (fp32 values bf16 can hold exactly) and the
 * raw bf16 copy. */
static uint16_t *to_bf16(float *w, size_t n) {
    uint16_t *b = malloc(n * sizeof *b + 64);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], 4);
        u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
        b[i] = (uint16_t)(u >> 16);
        u = (uint32_t)b[i] << 16;
        memcpy(&w[i], &u, 4);
    }
    return b;
}

/* A backend whose ops all come from one ISA table. */
static lr_backend *backend_for(const lr_cpu_isa *isa, int threads) { return lr_backend_cpu_new_isa(isa, threads); }

static void test_matmul(const lr_cpu_isa *isa) {
    /* K up to 3001: long rows whose m-block holds few rows */
    const int Ks[] = {1, 7, 16, 37, 64, 200, 515, 1500, 3001}, Ns[] = {1, 3, 5, 33, 130}, M = 23;
    lr_backend *b1 = backend_for(isa, 1), *b2 = backend_for(isa, 2), *bs = backend_for(isa, 2);
    /* the smallest m-blocks (one micro-tile of rows): blocking never changes bits */
    ((lr_cpu_ctx *)bs->ctx)->x_block_bytes = 1;
    for (int ki = 0; ki < 9; ki++)
        for (int ni = 0; ni < 5; ni++)
            for (int mode = 0; mode < 4; mode++) {
                const int K = Ks[ki], N = Ns[ni], acc = mode & 1, ldx = K + 3, ldy = N + 5;
                float *x = rnd((size_t)M * ldx), *wf = rnd((size_t)N * K), *bias = (mode & 2) ? rnd(N) : NULL;
                uint16_t *wb = to_bf16(wf, (size_t)N * K);
                const lr_weight w = lr_weight_f32(wf), w16 = {wb, LR_BF16};
                float *y0 = rnd((size_t)M * ldy); /* initial y for accumulate */
                float *ref = malloc((size_t)M * ldy * sizeof(float)), *y = malloc((size_t)M * ldy * sizeof(float));
                /* reference: each row alone, one thread */
                memcpy(ref, y0, (size_t)M * ldy * sizeof(float));
                for (int m = 0; m < M; m++)
                    b1->matmul(b1, x + (size_t)m * ldx, ldx, w, bias, ref + (size_t)m * ldy, ldy, 1, N, K, acc);
                int bad = 0;
                double worst = 0;
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        double s = 0, sa = 0;
                        for (int k = 0; k < K; k++) {
                            s += (double)x[(size_t)m * ldx + k] * wf[(size_t)n * K + k];
                            sa += fabs((double)x[(size_t)m * ldx + k] * wf[(size_t)n * K + k]);
                        }
                        if (bias) s += bias[n], sa += fabs(bias[n]);
                        if (acc) s += y0[(size_t)m * ldy + n], sa += fabs(y0[(size_t)m * ldy + n]);
                        const double e = fabs(s - ref[(size_t)m * ldy + n]) / (sa + 1e-30);
                        if (e > worst) worst = e;
                    }
                EXPECT(worst <= 1e-6, "%s K=%d N=%d mode %d: error %.2e vs fp64", isa->name, K, N, mode, worst);
                /* the contract element by element, bit for bit (gemm.c): one fma chain over k in
                 * order from 0 (the portable path: multiply, round, add), then + bias, then
                 * + y_old; so the AVX2 and AVX-512 paths give the same bits */
                const int fused = strcmp(isa->name, "generic") != 0;
                int off = 0;
                for (int m = 0; m < 4; m++)
                    for (int n = 0; n < N; n++) {
                        float s = 0.0f;
                        for (int k = 0; k < K; k++) {
                            const float a = x[(size_t)m * ldx + k], b = wf[(size_t)n * K + k];
                            if (fused) {
                                s = fmaf(a, b, s);
                            } else {
                                const float p = a * b;
                                s = p + s;
                            }
                        }
                        if (bias) s = s + bias[n];
                        if (acc) s = y0[(size_t)m * ldy + n] + s;
                        off += memcmp(&s, &ref[(size_t)m * ldy + n], 4) != 0;
                    }
                EXPECT(off == 0, "%s K=%d N=%d mode %d: %d elements are not the sequential %s chain", isa->name, K, N,
                       mode, off, fused ? "fma" : "multiply-add");
                /* all rows at once, row blocks, weight-row slices, 1 and 2 threads, small m-blocks */
                lr_backend *bes[3] = {b1, b2, bs};
                for (int t = 0; t < 3; t++) {
                    lr_backend *be = bes[t];
                    memcpy(y, y0, (size_t)M * ldy * sizeof(float));
                    be->matmul(be, x, ldx, w, bias, y, ldy, M, N, K, acc);
                    for (size_t i = 0; i < (size_t)M * ldy; i++) bad += memcmp(&y[i], &ref[i], 4) != 0;
                    memcpy(y, y0, (size_t)M * ldy * sizeof(float));
                    for (int m0 = 0; m0 < M; m0 += 5) { /* blocks of 5 rows, weight rows in 2 slices */
                        const int mm = M - m0 < 5 ? M - m0 : 5, n1 = N / 2 + 1 > N ? N : N / 2 + 1;
                        be->matmul(be, x + (size_t)m0 * ldx, ldx, w, bias, y + (size_t)m0 * ldy, ldy, mm, n1, K, acc);
                        if (n1 < N)
                            be->matmul(be, x + (size_t)m0 * ldx, ldx, lr_weight_at(w, (size_t)n1 * K),
                                       bias ? bias + n1 : NULL, y + (size_t)m0 * ldy + n1, ldy, mm, N - n1, K, acc);
                    }
                    for (size_t i = 0; i < (size_t)M * ldy; i++) bad += memcmp(&y[i], &ref[i], 4) != 0;
                    /* bf16 weights: the bits of their fp32 widening */
                    memcpy(y, y0, (size_t)M * ldy * sizeof(float));
                    be->matmul(be, x, ldx, w16, bias, y, ldy, M, N, K, acc);
                    for (size_t i = 0; i < (size_t)M * ldy; i++) bad += memcmp(&y[i], &ref[i], 4) != 0;
                }
                /* a misaligned copy of x gives the same bits */
                float *xm = malloc(((size_t)M * ldx + 1) * sizeof(float));
                memcpy(xm + 1, x, (size_t)M * ldx * sizeof(float));
                memcpy(y, y0, (size_t)M * ldy * sizeof(float));
                b2->matmul(b2, xm + 1, ldx, w, bias, y, ldy, M, N, K, acc);
                for (size_t i = 0; i < (size_t)M * ldy; i++) bad += memcmp(&y[i], &ref[i], 4) != 0;
                EXPECT(bad == 0, "%s K=%d N=%d mode %d: %d elements differ from the row-alone result", isa->name, K, N,
                       mode, bad);
                free(xm);
                free(x);
                free(wf);
                free(wb);
                free(bias);
                free(y0);
                free(ref);
                free(y);
            }
    /* larger shapes that cross the kernels' m-blocks, k-blocks, weight panels, blocks of
     * weight rows and thread splits (small blocks: one micro-tile of rows per m-block; the
     * last shape: several m-blocks and blocks of weight rows, a partial panel, at default
     * blocks too); fp32 and bf16 weights, bias + accumulate */
    const int bigK[] = {896, 4864, 300}, bigN[] = {260, 160, 1100}, bigM[] = {150, 150, 1030};
    for (int i = 0; i < 3; i++) {
        const int K = bigK[i], N = bigN[i], MM = bigM[i];
        float *x = rnd((size_t)MM * K), *w = rnd((size_t)N * K), *bias = rnd(N), *y0 = rnd((size_t)MM * N);
        uint16_t *wb = to_bf16(w, (size_t)N * K); /* w now holds the widened bf16 values */
        const lr_weight w16 = {wb, LR_BF16};
        const size_t bytes = (size_t)MM * N * sizeof(float);
        float *ya = malloc(bytes), *yb = malloc(bytes);
        memcpy(yb, y0, bytes);
        for (int m = 0; m < MM; m++)
            b1->matmul(b1, x + (size_t)m * K, K, lr_weight_f32(w), bias, yb + (size_t)m * N, N, 1, N, K, 1);
        lr_backend *bes[3] = {b1, b2, bs};
        const char *names[3] = {"1 thread", "2 threads", "small blocks"};
        for (int t = 0; t < 3; t++) {
            memcpy(ya, y0, bytes);
            bes[t]->matmul(bes[t], x, K, lr_weight_f32(w), bias, ya, N, MM, N, K, 1);
            EXPECT(!memcmp(ya, yb, bytes), "%s: M=%d K=%d %s != rows alone", isa->name, MM, K, names[t]);
            memcpy(ya, y0, bytes);
            bes[t]->matmul(bes[t], x, K, w16, bias, ya, N, MM, N, K, 1);
            EXPECT(!memcmp(ya, yb, bytes), "%s: M=%d K=%d %s, bf16 weights != rows alone", isa->name, MM, K, names[t]);
        }
        free(x);
        free(w);
        free(wb);
        free(bias);
        free(y0);
        free(ya);
        free(yb);
    }
    lr_backend_destroy(b1);
    lr_backend_destroy(b2);
    lr_backend_destroy(bs);
}

static void test_rows(const lr_cpu_isa *isa) {
    lr_backend *b1 = backend_for(isa, 1), *b2 = backend_for(isa, 2);
    const int M = 9, d = 1003;
    float *x = rnd((size_t)M * d + 1), *w = rnd(d);
    float *ya = malloc(((size_t)M * d + 1) * sizeof(float)), *yb = malloc(((size_t)M * d + 1) * sizeof(float));
    b2->rmsnorm(b2, x, w, ya, M, d, 1e-6f);
    int bad = 0;
    for (int m = 0; m < M; m++) {
        b1->rmsnorm(b1, x + (size_t)m * d + 1 - 1, w, yb, 1, d, 1e-6f); /* alone */
        bad += memcmp(yb, ya + (size_t)m * d, (size_t)d * 4) != 0;
    }
    EXPECT(bad == 0, "%s rmsnorm: %d rows differ alone vs batched", isa->name, bad);
    /* alignment: the same row one float further on */
    memmove(x + 1, x, (size_t)d * sizeof(float));
    b1->rmsnorm(b1, x + 1, w, yb, 1, d, 1e-6f);
    EXPECT(!memcmp(yb, ya, (size_t)d * 4), "%s rmsnorm depends on alignment", isa->name);
    memmove(x, x + 1, (size_t)d * sizeof(float));
    const int V = 70001;
    float *z = rnd((size_t)3 * V + 1), *la = malloc((size_t)3 * V * 4), *lb = malloc(((size_t)V + 1) * 4);
    b2->log_softmax(b2, z, la, 3, V);
    for (int m = 0; m < 3; m++) {
        memcpy(lb + 1, z + (size_t)m * V, (size_t)V * 4);
        b1->log_softmax(b1, lb + 1, lb + 1, 1, V);
        EXPECT(!memcmp(lb + 1, la + (size_t)m * V, (size_t)V * 4), "%s log_softmax row %d alone != batched", isa->name,
               m);
    }
    free(z);
    free(la);
    free(lb);
    free(x);
    free(w);
    free(ya);
    free(yb);
    lr_backend_destroy(b1);
    lr_backend_destroy(b2);
}

/* Attention: three sequences (prefill 40 tokens, prefill 5, decode 1 after
 * 30 cached) alone and packed, 1 and 2 threads. */
static void test_attention(const lr_cpu_isa *isa) {
    const int nh = 4, nkv = 2, hd = 24, qd = nh * hd, kd = nkv * hd;
    const int nn[3] = {40, 5, 1}, past[3] = {0, 0, 30};
    int q_off[4] = {0}, kv_rows = 0;
    int64_t kv_row[3];
    for (int s = 0; s < 3; s++) {
        q_off[s + 1] = q_off[s] + nn[s];
        kv_row[s] = kv_rows;
        kv_rows += past[s] + nn[s];
    }
    const int T = q_off[3];
    float *q = rnd((size_t)T * qd), *k = rnd((size_t)kv_rows * kd), *v = rnd((size_t)kv_rows * kd);
    float *oa = malloc((size_t)T * qd * 4), *ob = malloc((size_t)T * qd * 4);
    lr_backend *b1 = backend_for(isa, 1), *b2 = backend_for(isa, 2);
    const lr_attn_batch all = {3, q_off, past, kv_row, LR_F32};
    b2->attention(b2, q, qd, k, v, kd, oa, nh, nkv, hd, 0.2f, &all);
    for (int s = 0; s < 3; s++) {
        const int qo[2] = {0, nn[s]};
        const lr_attn_batch one = {1, qo, &past[s], &kv_row[s], LR_F32};
        b1->attention(b1, q + (size_t)q_off[s] * qd, qd, k, v, kd, ob, nh, nkv, hd, 0.2f, &one);
        EXPECT(!memcmp(ob, oa + (size_t)q_off[s] * qd, (size_t)nn[s] * qd * 4),
               "%s attention: sequence %d alone != packed", isa->name, s);
    }
    free(q);
    free(k);
    free(v);
    free(oa);
    free(ob);
    lr_backend_destroy(b1);
    lr_backend_destroy(b2);
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
    int ran = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!lr_cpu_isa_available(paths[i].name)) {
            printf("SKIPPED: the %s path (this CPU lacks it)\n", paths[i].name);
            continue;
        }
        printf("testing the %s path\n", paths[i].name);
        test_matmul(paths[i].isa);
        test_rows(paths[i].isa);
        test_attention(paths[i].isa);
        ran++;
    }
    EXPECT(ran >= 1, "no ISA path ran");
    printf("process path: %s\n", lr_cpu_isa_name());
    return test_finish("test_cpu_invariance");
}
