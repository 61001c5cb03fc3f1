/* CPU matmul y (+)= x · wᵀ + b (backend.h) and its threading.
 *
 * Paths, by the number of rows M (tokens):
 *   M == 1          OpenBLAS sgemv: streams the weights once (decode, batch 1).
 *   2 <= M <= 8     register-blocked 4 weight rows x 4 token rows (AVX-512),
 *                   weights read once and reused from L1 for each group of
 *                   token rows.
 *   8 < M <= 32     "token-vector" kernels: x packed transposed so one
 *                   vector holds one k of 16 tokens, each weight broadcast
 *                   once into an FMA with it; no horizontal sums.
 *                   (Decode of a batch: OpenBLAS sgemm packs the whole weight
 *                   matrix at small M and runs 2-5x slower there.)
 *   M > 32          OpenBLAS sgemm (scoring, prefill, training).
 * LR_SKINNY=4x4 keeps the 4x4 blocks for 8 < M <= 32 (for comparison).
 * Each is split over OpenMP threads by output columns (weight rows) with
 * OpenBLAS itself single-threaded (see backend_cpu.c). The per-element
 * summation order does not depend on the thread split. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "common/check.h"
#include "model/cpu_ops.h"

#define SKINNY_MAX_M 32
#define TVEC_MIN_M 8 /* above: token-vector kernels; up to it the 4x4 blocks win (fewer idle lanes) */

/* ---- skinny kernel: y (MR rows, ldy) [0:NR] (+)= x (MR, ldx) · w (NR, K)ᵀ */
#if defined(__AVX512F__)
/* The four horizontal sums of a, b, c, d (16 floats each) as one vector. */
static inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    /* 512 -> 256: add the halves */
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1)));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1)));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(d), 1)));
    /* pairwise: [a0+a1 a2+a3 b0+b1 b2+b3 | a4+a5 ...] */
    __m256 ab = _mm256_hadd_ps(a8, b8), cd = _mm256_hadd_ps(c8, d8);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* [a b c d | a b c d] partial sums per 128-bit lane */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
#define KERN(MR, NR)                                                                                        \
    static void kern_##MR##x##NR(const float *x, int ldx, const float *w, int K, float *y, int ldy, int acc) { \
        __m512 a[MR][NR];                                                                                   \
        for (int j = 0; j < MR; j++)                                                                        \
            for (int r = 0; r < NR; r++) a[j][r] = _mm512_setzero_ps();                                     \
        int k = 0;                                                                                          \
        for (; k + 16 <= K; k += 16) {                                                                      \
            __m512 wv[NR];                                                                                  \
            for (int r = 0; r < NR; r++) wv[r] = _mm512_loadu_ps(w + (size_t)r * K + k);                    \
            for (int j = 0; j < MR; j++) {                                                                  \
                const __m512 xv = _mm512_loadu_ps(x + (size_t)j * ldx + k);                                 \
                for (int r = 0; r < NR; r++) a[j][r] = _mm512_fmadd_ps(xv, wv[r], a[j][r]);                 \
            }                                                                                               \
        }                                                                                                   \
        if (k < K) {                                                                                        \
            const __mmask16 mk = (__mmask16)((1u << (K - k)) - 1);                                          \
            __m512 wv[NR];                                                                                  \
            for (int r = 0; r < NR; r++) wv[r] = _mm512_maskz_loadu_ps(mk, w + (size_t)r * K + k);          \
            for (int j = 0; j < MR; j++) {                                                                  \
                const __m512 xv = _mm512_maskz_loadu_ps(mk, x + (size_t)j * ldx + k);                       \
                for (int r = 0; r < NR; r++) a[j][r] = _mm512_fmadd_ps(xv, wv[r], a[j][r]);                 \
            }                                                                                               \
        }                                                                                                   \
        for (int j = 0; j < MR; j++) {                                                                      \
            float *o = y + (size_t)j * ldy;                                                                 \
            if (NR == 4) {                                                                                  \
                __m128 s4 = hsum4(a[j][0], a[j][NR > 1 ? 1 : 0], a[j][NR > 2 ? 2 : 0], a[j][NR > 3 ? 3 : 0]); \
                if (acc) s4 = _mm_add_ps(s4, _mm_loadu_ps(o));                                              \
                _mm_storeu_ps(o, s4);                                                                       \
            } else {                                                                                        \
                for (int r = 0; r < NR; r++) {                                                              \
                    const float s = _mm512_reduce_add_ps(a[j][r]);                                          \
                    o[r] = acc ? o[r] + s : s;                                                              \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }
#else
#define KERN(MR, NR)                                                                                        \
    static void kern_##MR##x##NR(const float *x, int ldx, const float *w, int K, float *y, int ldy, int acc) { \
        for (int j = 0; j < MR; j++)                                                                        \
            for (int r = 0; r < NR; r++) {                                                                  \
                const float *xr = x + (size_t)j * ldx, *wr = w + (size_t)r * K;                             \
                float s = 0.0f;                                                                             \
                _Pragma("omp simd reduction(+ : s)") for (int k = 0; k < K; k++) s += xr[k] * wr[k];        \
                float *o = y + (size_t)j * ldy + r;                                                         \
                *o = acc ? *o + s : s;                                                                      \
            }                                                                                               \
    }
#endif

KERN(1, 1) KERN(1, 2) KERN(1, 3) KERN(1, 4)
KERN(2, 1) KERN(2, 2) KERN(2, 3) KERN(2, 4)
KERN(3, 1) KERN(3, 2) KERN(3, 3) KERN(3, 4)
KERN(4, 1) KERN(4, 2) KERN(4, 3) KERN(4, 4)

typedef void (*kern_fn)(const float *, int, const float *, int, float *, int, int);
static const kern_fn kernels[4][4] = {
    {kern_1x1, kern_1x2, kern_1x3, kern_1x4},
    {kern_2x1, kern_2x2, kern_2x3, kern_2x4},
    {kern_3x1, kern_3x2, kern_3x3, kern_3x4},
    {kern_4x1, kern_4x2, kern_4x3, kern_4x4},
};

/* y (M, ldy)[:, 0:N] (+)= x (M, ldx) · w (N, K)ᵀ for small M. Weight rows
 * in tiles of ~256 KiB (L2): the first group of 4 token rows streams a tile
 * from memory, the others re-read it from L2, while each group's 4 token
 * rows stay in L1 across the tile's 4-row weight blocks. */
static void skinny(const float *x, int ldx, const float *w, float *y, int ldy, int M, int N, int K, int acc) {
    for (int n = 0; n < N; n += 4) {
        const int nr = N - n < 4 ? N - n : 4;
        for (int m = 0; m < M; m += 4) {
            const int mr = M - m < 4 ? M - m : 4;
            kernels[mr - 1][nr - 1](x + (size_t)m * ldx, ldx, w + (size_t)n * K, K, y + (size_t)m * ldy + n, ldy, acc);
        }
    }
}

#if defined(__AVX512F__)
/* ---- token-vector kernels for 2 <= M <= 32 (AVX-512): the token rows are
 * packed transposed, xt (K, 16*MV) with lanes >= M zero, so one vector holds
 * one k of all (up to 16) tokens; each weight element is broadcast once into
 * an FMA with that vector. No horizontal sums, and every weight is read
 * once from memory while xt is re-read from L2 once per 16 (or 12) weight
 * rows. y (M, ldy)[:, 0:N] (+)= x · wᵀ. */
#define NR1 16 /* weight rows per block, one token vector  (16 + 1 registers) */
#define NR2 12 /* weight rows per block, two token vectors (24 + 2 registers) */

static void store_cols(const float *tmp, int nr, int M, float *y, int ldy, int acc) {
    /* tmp (nr, 32): lane m of weight row r -> y[m][r] */
    for (int m = 0; m < M; m++) {
        float *o = y + (size_t)m * ldy;
        for (int r = 0; r < nr; r++) o[r] = acc ? o[r] + tmp[r * 32 + m] : tmp[r * 32 + m];
    }
}

#define TKERN1(NR)                                                                                           \
    static void tkern1_##NR(const float *xt, const float *w, int K, float *y, int ldy, int M, int acc) {     \
        __m512 a[NR];                                                                                        \
        for (int r = 0; r < NR; r++) a[r] = _mm512_setzero_ps();                                             \
        for (int k = 0; k < K; k++) {                                                                        \
            const __m512 xv = _mm512_load_ps(xt + (size_t)k * 16);                                           \
            for (int r = 0; r < NR; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[(size_t)r * K + k]), xv, a[r]); \
        }                                                                                                    \
        float tmp[NR * 32] __attribute__((aligned(64)));                                                     \
        for (int r = 0; r < NR; r++) _mm512_store_ps(tmp + r * 32, a[r]);                                    \
        store_cols(tmp, NR, M, y, ldy, acc);                                                                 \
    }
#define TKERN2(NR)                                                                                           \
    static void tkern2_##NR(const float *xt, const float *w, int K, float *y, int ldy, int M, int acc) {     \
        __m512 a[NR], b[NR];                                                                                 \
        for (int r = 0; r < NR; r++) a[r] = b[r] = _mm512_setzero_ps();                                      \
        for (int k = 0; k < K; k++) {                                                                        \
            const __m512 x0 = _mm512_load_ps(xt + (size_t)k * 32), x1 = _mm512_load_ps(xt + (size_t)k * 32 + 16); \
            for (int r = 0; r < NR; r++) {                                                                   \
                const __m512 wv = _mm512_set1_ps(w[(size_t)r * K + k]);                                      \
                a[r] = _mm512_fmadd_ps(wv, x0, a[r]);                                                        \
                b[r] = _mm512_fmadd_ps(wv, x1, b[r]);                                                        \
            }                                                                                                \
        }                                                                                                    \
        float tmp[NR * 32] __attribute__((aligned(64)));                                                     \
        for (int r = 0; r < NR; r++) {                                                                       \
            _mm512_store_ps(tmp + r * 32, a[r]);                                                             \
            _mm512_store_ps(tmp + r * 32 + 16, b[r]);                                                        \
        }                                                                                                    \
        store_cols(tmp, NR, M, y, ldy, acc);                                                                 \
    }
TKERN1(16) TKERN1(1) TKERN2(12) TKERN2(1)

/* xt (K, 16*mv) for the token rows of x (M, ldx); mv = 1 for M <= 16, else 2. */
static void pack_xt(const float *x, int ldx, int M, int K, int mv, float *xt) {
    const int L = 16 * mv;
    memset(xt, 0, (size_t)K * L * sizeof(float));
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) xt[(size_t)k * L + m] = x[(size_t)m * ldx + k];
}

static void skinny_t(const float *xt, int mv, const float *w, float *y, int ldy, int M, int N, int K, int acc) {
    const int nb = mv == 1 ? NR1 : NR2;
    int n = 0;
    for (; n + nb <= N; n += nb)
        (mv == 1 ? tkern1_16 : tkern2_12)(xt, w + (size_t)n * K, K, y + n, ldy, M, acc);
    for (; n < N; n++) (mv == 1 ? tkern1_1 : tkern2_1)(xt, w + (size_t)n * K, K, y + n, ldy, M, acc);
}
#endif

/* One column slice on one thread; xt is the packed transposed x when the
 * token-vector kernels are in use (else NULL). */
static void gemm_slice(const float *x, int ldx, const float *xt, const float *w, float *y, int ldy, int M, int N, int K,
                       int acc) {
    if (M == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, x, 1, acc ? 1.0f : 0.0f, y, 1);
#if defined(__AVX512F__)
    else if (xt)
        skinny_t(xt, M <= 16 ? 1 : 2, w, y, ldy, M, N, K, acc);
#endif
    else if (M <= SKINNY_MAX_M)
        skinny(x, ldx, w, y, ldy, M, N, K, acc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, ldx, w, K, acc ? 1.0f : 0.0f, y, ldy);
}

void cpu_matmul(lr_backend *be, const float *x, int ldx, const float *w, const float *bias, float *y, int ldy, int M,
                int N, int K, int accumulate) {
    if (M <= 0 || N <= 0) return;
    int acc = accumulate;
    if (bias) {
        for (int r = 0; r < M; r++) {
            float *yr = y + (size_t)r * ldy; /* (N) */
            if (accumulate)
                for (int i = 0; i < N; i++) yr[i] += bias[i];
            else
                memcpy(yr, bias, (size_t)N * sizeof(float));
        }
        acc = 1;
    }
    if (K <= 0) {
        if (!acc)
            for (int r = 0; r < M; r++) memset(y + (size_t)r * ldy, 0, (size_t)N * sizeof(float));
        return;
    }
    lr_cpu_ctx *cx = be->ctx;
    const double flops = 2.0 * M * N * (double)K;
    const int nt = be->n_threads;
    const float *xt = NULL;
#if defined(__AVX512F__)
    if (M > TVEC_MIN_M && M <= SKINNY_MAX_M && cx->skinny_t) {
        const int mv = M <= 16 ? 1 : 2;
        const size_t need = (size_t)K * 16 * mv;
        if (need > cx->xt_cap) {
            free(cx->xt);
            cx->xt = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64);
            LR_CHECK(cx->xt != NULL, "out of memory");
            cx->xt_cap = need;
        }
        pack_xt(x, ldx, M, K, mv, cx->xt);
        xt = cx->xt;
    }
#endif
    if (!cx->gemm_omp) {
        if (M <= SKINNY_MAX_M && M > 1 && nt > 1 && N >= 64 * nt) {
            /* the small-M kernels are ours: thread them ourselves even in blas mode */
        } else {
            gemm_slice(x, ldx, xt, w, y, ldy, M, N, K, acc);
            return;
        }
    }
    if (nt <= 1 || flops < 2e5 || N < 32 * nt) {
        gemm_slice(x, ldx, xt, w, y, ldy, M, N, K, acc);
        return;
    }
    /* Column slices, multiples of 16 floats (one AVX-512 vector / cache line). */
    const int chunk = ((N + nt - 1) / nt + 15) / 16 * 16;
#pragma omp parallel num_threads(nt)
    {
        const int n0 = omp_get_thread_num() * chunk;
        const int nn = N - n0 < chunk ? N - n0 : chunk;
        if (nn > 0) gemm_slice(x, ldx, xt, w + (size_t)n0 * K, y + n0, ldy, M, nn, K, acc);
    }
}
