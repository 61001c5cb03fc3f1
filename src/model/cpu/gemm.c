/* Batch-invariant CPU matmul y (+)= x · wᵀ + b (backend.h), compiled once
 * per ISA (simd.h).
 *
 * Every output element y[m][n] is the same function of row m of x and row
 * n of w whatever M, N, the blocking, the thread count or the thread split:
 *     s = tree( lane chains of fma over k )      (simd.h)
 *     t = s + b[n]                               (when there is a bias)
 *     y = t, or y_old + t                        (accumulate)
 * so a token's logits do not depend on which other tokens share its
 * forward pass (scoring one trace or 64 at once, a decode batch of 1 or 16,
 * one rank or four), nor on OMP_NUM_THREADS. One register-blocked kernel
 * serves every M: MR token rows × NR weight rows, vectorised along k, so
 * weights are read in their (N, K) layout with no packing (decode streams
 * them once) and the per-element reduction needs no horizontal work until
 * the end.
 *
 * Blocking, two sweeps (gemm_range):
 *  - decode batches and long K: an m-block of token rows (as many as fill
 *    the core's L2, lr_cpu_ctx.x_block_bytes) is swept against every group
 *    of NR weight rows; each weight group is read from memory once per
 *    m-block and reused from L1 by the block's micro-tiles, and the first
 *    micro-tile of a group prefetches the next group (decode streams the
 *    weights: M <= 64 rows are one m-block up to K ~ 4K on a 1 MiB L2);
 *  - scoring and prefill (>= X_STAT_MIN_ROWS rows, short K): x-stationary,
 *    an m-tile's rows stay in L1 while a block of weight rows (half the L2)
 *    streams past from L2: fewer L2 loads per FMA (3 instead of 4 per 12 on
 *    AVX2), each weight block read from memory once.
 * Blocking and prefetching change which data is where, never an element's
 * operations.
 * Threads split the weight rows (N) when there are enough, else the token
 * rows (M). */
#include <omp.h>
#include <stddef.h>

/* Register blocking MR token rows × NR weight rows; -DLR_GEMM_MR/-DLR_GEMM_NR
 * override for tuning (results are the same bits for any choice). */
#if defined(LR_GEMM_NR)
#define NR LR_GEMM_NR
#elif LR_ISA == 1
#define NR 3 /* weight rows per micro-tile (3 or 4: one vf_hsum4 per token row) */
#else
#define NR 4
#endif
#if defined(LR_GEMM_MR)
#define MRMAX LR_GEMM_MR
#elif LR_ISA == 2
#define MRMAX 4 /* 16 accumulators + 4 weight vectors + 1 x vector of 32 zmm */
#elif LR_ISA == 1
/* 12 accumulators + 3 weight vectors + 1 x vector = all 16 ymm: 7 loads per 12
 * FMAs (a 3x4 tile needs 9: one weight vector cannot stay in a register);
 * measured +14% in L1, +5% at the model's shapes */
#define MRMAX 4
#else
#define MRMAX 4
#endif
#define X_BLOCK_DEFAULT ((size_t)1 << 20) /* when the backend does not know its L2 size */
/* x-stationary sweep (gemm_range): from X_STAT_MIN_ROWS token rows, when an m-tile's rows fit
 * X_STAT_L1_BYTES (half of a 32 KiB L1d). -D overrides for tuning: the same bits for any choice. */
#ifndef LR_GEMM_XSTAT_ROWS
#define X_STAT_MIN_ROWS 128
#else
#define X_STAT_MIN_ROWS LR_GEMM_XSTAT_ROWS
#endif
#define X_STAT_L1_BYTES ((size_t)16 << 10)

/* out (MR, 4) = x (MR rows, ldx) · w (NRR rows, ldw)ᵀ over k < K, lane sums
 * reduced by the fixed tree; columns >= NRR of out are don't-care. */
#define GEMM_KERN(MR, NRR, SUF, WT, WLOAD, WLOAD_N)                                                            \
    static void kern_##SUF##MR##x##NRR(const float *x, size_t ldx, const WT *w, size_t ldw, int K, float *out, \
                                       const WT *pf) {                                                         \
        vf a[MR][NRR];                                                                                         \
        for (int j = 0; j < MR; j++)                                                                           \
            for (int r = 0; r < NRR; r++) a[j][r] = vf_zero();                                                 \
        int k = 0;                                                                                             \
        for (; k + LANES <= K; k += LANES) {                                                                   \
            vf wv[NRR];                                                                                        \
            if (pf && (k * (int)sizeof(WT)) % 64 == 0)                                                         \
                for (int r = 0; r < NR; r++) __builtin_prefetch(pf + (size_t)r * ldw + k, 0, 1);                 \
            for (int r = 0; r < NRR; r++) wv[r] = WLOAD(w + (size_t)r * ldw + k);                              \
            for (int j = 0; j < MR; j++) {                                                                     \
                const vf xv = vf_load(x + (size_t)j * ldx + k);                                                \
                for (int r = 0; r < NRR; r++) a[j][r] = vf_fma(xv, wv[r], a[j][r]);                            \
            }                                                                                                  \
        }                                                                                                      \
        if (k < K) {                                                                                           \
            const int n = K - k;                                                                               \
            vf wv[NRR];                                                                                        \
            for (int r = 0; r < NRR; r++) wv[r] = WLOAD_N(w + (size_t)r * ldw + k, n);                         \
            for (int j = 0; j < MR; j++) {                                                                     \
                const vf xv = vf_load_n(x + (size_t)j * ldx + k, n);                                           \
                for (int r = 0; r < NRR; r++) a[j][r] = vf_fma(xv, wv[r], a[j][r]);                            \
            }                                                                                                  \
        }                                                                                                      \
        for (int j = 0; j < MR; j++)                                                                           \
            vf_hsum4(a[j][0], a[j][NRR > 1 ? 1 : 0], a[j][NRR > 2 ? 2 : 0], a[j][NRR > 3 ? 3 : 0], out + 4 * j); \
    }

/* fp32 weights (f_) and bf16 weights widened in the load (b_): the same
 * products and sums, so a bf16 checkpoint gives the bits of its fp32
 * widening. */
#define GEMM_KERN2(MR, NRR)                                                \
    GEMM_KERN(MR, NRR, f_, float, vf_load, vf_load_n)                      \
    GEMM_KERN(MR, NRR, b_, uint16_t, vf_load_bf16, vf_load_bf16_n)
#if NR == 4
#define GEMM_KERN_ROW(MR) GEMM_KERN2(MR, 1) GEMM_KERN2(MR, 2) GEMM_KERN2(MR, 3) GEMM_KERN2(MR, 4)
#define KROW(S, MR) {kern_##S##MR##x1, kern_##S##MR##x2, kern_##S##MR##x3, kern_##S##MR##x4}
#elif NR == 3
#define GEMM_KERN_ROW(MR) GEMM_KERN2(MR, 1) GEMM_KERN2(MR, 2) GEMM_KERN2(MR, 3)
#define KROW(S, MR) {kern_##S##MR##x1, kern_##S##MR##x2, kern_##S##MR##x3}
#else
#error "NR must be 3 or 4"
#endif
GEMM_KERN_ROW(1) GEMM_KERN_ROW(2)
#if MRMAX >= 3
GEMM_KERN_ROW(3)
#endif
#if MRMAX >= 4
GEMM_KERN_ROW(4)
#endif
#if MRMAX >= 5
GEMM_KERN_ROW(5)
#endif
#if MRMAX >= 6
GEMM_KERN_ROW(6)
#endif

/* One token row × 8 weight rows (decode at batch 1): twice the loads in
 * flight of the 1×4 tile, the same per-element lanes and tree. out (8). */
#define GEMM_KERN_1X8(SUF, WT, WLOAD, WLOAD_N)                                                             \
    static void kern_##SUF##1x8(const float *x, const WT *w, size_t ldw, int K, float *out) {              \
        vf a[8];                                                                                           \
        for (int r = 0; r < 8; r++) a[r] = vf_zero();                                                      \
        int k = 0;                                                                                         \
        for (; k + LANES <= K; k += LANES) {                                                               \
            const vf xv = vf_load(x + k);                                                                  \
            for (int r = 0; r < 8; r++) a[r] = vf_fma(xv, WLOAD(w + (size_t)r * ldw + k), a[r]);          \
        }                                                                                                  \
        if (k < K) {                                                                                       \
            const vf xv = vf_load_n(x + k, K - k);                                                         \
            for (int r = 0; r < 8; r++) a[r] = vf_fma(xv, WLOAD_N(w + (size_t)r * ldw + k, K - k), a[r]);  \
        }                                                                                                  \
        vf_hsum4(a[0], a[1], a[2], a[3], out);                                                             \
        vf_hsum4(a[4], a[5], a[6], a[7], out + 4);                                                         \
    }
GEMM_KERN_1X8(f_, float, vf_load, vf_load_n)
GEMM_KERN_1X8(b_, uint16_t, vf_load_bf16, vf_load_bf16_n)

typedef void (*gemm_kern_f)(const float *, size_t, const float *, size_t, int, float *, const float *);
typedef void (*gemm_kern_b)(const float *, size_t, const uint16_t *, size_t, int, float *, const uint16_t *);
#define KTABLE(S)                                     \
    {                                                 \
        KROW(S, 1), KROW(S, 2), KTABLE_3(S) KTABLE_4(S) KTABLE_5(S) KTABLE_6(S) \
    }
#if MRMAX >= 3
#define KTABLE_3(S) KROW(S, 3),
#else
#define KTABLE_3(S)
#endif
#if MRMAX >= 4
#define KTABLE_4(S) KROW(S, 4),
#else
#define KTABLE_4(S)
#endif
#if MRMAX >= 5
#define KTABLE_5(S) KROW(S, 5),
#else
#define KTABLE_5(S)
#endif
#if MRMAX >= 6
#define KTABLE_6(S) KROW(S, 6),
#else
#define KTABLE_6(S)
#endif
static const gemm_kern_f gemm_kerns_f[MRMAX][NR] = KTABLE(f_);
static const gemm_kern_b gemm_kerns_b[MRMAX][NR] = KTABLE(b_);

/* The epilogue every element gets, whatever tile computed it:
 * y (nr) = s + b, or y + (s + b) when accumulating. */
static inline void store_sums(float *y, const float *s, int nr, const float *bias, int acc) {
    for (int r = 0; r < nr; r++) {
        float t = s[r];
        if (bias) t += bias[r];
        y[r] = acc ? y[r] + t : t;
    }
}

/* One micro-tile: rows [m, m+mr) × weight rows [n, n+nr) of y; pf: prefetch
 * the next weight group into L2 while computing (prefetcht2: into L1 it
 * evicts the tile's own operands; measured +25% at M = 16). */
static inline void gemm_tile(const float *x, int ldx, lr_weight w, size_t ldw, const float *bias, float *y, int ldy,
                             int K, int acc, int m, int mr, int n, int nr, int pf, float *out) {
    const float *xm = x + (size_t)m * ldx; /* (mr, ldx) */
    if (w.dtype == LR_BF16) {
        const uint16_t *wn = (const uint16_t *)w.data + (size_t)n * ldw; /* (nr, ldw) */
        gemm_kerns_b[mr - 1][nr - 1](xm, (size_t)ldx, wn, ldw, K, out, pf ? wn + (size_t)NR * ldw : NULL);
    } else {
        const float *wn = (const float *)w.data + (size_t)n * ldw; /* (nr, ldw) */
        gemm_kerns_f[mr - 1][nr - 1](xm, (size_t)ldx, wn, ldw, K, out, pf ? wn + (size_t)NR * ldw : NULL);
    }
    for (int j = 0; j < mr; j++)
        store_sums(y + (size_t)(m + j) * ldy + n, out + 4 * j, nr, bias ? bias + n : NULL, acc);
}

/* Rows of the next m-tile starting with `left` rows to go: full tiles; a last
 * row never runs alone (a 1-row tile has too few independent FMA chains to
 * hide the latency): MRMAX+1 rows left go as 2 + (MRMAX-1). */
static inline int tile_rows(int left) { return left == MRMAX + 1 ? 2 : left < MRMAX ? left : MRMAX; }

/* Rows [m0, m1) × weight rows [n0, n1) of y; weight row n at w + n·ldw. */
static void gemm_range(const float *x, int ldx, lr_weight w, size_t ldw, const float *bias, float *y, int ldy, int K,
                       int acc, int m0, int m1, int n0, int n1, size_t xb) {
    float out[MRMAX * 4 > 8 ? MRMAX * 4 : 8];
    if (m1 - m0 >= X_STAT_MIN_ROWS && (size_t)MRMAX * K * sizeof(float) <= X_STAT_L1_BYTES) {
        /* many rows, short K (scoring, prefill): an m-tile's x rows stay in L1 while a block of
         * weight rows (half the L2) streams past from L2, each block read from memory once:
         * 3 loads from L2 per 12 FMAs instead of 4 (AVX2), measured +10% at M = 512 */
        const size_t wsz = w.dtype == LR_BF16 ? sizeof(uint16_t) : sizeof(float);
        int nb_rows = (int)(xb / 2 / ((size_t)K * wsz)) / NR * NR;
        if (nb_rows < NR) nb_rows = NR;
        for (int nb = n0; nb < n1; nb += nb_rows) {
            const int ne = nb + nb_rows < n1 ? nb + nb_rows : n1;
            for (int m = m0, mr; m < m1; m += mr) {
                mr = tile_rows(m1 - m);
                for (int n = nb; n < ne; n += NR)
                    gemm_tile(x, ldx, w, ldw, bias, y, ldy, K, acc, m, mr, n, n1 - n < NR ? n1 - n : NR,
                              m == m0 && n + 2 * NR <= n1, out);
            }
        }
        return;
    }
    /* else (decode batches, long K) an m-block of x rows stays in L2 (as many as fill it) while
     * every weight group streams past, reused from L1 by the block's m-tiles */
    int mb_rows = (int)(xb / ((size_t)K * sizeof(float))) / MRMAX * MRMAX;
    if (mb_rows < MRMAX) mb_rows = MRMAX;
    for (int mb = m0; mb < m1; mb += mb_rows) {
        const int me = mb + mb_rows < m1 ? mb + mb_rows : m1;
        int n = n0;
        if (me - mb == 1) /* one token row: 8 weight rows at a time, the rest below */
            for (; n + 8 <= n1; n += 8) {
                const float *xm = x + (size_t)mb * ldx; /* (K) */
                if (w.dtype == LR_BF16)
                    kern_b_1x8(xm, (const uint16_t *)w.data + (size_t)n * ldw, ldw, K, out);
                else
                    kern_f_1x8(xm, (const float *)w.data + (size_t)n * ldw, ldw, K, out);
                store_sums(y + (size_t)mb * ldy + n, out, 8, bias ? bias + n : NULL, acc);
            }
        for (; n < n1; n += NR)
            for (int m = mb, mr; m < me; m += mr) {
                mr = tile_rows(me - m);
                /* the first m-tile of a weight group prefetches the next group */
                gemm_tile(x, ldx, w, ldw, bias, y, ldy, K, acc, m, mr, n, n1 - n < NR ? n1 - n : NR,
                          m == mb && n + 2 * NR <= n1, out);
            }
    }
}

static void cpu_matmul(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy,
                       int M, int N, int K, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty product: y (+)= bias or 0 */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                const float t = bias ? bias[n] + 0.0f : 0.0f;
                float *o = y + (size_t)m * ldy + n;
                *o = accumulate ? *o + t : t;
            }
        return;
    }
    const lr_cpu_ctx *cx = be->ctx;
    const size_t xb = cx && cx->x_block_bytes ? cx->x_block_bytes : X_BLOCK_DEFAULT;
    const double flops = 2.0 * M * N * (double)K;
    int nt = be->n_threads;
    if (nt < 1 || flops < 2e5) nt = 1;
    if (nt == 1) {
        gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, 0, M, 0, N, xb);
        return;
    }
    /* Split the weight rows when each thread gets at least 16 of them (in
     * groups of NR), else the token rows. Either way each element is
     * computed by exactly one call with the same inputs. */
    const int by_n = N >= 16 * nt;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (by_n) {
            const int groups = (N + NR - 1) / NR;
            const int g0 = (int)((long)groups * t / T), g1 = (int)((long)groups * (t + 1) / T);
            const int n0 = g0 * NR, n1 = g1 * NR < N ? g1 * NR : N;
            if (n0 < n1) gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, 0, M, n0, n1, xb);
        } else {
            const int m0 = (int)((long)M * t / T), m1 = (int)((long)M * (t + 1) / T);
            if (m0 < m1) gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, m0, m1, 0, N, xb);
        }
    }
}
