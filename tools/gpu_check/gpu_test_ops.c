/* Every inference op of the device under test against the CPU backend on
 * random inputs (gpu_test ops). Tolerances, per output element:
 *   embed, gather_rows, kv_store, add: exact (copies / one fp32 add);
 *   matmul: |d| <= 1e-4 * sum_k |x_k w_k| + 1e-6 (fp32 accumulation in
 *     another order; bf16 weights are checked against the CPU's bf16
 *     emulation, which rounds x to bf16 as the GPU does, so both sum the
 *     same exact products);
 *   rmsnorm, swiglu: |d| <= 1e-5 * |ref| + 1e-6 (one rsqrt / exp apart);
 *   rope: |d| <= 1e-5 * max|x| (sincos within a few ulp);
 *   attention: |d| <= 1e-4 * max|v| (fp32 online softmax vs two-pass);
 *   log_softmax: |d| <= 1e-5 * (1 + |ref|).
 * Shapes include strided column slices (ldx > K, ldy > N, pointers not
 * 16-byte aligned), GQA groups, ragged batches with and without a cache,
 * and contexts longer than one attention tile. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

static unsigned long long g_seed = 12345;

static float *rnd(size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * gt_uniform(&g_seed);
    return p;
}

static uint16_t to_bf16_bits(float x) {
    float r = lr_round_bf16(x);
    uint32_t u;
    memcpy(&u, &r, 4);
    return (uint16_t)(u >> 16);
}

static float bf16_value(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Backend copy of n bytes of host data. */
static void *put(lr_backend *be, const void *h, size_t bytes) {
    void *d = be->alloc(be, bytes);
    be->upload(be, d, h, bytes);
    return d;
}

static float *get(lr_backend *be, const float *d, size_t n) {
    float *h = malloc(n * sizeof *h);
    be->download(be, h, d, n * sizeof *h);
    return h;
}

/* max over i of |a_i - b_i| / bound_i; <= 1 passes */
static double worst_ratio(const float *a, const float *b, const double *bound, size_t n, size_t *at) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - (double)b[i]) / bound[i];
        if (!(r <= w)) { /* NaN counts as worst */
            w = isnan(r) ? INFINITY : r;
            *at = i;
        }
    }
    return w;
}

static void check_close(gt_report *r, const char *name, const float *ref, const float *dut, const double *bound,
                        size_t n) {
    size_t at = 0;
    const double w = worst_ratio(ref, dut, bound, n, &at);
    gt_check(r, name, w <= 1.0, "\"worst_err_over_tol\": %.3g, \"at\": %zu, \"ref\": %.9g, \"dut\": %.9g", w, at,
             n ? ref[at] : 0.0, n ? dut[at] : 0.0);
}

/* ---- matmul; strided 1: views at unaligned column offsets and strides, 2: at 16-byte aligned ones */
static void test_matmul(gt_report *r, lr_backend *cpu, lr_backend *emu, lr_backend *dut, lr_dtype dt, int M, int N,
                        int K, int bias, int acc, int strided, const char *tag) {
    const int offx = strided == 1 ? 3 : strided ? 4 : 0, offy = strided == 1 ? 5 : strided ? 4 : 0;
    const int ldx = K + (strided == 1 ? 9 : strided ? 8 : 0), ldy = N + (strided == 1 ? 7 : strided ? 8 : 0);
    float *x = rnd((size_t)M * ldx, 1.0f), *w32 = rnd((size_t)N * K, 0.05f), *b = rnd((size_t)N, 0.5f);
    float *y0 = rnd((size_t)M * ldy, 1.0f);
    uint16_t *w16 = malloc((size_t)N * K * sizeof *w16);
    for (size_t i = 0; i < (size_t)N * K; i++) {
        w16[i] = to_bf16_bits(w32[i]);
        if (dt == LR_BF16) w32[i] = bf16_value(w16[i]); /* the bound below uses the weights' values */
    }
    lr_backend *ref = dt == LR_BF16 ? emu : cpu;
    lr_backend *bes[2] = {ref, dut};
    float *out[2];
    const int offb = strided == 1; /* unaligned views: the bias too (CUDA: added by a kernel, not the epilogue) */
    float *bo = calloc((size_t)N + 1, sizeof *bo);
    memcpy(bo + offb, b, (size_t)N * sizeof *b);
    for (int i = 0; i < 2; i++) {
        lr_backend *be = bes[i];
        float *dx = put(be, x, (size_t)M * ldx * 4), *dy = put(be, y0, (size_t)M * ldy * 4);
        float *db = bias ? put(be, bo, (size_t)(N + 1) * 4) : NULL;
        void *dw = dt == LR_BF16 ? put(be, w16, (size_t)N * K * 2) : put(be, w32, (size_t)N * K * 4);
        lr_weight w = {dw, dt};
        be->matmul(be, dx + offx, ldx, w, db ? db + offb : NULL, dy + offy, ldy, M, N, K, acc);
        out[i] = get(be, dy, (size_t)M * ldy);
        be->free(be, dx), be->free(be, dy), be->free(be, dw);
        if (db) be->free(be, db);
    }
    double *bound = malloc((size_t)M * ldy * sizeof *bound);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < ldy; c++) {
            double s = 0;
            const int n = c - offy;
            if (n >= 0 && n < N) {
                for (int k = 0; k < K; k++) {
                    const float xv = dt == LR_BF16 ? lr_round_bf16(x[(size_t)m * ldx + offx + k])
                                                   : x[(size_t)m * ldx + offx + k];
                    s += fabs((double)xv * w32[(size_t)n * K + k]);
                }
                if (bias) s += fabs(b[n]);
                if (acc) s += fabs(y0[(size_t)m * ldy + c]);
            }
            bound[(size_t)m * ldy + c] = 1e-4 * s + 1e-6; /* columns outside [offy, offy+N) must stay exact */
        }
    char name[128];
    snprintf(name, sizeof name, "matmul %s M=%d N=%d K=%d%s%s%s%s", dt == LR_BF16 ? "bf16" : "f32", M, N, K,
             bias ? " bias" : "", acc ? " acc" : "", strided == 1 ? " strided" : strided ? " aligned-strided" : "", tag);
    check_close(r, name, out[0], out[1], bound, (size_t)M * ldy);
    free(x), free(w32), free(b), free(bo), free(y0), free(w16), free(bound), free(out[0]), free(out[1]);
}

/* rmsnorm then, right after, a bf16 matmul of its output (M <= 4: CUDA's
 * GEMV reading the bf16 copy the norm wrote), against the bf16 emulation. */
static void test_norm_gemv(gt_report *r, lr_backend *emu, lr_backend *dut, int M, int N, int K) {
    float *x = rnd((size_t)M * K, 1.0f), *nw = rnd((size_t)K, 1.0f), *w32 = rnd((size_t)N * K, 0.05f), *out[2];
    uint16_t *w16 = malloc((size_t)N * K * sizeof *w16);
    for (size_t i = 0; i < (size_t)N * K; i++) w16[i] = to_bf16_bits(w32[i]), w32[i] = bf16_value(w16[i]);
    lr_backend *bes[2] = {emu, dut};
    for (int i = 0; i < 2; i++) {
        lr_backend *be = bes[i];
        float *dx = put(be, x, (size_t)M * K * 4), *dnw = put(be, nw, (size_t)K * 4), *dh = be->alloc(be, (size_t)M * K * 4);
        float *dy = be->alloc(be, (size_t)M * N * 4);
        void *dw = put(be, w16, (size_t)N * K * 2);
        for (int pass = 0; pass < 2; pass++) { /* the first bf16 matmul has the norms write copies from then on */
            be->rmsnorm(be, dx, dnw, dh, M, K, 1e-6f);
            be->matmul(be, dh, K, (lr_weight){dw, LR_BF16}, NULL, dy, N, M, N, K, 0);
        }
        out[i] = get(be, dy, (size_t)M * N);
        be->free(be, dx), be->free(be, dnw), be->free(be, dh), be->free(be, dy), be->free(be, dw);
    }
    /* bound: 1e-4 of sum |h w| with |h| from the reference's own norm (rms 1 rows: |h_k| <= |nw_k| |x_k| / rms) */
    double *bound = malloc((size_t)M * N * sizeof *bound);
    for (int m = 0; m < M; m++) {
        double ss = 0;
        for (int k = 0; k < K; k++) ss += (double)x[(size_t)m * K + k] * x[(size_t)m * K + k];
        const double inv = 1.0 / sqrt(ss / K + 1e-6);
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += fabs(nw[k] * x[(size_t)m * K + k] * inv * w32[(size_t)n * K + k]);
            bound[(size_t)m * N + n] = 1e-4 * s + 1e-6;
        }
    }
    char name[96];
    snprintf(name, sizeof name, "rmsnorm -> matmul bf16 M=%d N=%d K=%d (fused copy, gemv)", M, N, K);
    check_close(r, name, out[0], out[1], bound, (size_t)M * N);
    free(x), free(nw), free(w32), free(w16), free(out[0]), free(out[1]), free(bound);
}

/* ---- attention: a ragged batch over K/V rows */
/* force: NULL, or "rows" / "tiles" / "decode" / "tc" (LR_CUDA_ATTENTION: the CUDA backend's
 * kernel for this call; cuda_attention.cu picks one by the batch's shape) */
static int g_kv16; /* 1: the cache is bf16 for the device (K / V rounded to bf16 values for the reference) */
static void test_attention(gt_report *r, lr_backend *cpu, lr_backend *emu, lr_backend *dut, int n_heads, int n_kv,
                           int hd, int n_seq, const int *n_new, const int *n_past, int cached, const char *force) {
    /* the tensor-core kernel rounds q, k, v to bf16 (as the bf16 emulation
     * does) and the probabilities too: against the emulation, within
     * 2^-9 sum_j p_j |v_j| <= 2^-9 max|v| and some slack */
    const int tc = force && !strcmp(force, "tc");
    if (tc) cpu = emu;
    int T = 0, q_off[9], kv_rows = 0;
    int64_t kv_row[8];
    q_off[0] = 0;
    for (int s = 0; s < n_seq; s++) {
        q_off[s + 1] = q_off[s] + n_new[s];
        T += n_new[s];
    }
    const int qd = n_heads * hd, kvd = n_kv * hd;
    int ldq, ldkv;
    if (cached) { /* K/V in a cache: each sequence a block of past + new rows, 11 spare rows apart */
        for (int s = 0; s < n_seq; s++) {
            kv_row[s] = kv_rows;
            kv_rows += n_past[s] + n_new[s] + 11;
        }
        ldq = qd + 2 * kvd, ldkv = kvd;
    } else { /* k, v are column slices of the packed qkv rows */
        for (int s = 0; s < n_seq; s++) kv_row[s] = q_off[s];
        kv_rows = T, ldq = qd + 2 * kvd, ldkv = ldq;
    }
    float *q = rnd((size_t)T * ldq, 1.0f);
    float *k = cached ? rnd((size_t)kv_rows * kvd, 1.0f) : NULL, *v = cached ? rnd((size_t)kv_rows * kvd, 1.0f) : NULL;
    const int kv16 = g_kv16 && cached;
    uint16_t *k16 = NULL, *v16 = NULL;
    if (kv16) { /* the device reads bf16 rows; the reference their exact values */
        k16 = malloc((size_t)kv_rows * kvd * 2), v16 = malloc((size_t)kv_rows * kvd * 2);
        for (size_t i = 0; i < (size_t)kv_rows * kvd; i++) {
            k16[i] = to_bf16_bits(k[i]), k[i] = bf16_value(k16[i]);
            v16[i] = to_bf16_bits(v[i]), v[i] = bf16_value(v16[i]);
        }
    }
    lr_attn_batch ab = {.n_seq = n_seq, .q_off = q_off, .n_past = n_past, .kv_row = kv_row};
    lr_backend *bes[2] = {cpu, dut};
    float *out[2];
    for (int i = 0; i < 2; i++) {
        lr_backend *be = bes[i];
        float *dq = put(be, q, (size_t)T * ldq * 4), *dout = be->alloc(be, (size_t)T * qd * 4);
        void *dk, *dv;
        lr_attn_batch bi = ab;
        if (kv16 && be == dut) {
            dk = put(be, k16, (size_t)kv_rows * kvd * 2), dv = put(be, v16, (size_t)kv_rows * kvd * 2);
            bi.kv_dtype = LR_BF16;
        } else if (cached) {
            dk = put(be, k, (size_t)kv_rows * kvd * 4), dv = put(be, v, (size_t)kv_rows * kvd * 4);
        } else {
            dk = dq + qd, dv = dq + qd + kvd;
        }
        gt_env e = {NULL, NULL};
        if (force && be == dut) e = gt_env_set("LR_CUDA_ATTENTION", force);
        be->attention(be, dq, ldq, dk, dv, ldkv, dout, n_heads, n_kv, hd, 1.0f / sqrtf((float)hd), &bi);
        gt_env_restore(e);
        out[i] = get(be, dout, (size_t)T * qd);
        be->free(be, dq), be->free(be, dout);
        if (cached) be->free(be, dk), be->free(be, dv);
    }
    double *bound = malloc((size_t)T * qd * sizeof *bound);
    for (size_t i = 0; i < (size_t)T * qd; i++) bound[i] = tc ? 4e-3 : 1e-4; /* |v| <= 1 */
    char name[128];
    snprintf(name, sizeof name, "attention %d:%d hd=%d seqs=%d T=%d %s%s%s", n_heads, n_kv, hd, n_seq, T,
             kv16 ? "bf16 cache" : cached ? "cache" : "packed", force ? " " : "", force ? force : "");
    check_close(r, name, out[0], out[1], bound, (size_t)T * qd);
    free(q), free(k), free(v), free(bound), free(out[0]), free(out[1]), free(k16), free(v16);
}

/* ---- argmax_rows: exact ids and finiteness flags, ties, NaN, infinities,
 * signed zeros, a vocabulary-sized row (greedy decoding on the device) */
static void test_argmax(gt_report *r, lr_backend *cpu, lr_backend *dut) {
    const int M = 9, N = 151936;
    float *x = rnd((size_t)M * N, 20.0f);
    float *row = x + N; /* row 1: a tie of the maximum at three far-apart ids */
    row[70000] = row[150000] = row[5] = 99.0f;
    row = x + 2 * (size_t)N; /* row 2: NaN where the maximum would be, a larger value later */
    row[10] = NAN, row[11] = 50.0f, row[140000] = 60.0f;
    row = x + 3 * (size_t)N; /* row 3: all NaN */
    for (int i = 0; i < N; i++) row[i] = NAN;
    row = x + 4 * (size_t)N; /* row 4: +inf twice */
    row[123] = INFINITY, row[99999] = INFINITY;
    row = x + 5 * (size_t)N; /* row 5: all -inf */
    for (int i = 0; i < N; i++) row[i] = -INFINITY;
    row = x + 6 * (size_t)N; /* row 6: zeros, -0 first */
    for (int i = 0; i < N; i++) row[i] = i < 1000 ? -0.0f : 0.0f;
    row = x + 7 * (size_t)N; /* row 7: the maximum in the last element */
    row[N - 1] = 1e30f;
    int32_t ids[2][9];
    uint8_t fin[2][9];
    lr_backend *bes[2] = {cpu, dut};
    for (int i = 0; i < 2; i++) {
        float *dx = put(bes[i], x, (size_t)M * N * 4);
        bes[i]->argmax_rows(bes[i], dx, M, N, ids[i], fin[i]);
        bes[i]->free(bes[i], dx);
    }
    int bad = -1;
    for (int i = 0; i < M; i++)
        if (ids[0][i] != ids[1][i] || fin[0][i] != fin[1][i]) bad = i;
    const int want_ok = ids[0][1] == 5 && ids[0][2] == 140000 && ids[0][3] == 0 && ids[0][4] == 123 && ids[0][5] == 0 &&
                        ids[0][6] == 0 && ids[0][7] == N - 1 && fin[0][2] == 0 && fin[0][4] == 0 && fin[0][0] == 1;
    gt_check(r, "argmax_rows", bad < 0 && want_ok,
             "\"rows\": %d, \"first_mismatch\": %d, \"reference_as_expected\": %d, \"ids_ref\": [%d, %d, %d, %d], "
             "\"ids_dut\": [%d, %d, %d, %d]",
             M, bad, want_ok, ids[0][1], ids[0][2], ids[0][4], ids[0][7], ids[1][1], ids[1][2], ids[1][4], ids[1][7]);
    free(x);
}

/* ---- sample_rows: temperature / top-p sampling where the logits are, the
 * draws given (the streams stay on the host), against the CPU's
 * (lr_sample_u), vocabulary-sized rows: peaked, flat (top-p's fallback to
 * the whole row), a tie at the top, a non-finite row. The same ids are
 * expected everywhere: the fp64 totals are summed in another order, which
 * can move a choice only where u * total is within rounding of a boundary
 * (at most one such row is tolerated and reported). */
static void test_sample(gt_report *r, lr_backend *cpu, lr_backend *dut) {
    const int M = 24, N = 151936;
    if (!dut->sample_rows) { /* LR_CUDA_SAMPLE=0 */
        gt_check(r, "sample_rows", 1, "\"skipped\": \"the device under test has no sample_rows\"");
        return;
    }
    float *x = rnd((size_t)M * N, 1.0f);
    for (int m = 0; m < M; m++) {
        float *row = x + (size_t)m * N;
        const float spread = m % 4 == 0 ? 0.5f : m % 4 == 1 ? 8.0f : m % 4 == 2 ? 16.0f : 30.0f; /* flat .. peaked */
        for (int i = 0; i < N; i++) row[i] *= spread;
    }
    x[3 * (size_t)N + 777] = x[3 * (size_t)N + 1234] = 40.0f; /* row 3: a tie at the top */
    /* rows 1, 9, 13, 17, 21: 300 ids raised by 12 hold > 99% of the mass, so the top-p nucleus (tens of
     * ids) lies in the device's 1024 candidates: the candidate path decides these rows (the flat and
     * spread rows above all fall back to the whole row on the host) */
    for (int m = 1; m < M; m += 4)
        for (int j = 0; j < 300; j++) x[(size_t)m * N + ((size_t)j * 7919 + (size_t)m) % N] += 12.0f;
    x[5 * (size_t)N + 17] = NAN;                              /* row 5: not finite */
    double *u = malloc((size_t)M * sizeof *u);
    for (int m = 0; m < M; m++) u[m] = (m * 0.6180339887498949 + 0.1) - (int)(m * 0.6180339887498949 + 0.1);
    const double temps[2] = {0.7, 1.0}, tops[3] = {1.0, 0.9, 0.5};
    lr_backend *bes[2] = {cpu, dut};
    for (int ti = 0; ti < 2; ti++)
        for (int pi = 0; pi < 3; pi++) {
            int32_t ids[2][24];
            uint8_t fin[2][24];
            for (int i = 0; i < 2; i++) {
                float *dx = put(bes[i], x, (size_t)M * N * 4);
                bes[i]->sample_rows(bes[i], dx, M, N, temps[ti], tops[pi], u, ids[i], fin[i]);
                bes[i]->free(bes[i], dx);
            }
            int diff = 0, first = -1, fin_diff = 0;
            for (int m = 0; m < M; m++) {
                if (ids[0][m] != ids[1][m]) diff++, first = first < 0 ? m : first;
                fin_diff += fin[0][m] != fin[1][m];
            }
            char name[96];
            snprintf(name, sizeof name, "sample_rows t=%.1f top_p=%.1f", temps[ti], tops[pi]);
            gt_check(r, name, diff <= 1 && fin_diff == 0 && !fin[0][5] && fin[0][0],
                     "\"rows\": %d, \"ids_differing\": %d, \"first\": %d, \"finite_differing\": %d", M, diff, first,
                     fin_diff);
        }
    free(x), free(u);
}

/* ---- the training ops (backend.h; the CUDA ones in cuda_train.cu) against
 * the CPU backend's: fp32 GEMMs within 1e-5 * sum|a b| per element, the
 * backwards within 1e-5 relative (+ a small absolute floor), dropout masks,
 * column copies, scaling and scatters exact. */
/* appended to the names of the train gemm / matmul_dx checks (the fallback kernels' runs) */
static const char *g_name_suffix = "";
static void test_train_gemm(gt_report *r, lr_backend *cpu, lr_backend *dut, int ta, int tb, int M, int N, int K,
                            float alpha, float beta) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = rnd(na, 1.0f), *B = rnd(nb, 1.0f), *C0 = rnd(nc, 1.0f), *out[2];
    lr_backend *bes[2] = {cpu, dut};
    for (int i = 0; i < 2; i++) {
        float *dA = put(bes[i], A, na * 4), *dB = put(bes[i], B, nb * 4), *dC = put(bes[i], C0, nc * 4);
        bes[i]->gemm(bes[i], ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        out[i] = get(bes[i], dC, nc);
        bes[i]->free(bes[i], dA), bes[i]->free(bes[i], dB), bes[i]->free(bes[i], dC);
    }
    double *bound = malloc(nc * sizeof *bound);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < ldc; c++) {
            double s = 0;
            for (int k = 0; c < N && k < K; k++)
                s += fabs((double)(ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) *
                          (double)(tb ? B[(size_t)c * ldb + k] : B[(size_t)k * ldb + c]));
            bound[(size_t)m * ldc + c] = 1e-5 * (fabs(alpha) * s + fabs(beta * C0[(size_t)m * ldc + c])) + 1e-30;
        }
    char name[128];
    snprintf(name, sizeof name, "train gemm %c%c M=%d N=%d K=%d alpha=%g beta=%g%s", ta ? 'T' : 'N', tb ? 'T' : 'N', M,
             N, K, alpha, beta, g_name_suffix);
    check_close(r, name, out[0], out[1], bound, nc);
    free(A), free(B), free(C0), free(out[0]), free(out[1]), free(bound);
}

/* matmul_dx (the trainer's input gradient through a frozen weight): fp32
 * weights against the CPU, bf16 weights against the CPU bf16 emulation
 * (dy rounded to bf16 as on the GPU, so both sum the same exact products),
 * within 5e-5 * sum_n |dy w| per element (N up to 1000 in the sums). */
static void test_matmul_dx(gt_report *r, lr_backend *cpu, lr_backend *emu, lr_backend *dut, lr_dtype dt, int M, int N,
                           int K) {
    float *dy = rnd((size_t)M * N, 1.0f), *w32 = rnd((size_t)N * K, 1.0f), *out[2];
    uint16_t *w16 = malloc((size_t)N * K * sizeof *w16);
    for (size_t i = 0; i < (size_t)N * K; i++) {
        w16[i] = to_bf16_bits(w32[i]);
        if (dt == LR_BF16) w32[i] = bf16_value(w16[i]);
    }
    lr_backend *bes[2] = {dt == LR_BF16 ? emu : cpu, dut};
    for (int i = 0; i < 2; i++) {
        lr_backend *be = bes[i];
        float *ddy = put(be, dy, (size_t)M * N * 4), *ddx = be->alloc(be, (size_t)M * K * 4);
        void *dw = dt == LR_BF16 ? (void *)put(be, w16, (size_t)N * K * 2) : (void *)put(be, w32, (size_t)N * K * 4);
        lr_weight w = {dw, dt};
        be->matmul_dx(be, ddy, w, ddx, M, N, K);
        out[i] = get(be, ddx, (size_t)M * K);
        be->free(be, ddy), be->free(be, ddx), be->free(be, dw);
    }
    double *bound = malloc((size_t)M * K * sizeof *bound);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            double sacc = 0;
            for (int n = 0; n < N; n++) {
                const float yv = dt == LR_BF16 ? lr_round_bf16(dy[(size_t)m * N + n]) : dy[(size_t)m * N + n];
                sacc += fabs((double)yv * w32[(size_t)n * K + k]);
            }
            bound[(size_t)m * K + k] = 5e-5 * sacc + 1e-30;
        }
    char name[128];
    snprintf(name, sizeof name, "train matmul_dx %s M=%d N=%d K=%d%s", dt == LR_BF16 ? "bf16" : "f32", M, N, K,
             g_name_suffix);
    check_close(r, name, out[0], out[1], bound, (size_t)M * K);
    free(dy), free(w32), free(w16), free(out[0]), free(out[1]), free(bound);
}

static void rel_bound(double *b, const float *ref, size_t n, double rel, double floor) {
    for (size_t i = 0; i < n; i++) b[i] = rel * fabs(ref[i]) + floor;
}

static void test_train_ops(gt_report *r, lr_backend *cpu, lr_backend *dut) {
    const int tr[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    for (int i = 0; i < 4; i++) test_train_gemm(r, cpu, dut, tr[i][0], tr[i][1], 37, 70, 129, 0.75f, 0.0f);
    test_train_gemm(r, cpu, dut, 0, 1, 200, 896, 8, 1.0f, 1.0f);  /* LoRA: x A^T into a delta */
    test_train_gemm(r, cpu, dut, 1, 0, 8, 896, 300, 1.0f, 1.0f);  /* dA += dh^T x */
    test_train_gemm(r, cpu, dut, 0, 0, 11, 13, 0, 1.0f, 0.5f);    /* K = 0: C = beta C */
    lr_backend *bes[2] = {cpu, dut};
    const int M = 23, d = 896, I = 700;
    double *bd = malloc((size_t)M * 2 * I * sizeof *bd);
    {   /* rmsnorm backward (dx +=), swiglu backward, rope backward */
        float *x = rnd((size_t)M * d, 2.0f), *w = rnd(d, 1.0f), *dy = rnd((size_t)M * d, 1.0f), *dx0 = rnd((size_t)M * d, 1.0f);
        float *gu = rnd((size_t)M * 2 * I, 3.0f), *da = rnd((size_t)M * I, 1.0f);
        const int nh = 14, hd = 64, ld = nh * hd + 9;
        float *qr = rnd((size_t)M * ld, 1.0f), inv[32];
        int32_t pos[23];
        for (int i = 0; i < hd / 2; i++) inv[i] = (float)pow(10000.0, -2.0 * i / hd);
        for (int i = 0; i < M; i++) pos[i] = i * 37;
        float *o_rn[2], *o_sw[2], *o_rp[2];
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            float *dx_ = put(be, x, (size_t)M * d * 4), *dw = put(be, w, (size_t)d * 4), *ddy = put(be, dy, (size_t)M * d * 4);
            float *ddx = put(be, dx0, (size_t)M * d * 4);
            be->rmsnorm_backward(be, dx_, dw, ddy, ddx, M, d, 1e-6f);
            o_rn[i] = get(be, ddx, (size_t)M * d);
            float *dgu = put(be, gu, (size_t)M * 2 * I * 4), *dda = put(be, da, (size_t)M * I * 4);
            float *dg = be->alloc(be, (size_t)M * 2 * I * 4);
            be->swiglu_backward(be, dgu, dda, dg, M, I);
            o_sw[i] = get(be, dg, (size_t)M * 2 * I);
            float *dq = put(be, qr, (size_t)M * ld * 4);
            be->rope_backward(be, dq, ld, M, nh, hd, pos, inv);
            o_rp[i] = get(be, dq, (size_t)M * ld);
            be->free(be, dx_), be->free(be, dw), be->free(be, ddy), be->free(be, ddx), be->free(be, dgu);
            be->free(be, dda), be->free(be, dg), be->free(be, dq);
        }
        rel_bound(bd, o_rn[0], (size_t)M * d, 1e-5, 1e-5);
        check_close(r, "train rmsnorm_backward", o_rn[0], o_rn[1], bd, (size_t)M * d);
        rel_bound(bd, o_sw[0], (size_t)M * 2 * I, 1e-5, 1e-6);
        check_close(r, "train swiglu_backward", o_sw[0], o_sw[1], bd, (size_t)M * 2 * I);
        rel_bound(bd, o_rp[0], (size_t)M * ld, 1e-5, 1e-5);
        check_close(r, "train rope_backward", o_rp[0], o_rp[1], bd, (size_t)M * ld);
        for (int i = 0; i < 2; i++) free(o_rn[i]), free(o_sw[i]), free(o_rp[i]);
        free(x), free(w), free(dy), free(dx0), free(gu), free(da), free(qr);
    }
    {   /* attention backward: a ragged packed batch, GQA 6:2, hd 64 */
        const int nh = 6, nkv = 2, hd = 64, q_dim = nh * hd, kvd = nkv * hd, ldq = q_dim + 2 * kvd;
        const int q_off[4] = {0, 5, 6, 206}, n_past[3] = {0, 0, 0}; /* the last over one 128-row tile */
        const int64_t kv_row[3] = {0, 5, 6};
        const int T = 206;
        lr_attn_batch ab = {.n_seq = 3, .q_off = q_off, .n_past = n_past, .kv_row = kv_row};
        float *qkv = rnd((size_t)T * ldq, 1.0f), *dout = rnd((size_t)T * q_dim, 1.0f), *o[2];
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            float *dqkv = put(be, qkv, (size_t)T * ldq * 4), *ddo = put(be, dout, (size_t)T * q_dim * 4);
            float *g = be->alloc(be, (size_t)T * ldq * 4); /* dq | dk | dv per row */
            be->attention_backward(be, dqkv, ldq, dqkv + q_dim, dqkv + q_dim + kvd, ldq, ddo, g, g + q_dim,
                                   g + q_dim + kvd, ldq, nh, nkv, hd, 0.125f, &ab);
            o[i] = get(be, g, (size_t)T * ldq);
            be->free(be, dqkv), be->free(be, ddo), be->free(be, g);
        }
        double *b2 = malloc((size_t)T * ldq * sizeof *b2);
        rel_bound(b2, o[0], (size_t)T * ldq, 1e-4, 1e-5);
        check_close(r, "train attention_backward 6:2 hd=64 seqs=3 T=206", o[0], o[1], b2, (size_t)T * ldq);
        free(b2), free(qkv), free(dout), free(o[0]), free(o[1]);
    }
    {   /* dropout (exact masks), kl_loss (loss and dz), copy/add cols, scale, scatter, zero */
        const int n = 5, V = 3001, ld = 520, nc = 500;
        float *x = rnd((size_t)M * ld, 1.0f), *z = rnd((size_t)n * V, 8.0f), *o_do[2], *o_dz[2], *o_cc[2], *o_sc[2];
        uint64_t keys[23];
        for (int i = 0; i < M; i++) keys[i] = 0x1234567ull * (uint64_t)(i + 1);
        const int64_t lab_off[6] = {0, 2, 3, 3, 6, 7};
        const int32_t lab_ids[7] = {5, 3000, 17, 0, 1, 2, 999};
        const float lab_w[7] = {0.7f, 0.3f, 1.0f, 0.5f, 0.25f, 0.25f, 1.0f};
        double loss[2][5];
        const int rows[4] = {7, 0, 22, 3};
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            float *dx_ = put(be, x, (size_t)M * ld * 4), *dout = be->alloc(be, (size_t)M * ld * 4);
            be->dropout(be, dx_, ld, dout, ld, M, nc, keys, 0.1f);
            o_do[i] = get(be, dout, (size_t)M * ld);
            float *dz_ = put(be, z, (size_t)n * V * 4), *g = be->alloc(be, (size_t)n * V * 4);
            be->kl_loss(be, dz_, n, V, lab_off, lab_ids, lab_w, 0.5, loss[i], g);
            o_dz[i] = get(be, g, (size_t)n * V);
            be->copy_cols(be, dout, ld, dx_ + 3, ld, M, nc);  /* dout[:, :nc] = x[:, 3:3+nc] */
            be->add_cols(be, dout + 1, ld, dx_, ld, M, nc);   /* dout[:, 1:1+nc] += x[:, :nc] */
            be->scale(be, dout, (size_t)M * ld, -0.5f);
            o_cc[i] = get(be, dout, (size_t)M * ld);
            be->zero(be, dout, (size_t)M * ld * 4);
            be->scatter_rows(be, dx_, ld, rows, 4, dout);
            o_sc[i] = get(be, dout, (size_t)M * ld);
            be->free(be, dx_), be->free(be, dout), be->free(be, dz_), be->free(be, g);
        }
        double *ex = calloc((size_t)n * V > (size_t)M * ld ? (size_t)n * V : (size_t)M * ld, sizeof *ex);
        for (size_t i = 0; i < (size_t)M * ld; i++) ex[i] = 1e-30;
        check_close(r, "train dropout (masks exact)", o_do[0], o_do[1], ex, (size_t)M * nc);
        check_close(r, "train copy_cols add_cols scale", o_cc[0], o_cc[1], ex, (size_t)M * ld);
        check_close(r, "train zero scatter_rows", o_sc[0], o_sc[1], ex, (size_t)M * ld);
        double *b3 = malloc((size_t)n * V * sizeof *b3);
        rel_bound(b3, o_dz[0], (size_t)n * V, 1e-5, 1e-9);
        check_close(r, "train kl_loss gradient", o_dz[0], o_dz[1], b3, (size_t)n * V);
        double wl = 0;
        for (int i = 0; i < n; i++) wl = fmax(wl, fabs(loss[1][i] - loss[0][i]) / (1e-6 + fabs(loss[0][i])));
        gt_check(r, "train kl_loss loss", wl <= 1e-5, "\"worst_rel\": %.3g, \"ref0\": %.9g, \"dut0\": %.9g", wl,
                 loss[0][0], loss[1][0]);
        for (int i = 0; i < 2; i++) free(o_do[i]), free(o_dz[i]), free(o_cc[i]), free(o_sc[i]);
        free(x), free(z), free(ex), free(b3);
    }
    free(bd);
}

/* ---- the row/elementwise ops */
static void test_rows(gt_report *r, lr_backend *cpu, lr_backend *dut) {
    const int M = 37, d = 896, V = 300, I = 700;
    lr_backend *bes[2] = {cpu, dut};
    /* embed, f32 and bf16 tables */
    int32_t ids[37];
    for (int i = 0; i < M; i++) ids[i] = (i * 131 + 7) % V;
    float *tab = rnd((size_t)V * d, 1.0f);
    uint16_t *tab16 = malloc((size_t)V * d * 2);
    for (size_t i = 0; i < (size_t)V * d; i++) tab16[i] = to_bf16_bits(tab[i]);
    double *exact = calloc((size_t)M * 2 * I + (size_t)V * d, sizeof *exact);
    for (size_t i = 0; i < (size_t)M * 2 * I + (size_t)V * d; i++) exact[i] = 1e-30; /* "== " within denormals */
    for (int dt = 0; dt < 2; dt++) {
        float *out[2];
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            void *dtab = dt ? put(be, tab16, (size_t)V * d * 2) : put(be, tab, (size_t)V * d * 4);
            float *dout = be->alloc(be, (size_t)M * d * 4);
            lr_weight w = {dtab, dt ? LR_BF16 : LR_F32};
            be->embed(be, w, ids, M, d, dout);
            out[i] = get(be, dout, (size_t)M * d);
            be->free(be, dtab), be->free(be, dout);
        }
        check_close(r, dt ? "embed bf16" : "embed f32", out[0], out[1], exact, (size_t)M * d);
        free(out[0]), free(out[1]);
    }
    /* rmsnorm (out of place and in place), swiglu, add, gather_rows, log_softmax */
    float *x = rnd((size_t)M * d, 3.0f), *g = rnd((size_t)d, 1.0f), *gu = rnd((size_t)M * 2 * I, 4.0f);
    float *x2 = rnd((size_t)M * d, 1.0f), *lg = rnd((size_t)M * V, 20.0f);
    int rows[5] = {36, 0, 17, 17, 3};
    float *o_norm[2], *o_inpl[2], *o_sw[2], *o_add[2], *o_gat[2], *o_ls[2];
    for (int i = 0; i < 2; i++) {
        lr_backend *be = bes[i];
        float *dx = put(be, x, (size_t)M * d * 4), *dg = put(be, g, (size_t)d * 4), *dy = be->alloc(be, (size_t)M * d * 4);
        be->rmsnorm(be, dx, dg, dy, M, d, 1e-6f);
        o_norm[i] = get(be, dy, (size_t)M * d);
        be->rmsnorm(be, dx, dg, dx, M, d, 1e-6f);
        o_inpl[i] = get(be, dx, (size_t)M * d);
        float *dgu = put(be, gu, (size_t)M * 2 * I * 4), *dact = be->alloc(be, (size_t)M * I * 4);
        be->swiglu(be, dgu, dact, M, I);
        o_sw[i] = get(be, dact, (size_t)M * I);
        float *dx2 = put(be, x2, (size_t)M * d * 4);
        be->add(be, dy, dx2, M, d);
        o_add[i] = get(be, dy, (size_t)M * d);
        float *dgat = be->alloc(be, (size_t)5 * d * 4);
        be->gather_rows(be, dx2, d, rows, 5, dgat);
        o_gat[i] = get(be, dgat, (size_t)5 * d);
        float *dl = put(be, lg, (size_t)M * V * 4);
        be->log_softmax(be, dl, dl, M, V);
        o_ls[i] = get(be, dl, (size_t)M * V);
        be->free(be, dx), be->free(be, dg), be->free(be, dy), be->free(be, dgu), be->free(be, dact);
        be->free(be, dx2), be->free(be, dgat), be->free(be, dl);
    }
    double *bd = malloc((size_t)M * 2 * I * sizeof *bd);
    for (size_t i = 0; i < (size_t)M * d; i++) bd[i] = 1e-5 * fabs(o_norm[0][i]) + 1e-6;
    check_close(r, "rmsnorm", o_norm[0], o_norm[1], bd, (size_t)M * d);
    check_close(r, "rmsnorm in place", o_inpl[0], o_inpl[1], bd, (size_t)M * d);
    for (size_t i = 0; i < (size_t)M * I; i++) bd[i] = 1e-5 * fabs(o_sw[0][i]) + 1e-6;
    check_close(r, "swiglu", o_sw[0], o_sw[1], bd, (size_t)M * I);
    for (size_t i = 0; i < (size_t)M * d; i++) bd[i] = 1e-5 * fabs(o_add[0][i]) + 1e-6; /* rmsnorm's error + exact add */
    check_close(r, "add", o_add[0], o_add[1], bd, (size_t)M * d);
    check_close(r, "gather_rows", o_gat[0], o_gat[1], exact, (size_t)5 * d);
    for (size_t i = 0; i < (size_t)M * V; i++) bd[i] = 1e-5 * (1 + fabs(o_ls[0][i]));
    check_close(r, "log_softmax", o_ls[0], o_ls[1], bd, (size_t)M * V);
    for (int i = 0; i < 2; i++) free(o_norm[i]), free(o_inpl[i]), free(o_sw[i]), free(o_add[i]), free(o_gat[i]), free(o_ls[i]);

    /* rope on q+k heads of qkv rows (in place), positions up to 4000 */
    {
        const int nh = 14, hd = 128, ld = nh * hd + 2 * hd + 5, Mr = 9;
        int32_t pos[9] = {0, 1, 2, 77, 500, 1023, 1024, 3000, 3999};
        float inv[64];
        for (int i = 0; i < hd / 2; i++) inv[i] = (float)pow(1000000.0, -2.0 * i / hd);
        float *q = rnd((size_t)Mr * ld, 2.0f), *o[2];
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            float *dq = put(be, q, (size_t)Mr * ld * 4);
            be->rope(be, dq, ld, Mr, nh, hd, pos, inv);
            o[i] = get(be, dq, (size_t)Mr * ld);
            be->free(be, dq);
        }
        double *b2 = malloc((size_t)Mr * ld * sizeof *b2);
        for (size_t i = 0; i < (size_t)Mr * ld; i++) b2[i] = 1e-5 * 2.0 * 2; /* max|x| = 2, two terms */
        check_close(r, "rope", o[0], o[1], b2, (size_t)Mr * ld);
        if (dut->rope_kv_store) { /* the fused op (rope, then the keys and values into cache rows) vs rope + kv_store */
            const int nkv = 2, nq = nh - nkv, w = nkv * hd, rows = 20;
            const int64_t dst[9] = {19, 0, 3, 4, 5, 11, 12, 7, 8};
            float *oq[2], *ok[2], *ov[2];
            for (int i = 0; i < 2; i++) {
                lr_backend *be = bes[i];
                float *dq = put(be, q, (size_t)Mr * ld * 4);
                float *kd = be->alloc(be, (size_t)rows * w * 4), *vd = be->alloc(be, (size_t)rows * w * 4);
                if (be == dut) {
                    be->rope_kv_store(be, dq, ld, Mr, nq, nkv, hd, pos, inv, kd, vd, dst);
                } else {
                    be->rope(be, dq, ld, Mr, nh, hd, pos, inv);
                    be->kv_store(be, kd, vd, dst, dq + (size_t)nq * hd, dq + (size_t)nq * hd + w, ld, Mr, w);
                }
                oq[i] = get(be, dq, (size_t)Mr * ld), ok[i] = get(be, kd, (size_t)rows * w);
                ov[i] = get(be, vd, (size_t)rows * w);
                be->free(be, dq), be->free(be, kd), be->free(be, vd);
            }
            check_close(r, "rope_kv_store q, k rotated", oq[0], oq[1], b2, (size_t)Mr * ld);
            check_close(r, "rope_kv_store cached keys", ok[0], ok[1], b2, (size_t)rows * w);
            check_close(r, "rope_kv_store cached values", ov[0], ov[1], b2, (size_t)rows * w);
            for (int i = 0; i < 2; i++) free(oq[i]), free(ok[i]), free(ov[i]);
        }
        free(q), free(o[0]), free(o[1]), free(b2);
    }
    /* rope past the CUDA backend's cos/sin table (4096 rows at first, grown by doubling up to 1<<17 positions;
     * rows beyond it compute their own): fresh frequencies (head_dim 96) reset the table; the first call's
     * largest position is past the table's cap, so nothing is built and every row computes its own; the
     * second grows the table to cover 8192; both against the CPU, and position 5000 from the table must
     * equal position 5000 computed on its own, bit for bit */
    {
        const int nh = 3, hd = 96, ld = nh * hd, Mr = 6;
        const int32_t pos_a[6] = {5000, 140000, 4095, 4096, 131071, 8192}, pos_b[6] = {5000, 8191, 4095, 4096, 0, 8192};
        float inv[48];
        for (int i = 0; i < hd / 2; i++) inv[i] = (float)pow(10000.0, -2.0 * i / hd);
        float *q = rnd((size_t)Mr * ld, 2.0f), *o[2][2];
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < 2; i++) {
                lr_backend *be = bes[i];
                float *dq = put(be, q, (size_t)Mr * ld * 4);
                be->rope(be, dq, ld, Mr, nh, hd, pass ? pos_b : pos_a, inv);
                o[pass][i] = get(be, dq, (size_t)Mr * ld);
                be->free(be, dq);
            }
        double *b2 = malloc((size_t)Mr * ld * sizeof *b2);
        for (size_t i = 0; i < (size_t)Mr * ld; i++) b2[i] = 1e-5 * 2.0 * 2;
        check_close(r, "rope positions past the table's cap", o[0][0], o[0][1], b2, (size_t)Mr * ld);
        check_close(r, "rope positions in a grown table", o[1][0], o[1][1], b2, (size_t)Mr * ld);
        gt_check(r, "rope from the table == rope computed per row (bits)",
                 !memcmp(o[0][1], o[1][1], (size_t)ld * sizeof(float)) && /* rows 0, 2, 3, 5: the same positions */
                     !memcmp(o[0][1] + (size_t)2 * ld, o[1][1] + (size_t)2 * ld, (size_t)2 * ld * sizeof(float)) &&
                     !memcmp(o[0][1] + (size_t)5 * ld, o[1][1] + (size_t)5 * ld, (size_t)ld * sizeof(float)),
                 "\"positions\": \"5000, 4095, 4096, 8192\"");
        free(q), free(b2);
        for (int pass = 0; pass < 2; pass++) free(o[pass][0]), free(o[pass][1]);
    }
    /* kv_store into scattered cache rows */
    {
        const int Mk = 6, width = 256, ld = 3 * width, rows_total = 50;
        int64_t dst[6] = {49, 0, 7, 8, 30, 2};
        float *src = rnd((size_t)Mk * ld, 1.0f), *ok[2], *ov[2];
        for (int i = 0; i < 2; i++) {
            lr_backend *be = bes[i];
            float *ds = put(be, src, (size_t)Mk * ld * 4);
            float *kd = be->alloc(be, (size_t)rows_total * width * 4), *vd = be->alloc(be, (size_t)rows_total * width * 4);
            be->kv_store(be, kd, vd, dst, ds, ds + width, ld, Mk, width);
            ok[i] = get(be, kd, (size_t)rows_total * width);
            ov[i] = get(be, vd, (size_t)rows_total * width);
            be->free(be, ds), be->free(be, kd), be->free(be, vd);
        }
        double *ex = malloc((size_t)rows_total * width * sizeof *ex);
        for (size_t i = 0; i < (size_t)rows_total * width; i++) ex[i] = 1e-30;
        check_close(r, "kv_store k", ok[0], ok[1], ex, (size_t)rows_total * width);
        check_close(r, "kv_store v", ov[0], ov[1], ex, (size_t)rows_total * width);
        if (!strcmp(g_dut, "cuda")) { /* a bf16 cache (LR_CUDA_KV=bf16): rows rounded to nearest even, exactly */
            const lr_dtype was = dut->kv_dtype;
            dut->kv_dtype = LR_BF16;
            float *ds = put(dut, src, (size_t)Mk * ld * 4);
            uint16_t *kd = dut->alloc(dut, (size_t)rows_total * width * 2), *vd = dut->alloc(dut, (size_t)rows_total * width * 2);
            dut->kv_store(dut, kd, vd, dst, ds, ds + width, ld, Mk, width);
            uint16_t *hk = malloc((size_t)rows_total * width * 2), *hv = malloc((size_t)rows_total * width * 2);
            dut->download(dut, hk, kd, (size_t)rows_total * width * 2);
            dut->download(dut, hv, vd, (size_t)rows_total * width * 2);
            long bad = 0;
            for (int m = 0; m < Mk; m++)
                for (int i = 0; i < width; i++) {
                    bad += hk[(size_t)dst[m] * width + i] != to_bf16_bits(src[(size_t)m * ld + i]);
                    bad += hv[(size_t)dst[m] * width + i] != to_bf16_bits(src[(size_t)m * ld + width + i]);
                }
            gt_check(r, "kv_store bf16 cache", bad == 0, "\"elements_differing\": %ld", bad);
            dut->free(dut, ds), dut->free(dut, kd), dut->free(dut, vd);
            free(hk), free(hv);
            dut->kv_dtype = was;
        }
        free(src), free(ex);
        for (int i = 0; i < 2; i++) free(ok[i]), free(ov[i]);
    }
    free(tab), free(tab16), free(exact), free(x), free(g), free(gu), free(x2), free(lg), free(bd);
}

int gt_ops(gt_report *r) {
    lr_backend *cpu = lr_backend_cpu_new(0), *emu = lr_backend_cpu_new(0), *dut = gt_dut_backend();
    lr_backend_emulate_bf16(emu);
    /* The CPU-only self-check (--dut cpu-emu) compares the emulation with
     * itself: it runs the harness end to end, the real check needs a GPU. */
    if (!strcmp(g_dut, "cpu-emu")) lr_backend_emulate_bf16(cpu);
    if (!dut) {
        gt_check(r, "device under test", 0, "\"error\": \"no backend\"");
        return 1;
    }
    const double t0 = gt_now();
    if (!strcmp(g_dut, "cpu")) { /* the plain CPU against itself: the training ops' harness (the
                                  * inference ops' is the cpu-emu self-check) */
        test_train_ops(r, cpu, dut);
        lr_backend_destroy(cpu), lr_backend_destroy(emu), lr_backend_destroy(dut);
        return r->failures;
    }
    static const int shapes[][3] = {{1, 64, 128}, {7, 96, 200}, {64, 256, 512}, {300, 1000, 384}, {1, 1536, 1536}};
    const size_t n_shapes = g_quick ? 2 : sizeof shapes / sizeof shapes[0]; /* --quick: the CPU self-checks */
    for (int dt = 0; dt < 2; dt++)
        for (size_t s = 0; s < n_shapes; s++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            const lr_dtype t = dt ? LR_BF16 : LR_F32;
            test_matmul(r, cpu, emu, dut, t, M, N, K, 0, 0, 0, "");
            test_matmul(r, cpu, emu, dut, t, M, N, K, 1, 0, 0, "");
            test_matmul(r, cpu, emu, dut, t, M, N, K, 1, 1, 1, "");
            test_matmul(r, cpu, emu, dut, t, M, N, K, 0, 1, 1, "");
        }
    /* decode's few-row bf16 GEMMs (CUDA: the GEMV for M <= 4 on aligned rows): long K, N not a multiple of
     * the warps per block, with bias and accumulate */
    static const int gv[][3] = {{1, 1001, 8960}, {2, 136, 64}, {3, 2048, 1536}, {4, 517, 1536},
                                {2, 1152, 896},  {1, 33, 4864}, {3, 2, 896}};
    for (size_t s = 0; s < (g_quick ? 1 : sizeof gv / sizeof gv[0]); s++) {
        test_matmul(r, cpu, emu, dut, LR_BF16, gv[s][0], gv[s][1], gv[s][2], 0, 0, 0, " (gemv)");
        test_matmul(r, cpu, emu, dut, LR_BF16, gv[s][0], gv[s][1], gv[s][2], 1, 1, 0, " (gemv)");
        test_matmul(r, cpu, emu, dut, LR_BF16, gv[s][0], gv[s][1], gv[s][2], 0, 1, 2, " (gemv)");
    }
    test_norm_gemv(r, emu, dut, 1, 2048, 1536);
    test_norm_gemv(r, emu, dut, 3, 517, 896);
    if (!strcmp(g_dut, "cuda")) { /* the GEMM fallback kernel (no cuBLASLt algorithm for a shape) */
        const gt_env e = gt_env_set("LR_CUDA_GEMM_FALLBACK", "1");
        lr_backend *fb = gt_dut_backend();
        gt_env_restore(e);
        for (int dt = 0; dt < 2; dt++) {
            test_matmul(r, cpu, emu, fb, dt ? LR_BF16 : LR_F32, 7, 96, 200, 1, 1, 1, " (fallback kernel)");
            test_matmul(r, cpu, emu, fb, dt ? LR_BF16 : LR_F32, 64, 256, 512, 0, 0, 0, " (fallback kernel)");
        }
        /* ... and the trainer's: its GEMM (each transpose) and the frozen weights' input gradient */
        g_name_suffix = " (fallback kernel)";
        for (int t = 0; t < 4; t++) test_train_gemm(r, cpu, fb, t & 1, t >> 1, 33, 70, 45, 0.5f, t == 3 ? 1.0f : 0.0f);
        for (int dt = 0; dt < 2; dt++) test_matmul_dx(r, cpu, emu, fb, dt ? LR_BF16 : LR_F32, 37, 300, 129);
        g_name_suffix = "";
        lr_backend_destroy(fb);
    }
    test_rows(r, cpu, dut);
    test_argmax(r, cpu, dut);
    test_sample(r, cpu, dut);
    /* the training ops compute in fp32 on the GPU: against the plain CPU
     * (the bf16 emulation rounds the training GEMM's inputs) */
    if (!strcmp(g_dut, "cuda")) test_train_ops(r, cpu, dut);
    for (int dt = 0; dt < 2; dt++) { /* the frozen weights' input gradient, fp32 and bf16 (also > 256 rows: the CPU's blocks) */
        test_matmul_dx(r, cpu, emu, dut, dt ? LR_BF16 : LR_F32, 37, 300, 129);
        test_matmul_dx(r, cpu, emu, dut, dt ? LR_BF16 : LR_F32, 16, 1000, 96);
    }
    /* bf16_split (the trainer's bf16 frozen weights): x, dy as two bf16 halves on both sides */
    emu->bf16_split = dut->bf16_split = 1;
    test_matmul(r, cpu, emu, dut, LR_BF16, 37, 300, 129, 1, 1, 1, " split");
    test_matmul(r, cpu, emu, dut, LR_BF16, 256, 512, 1536, 0, 0, 0, " split");
    g_name_suffix = " split";
    test_matmul_dx(r, cpu, emu, dut, LR_BF16, 37, 300, 129);
    test_matmul_dx(r, cpu, emu, dut, LR_BF16, 300, 1000, 96);
    g_name_suffix = "";
    emu->bf16_split = dut->bf16_split = 0;
    {
        const int nn[3] = {5, 1, 17}, np[3] = {0, 40, 3};
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, np, 1, NULL);
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, np, 1, "tiles");
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, (const int[3]){0, 0, 0}, 0, NULL);
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, (const int[3]){0, 0, 0}, 0, "tiles");
        const int nl[2] = {1, 3}, pl[2] = {700, 299}; /* several key tiles */
        test_attention(r, cpu, emu, dut, 12, 2, 128, 2, nl, pl, 1, NULL);
        test_attention(r, cpu, emu, dut, 12, 2, 128, 2, nl, pl, 1, "tiles");
        const int n1[1] = {130}, p1[1] = {0};
        test_attention(r, cpu, emu, dut, 4, 4, 32, 1, n1, p1, 0, NULL);
        test_attention(r, cpu, emu, dut, 4, 4, 32, 1, n1, p1, 0, "rows");
        /* prefill-sized ragged batches (the tiled kernel): partial query tiles,
         * a decode row among them, chunked prefill after a cached past */
        const int n4[4] = {200, 1, 64, 65}, p4[4] = {0, 90, 33, 0};
        test_attention(r, cpu, emu, dut, 12, 2, 128, 4, n4, p4, 1, NULL);
        test_attention(r, cpu, emu, dut, 12, 2, 128, 4, n4, p4, 1, "rows");
        const int n3[3] = {256, 129, 7}, p3[3] = {0, 0, 0};
        test_attention(r, cpu, emu, dut, 14, 2, 64, 3, n3, p3, 0, NULL);
        /* decode steps, one row per sequence (the decode kernel: a KV head's
         * query heads together, keys split across blocks when the batch is
         * small): pasts from none to 2047, groups of 6, 7 and 8, the row
         * kernel beside it; a group of 9 falls back to the row kernel */
        const int n8[8] = {1, 1, 1, 1, 1, 1, 1, 1}, p8[8] = {0, 1, 5, 63, 64, 300, 1500, 2047};
        test_attention(r, cpu, emu, dut, 12, 2, 128, 8, n8, p8, 1, NULL);
        test_attention(r, cpu, emu, dut, 12, 2, 128, 8, n8, p8, 1, "rows");
        test_attention(r, cpu, emu, dut, 14, 2, 64, 8, n8, p8, 1, NULL);
        const int n1b[1] = {1}, p1b[1] = {777}, p0[1] = {0};
        test_attention(r, cpu, emu, dut, 16, 2, 128, 1, n1b, p1b, 1, NULL);
        test_attention(r, cpu, emu, dut, 16, 2, 128, 1, n1b, p0, 1, NULL);
        test_attention(r, cpu, emu, dut, 9, 1, 64, 1, n1b, p1b, 1, "decode");
        /* a decode batch with a few rows per sequence (speculative / chunked) */
        const int n5[2] = {3, 2}, p5[2] = {1000, 17};
        test_attention(r, cpu, emu, dut, 12, 2, 128, 2, n5, p5, 1, "decode");
        /* the tensor-core kernel (LR_CUDA_ATTENTION=tc): partial query and key
         * tiles, pasts, a decode row, GQA 6:2 / 14:2 / 12:2, head sizes 64, 128 */
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, np, 1, "tc");
        test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, (const int[3]){0, 0, 0}, 0, "tc");
        test_attention(r, cpu, emu, dut, 12, 2, 128, 4, n4, p4, 1, "tc");
        test_attention(r, cpu, emu, dut, 14, 2, 64, 3, n3, p3, 0, "tc");
        test_attention(r, cpu, emu, dut, 12, 2, 128, 2, nl, pl, 1, "tc");
        if (!strcmp(g_dut, "cuda")) { /* a bf16 KV cache (LR_CUDA_KV=bf16): every kernel reading it */
            g_kv16 = 1;
            test_attention(r, cpu, emu, dut, 12, 2, 128, 8, n8, p8, 1, NULL);     /* decode, splits */
            test_attention(r, cpu, emu, dut, 14, 2, 64, 8, n8, p8, 1, NULL);      /* decode, hd 64 */
            test_attention(r, cpu, emu, dut, 12, 2, 128, 8, n8, p8, 1, "rows");   /* the row kernel */
            test_attention(r, cpu, emu, dut, 12, 2, 128, 4, n4, p4, 1, NULL);     /* prefill tiles after a past */
            test_attention(r, cpu, emu, dut, 12, 2, 128, 4, n4, p4, 1, "tc");     /* tensor cores */
            test_attention(r, cpu, emu, dut, 6, 2, 64, 3, nn, np, 1, "tiles");
            g_kv16 = 0;
        }
    }
    gt_check(r, "ops wall time", 1, "\"seconds\": %.2f", gt_now() - t0);
    lr_backend_destroy(cpu), lr_backend_destroy(emu), lr_backend_destroy(dut);
    return r->failures;
}
