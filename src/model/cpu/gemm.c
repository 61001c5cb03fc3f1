/* Batch-invariant CPU matmul y (+)= x · wᵀ + b (backend.h), compiled once
 * per ISA (simd.h).
 *
 * Every output element y[m][n] is one sequential fma chain over k,
 *     s = 0;  for k = 0 .. K-1:  s = fma(x[m][k], w[n][k], s)
 *     t = s + b[n]                               (when there is a bias)
 *     y = t, or y_old + t                        (accumulate)
 * whatever M, N, the blocking, the thread count or the thread split: a
 * token's logits do not depend on which other tokens share its forward
 * pass (scoring one trace or 64 at once, a decode batch of 1 or 16, one
 * rank or four), nor on OMP_NUM_THREADS. fma rounds once, so the AVX2 and
 * AVX-512 paths give the same bits too (the portable path multiplies then
 * adds: its own bits, the same invariances).
 *
 * The shape is the GotoBLAS/BLIS one (outer products, vectorised along n):
 * a panel of NP weight rows and KC columns of k is packed k-major into an
 * L1-resident buffer (transposed, bf16 widened to fp32: packing copies
 * values, it computes nothing), and a micro-kernel runs MR token rows × NP
 * weight rows over it in registers, broadcasting one x value per row and
 * step. The loops are BLIS's: an m-block of x rows (one k-block of them
 * in L2) meets a block of NC weight rows panel by panel, then the next
 * k-block; the running sums of the (MC, NC) block wait in a per-thread
 * scratch between k-blocks: storing and reloading an fp32 partial sum is
 * exact, so k-blocking leaves every chain intact.
 * Decode batches take two other shapes of the same chains, reading the
 * weights from memory once with no packing: 4..2·LANES rows transpose x
 * once and broadcast each weight against vectors of token rows (ws_tile);
 * 1..3 rows transpose 8 × 8 weight blocks in registers (direct_tile).
 * Threads split the weight rows (N) when there are enough, else the
 * token rows (M). */
#include <omp.h>
#include <stddef.h>

/* Register tile MR token rows × NP weight rows (NP = 2 vectors: MR·2
 * accumulators, 2 weight vectors and a broadcast fill the register file);
 * KC: a packed panel (KC, NP) is 16 KiB, half an L1d, for the many row
 * tiles of scoring; decode batches (<= DEC_ROWS rows: a few tiles per
 * panel) take KC_DEC columns at once, so each weight row is read in long
 * sequential runs and the panel is reused from L2. */
#if LR_ISA == 2
#define NP 32
#define MR 12 /* 24 accumulators + 2 weight vectors + 1 broadcast of 32 zmm */
#define KC 128
#elif LR_ISA == 1
#define NP 16
#define MR 6 /* 12 accumulators + 2 weight vectors + 1 broadcast of 16 ymm */
#define KC 256
#else
#define NP 16
#define MR 4
#define KC 256
#endif
#define KC_DEC 1024
#define DEC_ROWS 64
#define MC_MAX 528                            /* rows of an m-block (a multiple of every MR) */
#define NC 512                                /* weight rows per block of scoring */
#define SUMS_PER_THREAD ((size_t)MC_MAX * NC) /* floats: the running sums of an (MC_MAX, NC) block */
#define X_BLOCK_DEFAULT ((size_t)1 << 20)     /* when the backend does not know its L2 size */

/* s (R, NP) (+)= a (R rows, lda) · bp (kc, NP), each element one fma chain
 * over k in order; first: the chains start from 0, else from s. */
static inline __attribute__((always_inline)) void micro_tile(const int R, int kc, const float *a, size_t lda,
                                                             const float *bp, float *s, int first) {
    vf c0[MR], c1[MR];
    for (int j = 0; j < R; j++) {
        c0[j] = first ? vf_zero() : vf_load(s + (size_t)j * NP);
        c1[j] = first ? vf_zero() : vf_load(s + (size_t)j * NP + LANES);
    }
    for (int k = 0; k < kc; k++) {
        const vf b0 = vf_load(bp + (size_t)k * NP), b1 = vf_load(bp + (size_t)k * NP + LANES);
        for (int j = 0; j < R; j++) {
            const vf aj = vf_set1(a[(size_t)j * lda + k]);
            c0[j] = vf_fma(aj, b0, c0[j]);
            c1[j] = vf_fma(aj, b1, c1[j]);
        }
    }
    for (int j = 0; j < R; j++) {
        vf_store(s + (size_t)j * NP, c0[j]);
        vf_store(s + (size_t)j * NP + LANES, c1[j]);
    }
}
/* One micro-tile of mr (1..MR) rows: a copy of micro_tile per row count,
 * each with its accumulators in registers. */
static void micro(int mr, int kc, const float *a, size_t lda, const float *bp, float *s, int first) {
    switch (mr) {
#define MICRO_CASE(R)                                                                                                  \
    case R: micro_tile(R, kc, a, lda, bp, s, first); break;
        MICRO_CASE(1)
        MICRO_CASE(2)
        MICRO_CASE(3)
        MICRO_CASE(4)
#if MR > 4
        MICRO_CASE(5)
        MICRO_CASE(6)
#endif
#if MR > 6
        MICRO_CASE(7)
        MICRO_CASE(8)
        MICRO_CASE(9)
        MICRO_CASE(10)
        MICRO_CASE(11)
        MICRO_CASE(12)
#endif
#undef MICRO_CASE
    default: break;
    }
}

/* Weight element (n, k) as fp32 (bf16 widened exactly: its bits go to the top half). */
static inline float w_at(lr_weight w, size_t ldw, int n, int k) {
    if (w.dtype == LR_BF16) {
        const uint32_t u = (uint32_t)((const uint16_t *)w.data)[(size_t)n * ldw + k] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return ((const float *)w.data)[(size_t)n * ldw + k];
}

#if LR_ISA >= 1
/* Decode streams the weights once: weight rows [row0, row0 + rows) at
 * column k into L2 (prefetcht1; into L1 it would evict the tile's own
 * operands), one call per 64-byte line of k, while the rows before them
 * compute. */
static inline void prefetch_rows(lr_weight w, size_t ldw, int row0, int rows, int k) {
    const size_t wsz = lr_dtype_size(w.dtype);
    if ((size_t)k * wsz % 64) return;
    for (int r = 0; r < rows; r++)
        _mm_prefetch((const char *)w.data + ((size_t)(row0 + r) * ldw + (size_t)k) * wsz, _MM_HINT_T1);
}

/* r[i] (row i, 8 values of k) -> r[k] (column k, 8 values of i). */
static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
static inline __m256 load8_w(lr_weight w, size_t at) {
    if (w.dtype == LR_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w.data + at))), 16));
    return _mm256_loadu_ps((const float *)w.data + at);
}

/* Decode (M <= DIRECT_ROWS): s (R, ld) = x (R rows, ldx) · w[n .. n+DNP)ᵀ over all
 * of K without the packed buffer: each 8 × 8 block of weights is transposed
 * in registers and used at once, the same chains in the same order as the
 * packed path (one weight stream from memory, no store and reload of it). */
#define DIRECT_ROWS 3
/* weight rows per direct tile on every ISA: 32 interleaved row streams (AVX-512's NP) ran at half the speed */
#define DNP 16
static inline __attribute__((always_inline)) void direct_tile(const int R, const float *x, size_t ldx, lr_weight w,
                                                              size_t ldw, int n, int K, int pf, float *s, size_t ld) {
    __m256 c[DIRECT_ROWS][DNP / 8];
    for (int j = 0; j < R; j++)
        for (int g = 0; g < DNP / 8; g++) c[j][g] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        if (pf) prefetch_rows(w, ldw, n + DNP, DNP, k); /* the next tile */
        for (int g = 0; g < DNP / 8; g++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = load8_w(w, (size_t)(n + 8 * g + i) * ldw + (size_t)k);
            transpose8(r);
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < R; j++)
                    c[j][g] = _mm256_fmadd_ps(_mm256_set1_ps(x[(size_t)j * ldx + k + i]), r[i], c[j][g]);
        }
    }
    for (; k < K; k++)
        for (int g = 0; g < DNP / 8; g++) {
            float col[8];
            for (int i = 0; i < 8; i++) col[i] = w_at(w, ldw, n + 8 * g + i, k);
            const __m256 r = _mm256_loadu_ps(col);
            for (int j = 0; j < R; j++) c[j][g] = _mm256_fmadd_ps(_mm256_set1_ps(x[(size_t)j * ldx + k]), r, c[j][g]);
        }
    for (int j = 0; j < R; j++)
        for (int g = 0; g < DNP / 8; g++) _mm256_storeu_ps(s + (size_t)j * ld + 8 * g, c[j][g]);
}
/* s (mr, NP) for the panel at weight row n, DNP rows at a time; pf: the
 * next panel exists (prefetch into it). */
static void direct(int mr, const float *x, size_t ldx, lr_weight w, size_t ldw, int n, int K, int pf, float *s) {
    for (int g = 0; g < NP; g += DNP) {
        const int p = pf || g + DNP < NP;
        if (mr == 1) direct_tile(1, x, ldx, w, ldw, n + g, K, p, s + g, NP);
        else if (mr == 2) direct_tile(2, x, ldx, w, ldw, n + g, K, p, s + g, NP);
        else direct_tile(3, x, ldx, w, ldw, n + g, K, p, s + g, NP);
    }
}
#endif

/* bp (kc, NP): bp[k][j] = w[n + j][k0 + k] for j < nr, 0 for nr <= j < NP
 * (the padding columns compute zeros nobody stores). */
static void pack_panel(lr_weight w, size_t ldw, int n, int nr, int k0, int kc, int pf, float *bp) {
    int j = 0;
#if LR_ISA >= 1
    for (; j + 8 <= nr; j += 8) {
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            if (pf) prefetch_rows(w, ldw, n + NP + j, 8, k0 + k); /* the same block of the next panel */
            for (int i = 0; i < 8; i++) r[i] = load8_w(w, (size_t)(n + j + i) * ldw + (size_t)(k0 + k));
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_store_ps(bp + (size_t)(k + i) * NP + j, r[i]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) bp[(size_t)k * NP + j + i] = w_at(w, ldw, n + j + i, k0 + k);
    }
#endif
    for (int k = 0; k < kc; k++) {
        float *row = bp + (size_t)k * NP; /* (NP) */
        for (int i = j; i < nr; i++) row[i] = w_at(w, ldw, n + i, k0 + k);
        for (int i = nr; i < NP; i++) row[i] = 0.0f;
    }
}

/* The epilogue every element gets, whatever tile computed it:
 * y (nr) = s + b, or y + (s + b) when accumulating. */
static inline void store_sums(float *y, const float *s, int nr, const float *bias, int acc) {
    for (int r = 0; r < nr; r++) {
        float t = s[r];
        if (bias) t += bias[r];
        y[r] = acc ? y[r] + t : t;
    }
}

/* Rows of the next micro-tile with `left` rows to go: full tiles, and a
 * remainder between MR and 2·MR split in two near-equal tiles (more chains
 * per tile than a short last one). Any split gives the same bits. */
static inline int tile_rows(int left) { return left <= MR ? left : left < 2 * MR ? (left + 1) / 2 : MR; }

/* Rows [m0, m1) × weight rows [n0, n1) of y; weight row n at w + n·ldw;
 * xb: bytes of x rows an m-block may keep in L2; sums: this thread's
 * running sums, (MC_MAX, NC) floats.
 * Scoring/prefill runs the BLIS loop order: an m-block of x rows (MC rows ×
 * KC columns, sized to L2) meets a block of NC weight rows one k-block at a
 * time, every panel of the block in turn (packed into L1), so the x block is
 * read from L2 by NC / NP panels before the next k-block; the running sums
 * of the (MC, NC) block wait in `sums` between k-blocks. Decode (<= DEC_ROWS
 * rows) blocks by one panel and KC_DEC columns: the weights stream from
 * memory once in long runs. */
static void gemm_range(const float *x, int ldx, lr_weight w, size_t ldw, const float *bias, float *y, int ldy, int K,
                       int acc, int m0, int m1, int n0, int n1, size_t xb, float *sums) {
    _Alignas(64) float bp[KC_DEC * NP]; /* (kcb, NP) the packed weight panel */
    const int dec = m1 - m0 <= DEC_ROWS;
    const int kcb = dec ? KC_DEC : KC, ncb = dec ? NP : NC; /* k columns per panel, weight rows per block */
    int mc = (int)(xb / 2 / ((size_t)KC * sizeof(float)));  /* x rows whose k-block fills half of L2 */
    if (mc > MC_MAX) mc = MC_MAX;
    if (mc < MR) mc = MR;
    const int blocks = (m1 - m0 + mc - 1) / mc; /* m-blocks of near-equal rows (whole tiles but the last) */
    mc = ((m1 - m0 + blocks - 1) / blocks + MR - 1) / MR * MR;
    if (mc > MC_MAX) mc = MC_MAX / MR * MR;
    for (int mb = m0; mb < m1; mb += mc) {
        const int me = mb + mc < m1 ? mb + mc : m1;
        for (int jc = n0; jc < n1; jc += ncb) {
            const int je = jc + ncb < n1 ? jc + ncb : n1;
#if LR_ISA >= 1
            if (me - mb <= DIRECT_ROWS && je - jc == NP) {
                direct(me - mb, x + (size_t)mb * ldx, (size_t)ldx, w, ldw, jc, K, jc + 2 * NP <= n1, sums);
                for (int m = mb; m < me; m++)
                    store_sums(y + (size_t)m * ldy + jc, sums + (size_t)(m - mb) * NP, NP, bias ? bias + jc : NULL,
                               acc);
                continue;
            }
#endif
            for (int k0 = 0; k0 < K; k0 += kcb) {
                const int kc = K - k0 < kcb ? K - k0 : kcb;
                for (int n = jc; n < je; n += NP) {
                    float *ps = sums + (size_t)((n - jc) / NP) * mc * NP; /* (mc, NP) this panel's sums */
                    pack_panel(w, ldw, n, je - n < NP ? je - n : NP, k0, kc, n + 2 * NP <= n1, bp);
                    for (int m = mb, mr; m < me; m += mr) {
                        mr = tile_rows(me - m);
                        micro(mr, kc, x + (size_t)m * ldx + k0, (size_t)ldx, bp, ps + (size_t)(m - mb) * NP, k0 == 0);
                    }
                }
            }
            for (int n = jc; n < je; n += NP) {
                const float *ps = sums + (size_t)((n - jc) / NP) * mc * NP;
                for (int m = mb; m < me; m++)
                    store_sums(y + (size_t)m * ldy + n, ps + (size_t)(m - mb) * NP, je - n < NP ? je - n : NP,
                               bias ? bias + n : NULL, acc);
            }
        }
    }
}

#if LR_ISA >= 1
/* Decode batches of WS_MIN_ROWS..WS_ROWS rows: the roles swap. x is
 * transposed once per call (xt (K, WS_ROWS), k-major, zero-padded rows) and
 * a tile of MR weight rows is read straight from the weights, one broadcast
 * per row and k, against two vectors of token rows: no packing or transposes
 * of the weights, which stream from memory once. Every element is still the
 * one fma chain over k in order (and then the same epilogue), so the bits
 * are those of every other path. */
#define WS_ROWS (2 * LANES)
#define WS_MIN_ROWS 4
#define WS_KB 64 /* k per block of bf16 weight rows widened at once */
/* V: vectors of token rows (1 when M <= LANES: no lanes of padding rows). */
static inline __attribute__((always_inline)) void ws_tile(const int R, const int V, const float *xt, lr_weight w,
                                                          size_t ldw, int n, int K, int pf,
                                                          float *t /* (R, WS_ROWS) */) {
    vf c0[MR], c1[MR];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = vf_zero();
    int k = 0;
    if (w.dtype == LR_BF16) { /* WS_KB k at a time: the R rows widened with vector ops into L1, then broadcast */
        _Alignas(32) float wb[MR * WS_KB];     /* (R, WS_KB); a block long enough that its stores have */
        for (; k + WS_KB <= K; k += WS_KB) { /* left the store buffer before the broadcasts read them */
            if (pf)
                for (int kk = 0; kk < WS_KB; kk += 32) prefetch_rows(w, ldw, n + MR, MR, k + kk); /* the next tile */
            for (int r = 0; r < R; r++)
                for (int kk = 0; kk < WS_KB; kk += 8)
                    _mm256_store_ps(wb + WS_KB * r + kk, load8_w(w, (size_t)(n + r) * ldw + (size_t)(k + kk)));
            for (int i = 0; i < WS_KB; i++) {
                const float *xk = xt + (size_t)(k + i) * WS_ROWS;
                const vf xa = vf_load(xk), xb = V == 2 ? vf_load(xk + LANES) : xa;
                for (int r = 0; r < R; r++) {
                    const vf wv = vf_set1(wb[WS_KB * r + i]);
                    c0[r] = vf_fma(xa, wv, c0[r]);
                    if (V == 2) c1[r] = vf_fma(xb, wv, c1[r]);
                }
            }
        }
    }
    for (; k < K; k++) { /* fp32 weights, and a bf16 tail */
        if (pf) prefetch_rows(w, ldw, n + MR, MR, k); /* the next tile */
        const vf xa = vf_load(xt + (size_t)k * WS_ROWS), xb = V == 2 ? vf_load(xt + (size_t)k * WS_ROWS + LANES) : xa;
        for (int r = 0; r < R; r++) {
            const vf wv = vf_set1(w_at(w, ldw, n + r, k));
            c0[r] = vf_fma(xa, wv, c0[r]);
            if (V == 2) c1[r] = vf_fma(xb, wv, c1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        vf_store(t + (size_t)r * WS_ROWS, c0[r]);
        if (V == 2) vf_store(t + (size_t)r * WS_ROWS + LANES, c1[r]);
    }
}

/* Weight rows [n0, n1) of y (M rows) from xt. */
static void gemm_ws_range(const float *xt, int M, lr_weight w, size_t ldw, const float *bias, float *y, int ldy, int K,
                          int acc, int n0, int n1) {
    _Alignas(64) float t[MR * WS_ROWS]; /* (MR, WS_ROWS) one tile's sums */
    for (int n = n0; n < n1; n += MR) {
        const int nr = n1 - n < MR ? n1 - n : MR, pf = n + 2 * MR <= n1;
        if (nr == MR && M <= LANES) ws_tile(MR, 1, xt, w, ldw, n, K, pf, t);
        else if (nr == MR) ws_tile(MR, 2, xt, w, ldw, n, K, pf, t);
        else
            for (int r = 0; r < nr; r++) ws_tile(1, 2, xt, w, ldw, n + r, K, 0, t + (size_t)r * WS_ROWS);
        for (int m = 0; m < M; m++)
            for (int r = 0; r < nr; r++) {
                float s = t[(size_t)r * WS_ROWS + m];
                if (bias) s += bias[n + r];
                float *o = y + (size_t)m * ldy + n + r;
                *o = acc ? *o + s : s;
            }
    }
}

/* xt (K, WS_ROWS) = the M rows of x transposed, rows >= M zero. */
static void transpose_x(const float *x, int ldx, int M, int K, float *xt) {
    for (int k = 0; k < K; k++) {
        float *row = xt + (size_t)k * WS_ROWS; /* (WS_ROWS) */
        for (int m = 0; m < M; m++) row[m] = x[(size_t)m * ldx + k];
        for (int m = M; m < WS_ROWS; m++) row[m] = 0.0f;
    }
}
#endif

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
    lr_cpu_ctx *cx = be->ctx;
    const size_t xb = cx->x_block_bytes ? cx->x_block_bytes : X_BLOCK_DEFAULT;
    const double flops = 2.0 * M * N * (double)K;
    int nt = be->n_threads;
    if (nt < 1 || flops < 2e5) nt = 1;
#if LR_ISA >= 1
    if (M >= WS_MIN_ROWS && M <= WS_ROWS) { /* a decode batch: weights broadcast, x transposed once */
        cx->xt = lr_cpu_grow(cx->xt, &cx->xt_cap, (size_t)K * WS_ROWS, sizeof(float));
        transpose_x(x, ldx, M, K, cx->xt);
        const float *xt = cx->xt;
        const int tiles = (N + MR - 1) / MR;
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), T = omp_get_num_threads();
            const int n0 = (int)((long)tiles * t / T) * MR, n1 = (int)((long)tiles * (t + 1) / T) * MR;
            if (n0 < N) gemm_ws_range(xt, M, w, (size_t)K, bias, y, ldy, K, accumulate, n0, n1 < N ? n1 : N);
        }
        return;
    }
#endif
    cx->sums = lr_cpu_grow(cx->sums, &cx->sums_cap, (size_t)nt * SUMS_PER_THREAD, sizeof(float));
    if (nt == 1) {
        gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, 0, M, 0, N, xb, cx->sums);
        return;
    }
    /* Split the weight panels when each thread gets at least one, else the
     * token rows. Either way each element is computed by exactly one call
     * with the same inputs. */
    const int panels = (N + NP - 1) / NP, by_n = panels >= 2 * nt || M < 2 * MR;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *sums = cx->sums + (size_t)t * SUMS_PER_THREAD; /* (MC_MAX, NC) */
        if (by_n) {
            const int g0 = (int)((long)panels * t / T), g1 = (int)((long)panels * (t + 1) / T);
            const int n0 = g0 * NP, n1 = g1 * NP < N ? g1 * NP : N;
            if (n0 < n1) gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, 0, M, n0, n1, xb, sums);
        } else {
            const int m0 = (int)((long)M * t / T), m1 = (int)((long)M * (t + 1) / T);
            if (m0 < m1) gemm_range(x, ldx, w, (size_t)K, bias, y, ldy, K, accumulate, m0, m1, 0, N, xb, sums);
        }
    }
}
