/* The CPU backend's bf16 emulation mode (backend.h: lr_backend_emulate_bf16):
 * the fp32 CPU path with bf16 rounding (round to nearest even) exactly where
 * the CUDA path rounds, so that CI can hold the GPU numerics contract of
 * SPEC §5 without a GPU:
 *   - every GEMM's inputs (matmul and the training gemm): activations x,
 *     gradients and fp32 weights (LoRA A/B, an fp32 checkpoint) are
 *     rounded to bf16; bf16 weights already are;
 *     products and sums in fp32, output fp32 (cuBLASLt: bf16 in, fp32
 *     compute, fp32 out);
 *   - attention's q, k and v (after RoPE; the KV cache is bf16 on the GPU),
 *     in the forward and in the training backward's recomputation;
 *     scores, softmax and the P·V accumulation stay fp32;
 *   - everything else (norms, residual stream, SwiGLU, log-softmax) fp32.
 * Rounding is idempotent, so rounding the k/v read by attention equals
 * rounding them when they are stored. With be->bf16_weights_only (the
 * trainer's bf16 frozen weights; backend.h) the CUDA trainer computes in
 * fp32 but for its bf16-weight GEMMs: so does the emulation then, rounding
 * only those GEMMs' inputs, or with be->bf16_split taking x as hi = bf16(x)
 * and lo = bf16(x - hi) and adding w·lo to w·hi. Slow (copies per call):
 * for tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "model/cpu_ops.h"

typedef struct emu_ctx {
    lr_backend base_ops; /* the wrapped backend's ops */
    float *buf[5];       /* scratch: x / w / q / k+v copies; x's remainder (bf16_split) */
    size_t cap[5];
} emu_ctx;

static emu_ctx *emu_of(lr_backend *be) { return ((lr_cpu_ctx *)be->ctx)->emu; }

/* The trainer's bf16 frozen weights (backend.h bf16_weights_only; a split
 * implies them): only the GEMMs through bf16 weights round, as on CUDA. */
static int trainer_bf16(const lr_backend *be) { return be->bf16_weights_only || be->bf16_split; }

float lr_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) { /* inf stays, NaN stays NaN */
        if (u & 0x007fffffu) u |= 0x00400000u;
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
    }
    u &= 0xffff0000u;
    float r;
    memcpy(&r, &u, 4);
    return r;
}

static float *scratch(emu_ctx *e, int i, size_t n) {
    if (n > e->cap[i]) {
        free(e->buf[i]);
        e->buf[i] = xmalloc(n * sizeof(float));
        e->cap[i] = n;
    }
    return e->buf[i];
}

/* dst (rows, cols) = bf16-rounded src (rows, ld)[:, 0:cols] */
static void round_rows(float *dst, const float *src, size_t rows, size_t cols, size_t ld) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) dst[r * cols + c] = lr_round_bf16(src[r * ld + c]);
}

/* hi (rows, cols) = bf16(src), lo = bf16(src - hi): bf16_split's halves */
static void split_rows(float *hi, float *lo, const float *src, size_t rows, size_t cols, size_t ld) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const float v = src[r * ld + c], h = lr_round_bf16(v);
            hi[r * cols + c] = h, lo[r * cols + c] = lr_round_bf16(v - h);
        }
}

static void emu_matmul(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy,
                       int M, int N, int K, int accumulate) {
    emu_ctx *e = emu_of(be);
    if (M <= 0 || N <= 0 || K <= 0 || (trainer_bf16(be) && w.dtype == LR_F32)) {
        e->base_ops.matmul(be, x, ldx, w, bias, y, ldy, M, N, K, accumulate);
        return;
    }
    if (be->bf16_split) { /* bf16 weights: y (+)= w·hi + bias, then += w·lo */
        float *hi = scratch(e, 0, (size_t)M * K), *lo = scratch(e, 4, (size_t)M * K); /* (M, K) each */
        split_rows(hi, lo, x, (size_t)M, (size_t)K, (size_t)ldx);
        e->base_ops.matmul(be, hi, K, w, bias, y, ldy, M, N, K, accumulate);
        e->base_ops.matmul(be, lo, K, w, NULL, y, ldy, M, N, K, 1);
        return;
    }
    float *xr = scratch(e, 0, (size_t)M * K); /* (M, K) */
    round_rows(xr, x, (size_t)M, (size_t)K, (size_t)ldx);
    if (w.dtype == LR_F32) {
        float *wr = scratch(e, 1, (size_t)N * K); /* (N, K) */
        round_rows(wr, w.data, (size_t)N, (size_t)K, (size_t)K);
        w = lr_weight_f32(wr);
    }
    e->base_ops.matmul(be, xr, K, w, bias, y, ldy, M, N, K, accumulate);
}

/* The training GEMM (backend.h gemm) as cuBLASLt will run it: A and B
 * rounded to bf16, products and sums fp32, C fp32 (beta · C in fp32). */
static void emu_gemm(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    emu_ctx *e = emu_of(be);
    if (M <= 0 || N <= 0 || K <= 0 || trainer_bf16(be)) { /* the trainer's: fp32 */
        e->base_ops.gemm(be, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int ra = trans_a ? K : M, ca = trans_a ? M : K; /* A as stored: (ra, ca) */
    const int rb = trans_b ? N : K, cb = trans_b ? K : N; /* B as stored: (rb, cb) */
    float *ar = scratch(e, 0, (size_t)ra * ca), *br = scratch(e, 1, (size_t)rb * cb);
    round_rows(ar, A, (size_t)ra, (size_t)ca, (size_t)lda);
    round_rows(br, B, (size_t)rb, (size_t)cb, (size_t)ldb);
    e->base_ops.gemm(be, trans_a, trans_b, M, N, K, alpha, ar, ca, br, cb, beta, C, ldc);
}

/* The bf16 q (T, qd) and k, v ((rows, kd) each, k then v in *kv) that
 * attention reads: every K/V row any sequence of the batch reads. */
typedef struct {
    float *q, *k, *v;
    int qd, kd;
} emu_qkv;
static emu_qkv round_qkv(emu_ctx *e, const float *q, int ldq, const float *k, const float *v, int ldkv, int n_heads,
                         int n_kv_heads, int head_dim, const lr_attn_batch *b) {
    const int T = b->q_off[b->n_seq];
    int64_t rows = 0; /* K/V rows any sequence reads */
    for (int s = 0; s < b->n_seq; s++) {
        const int64_t end = b->kv_row[s] + b->n_past[s] + (b->q_off[s + 1] - b->q_off[s]);
        if (end > rows) rows = end;
    }
    const size_t qd = (size_t)n_heads * head_dim, kd = (size_t)n_kv_heads * head_dim;
    emu_qkv r = {scratch(e, 2, (size_t)T * qd), scratch(e, 3, (size_t)rows * kd * 2), NULL, (int)qd, (int)kd};
    r.v = r.k + (size_t)rows * kd;
    round_rows(r.q, q, (size_t)T, qd, (size_t)ldq);
    round_rows(r.k, k, (size_t)rows, kd, (size_t)ldkv);
    round_rows(r.v, v, (size_t)rows, kd, (size_t)ldkv);
    return r;
}

static void emu_attention(lr_backend *be, const float *q, int ldq, const void *kv_k, const void *kv_v, int ldkv,
                          float *out, int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    LR_CHECK(b->kv_dtype == LR_F32, "the bf16 emulation's keys and values are fp32 (rounded here)");
    const float *k = kv_k, *v = kv_v; /* (rows, ldkv) */
    emu_ctx *e = emu_of(be);
    if (trainer_bf16(be)) { /* the trainer's attention in fp32 */
        e->base_ops.attention(be, q, ldq, k, v, ldkv, out, n_heads, n_kv_heads, head_dim, scale, b);
        return;
    }
    const emu_qkv r = round_qkv(e, q, ldq, k, v, ldkv, n_heads, n_kv_heads, head_dim, b);
    e->base_ops.attention(be, r.q, r.qd, r.k, r.v, r.kd, out, n_heads, n_kv_heads, head_dim, scale, b);
}

/* The training backward of attention recomputes the probabilities from
 * the same bf16 q, k, v the forward read; gradients stay fp32. */
static void emu_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                                   const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads,
                                   int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    emu_ctx *e = emu_of(be);
    if (trainer_bf16(be)) {
        e->base_ops.attention_backward(be, q, ldq, k, v, ldkv, dout, dq, dk, dv, ldd, n_heads, n_kv_heads, head_dim,
                                       scale, b);
        return;
    }
    const emu_qkv r = round_qkv(e, q, ldq, k, v, ldkv, n_heads, n_kv_heads, head_dim, b);
    e->base_ops.attention_backward(be, r.q, r.qd, r.k, r.v, r.kd, dout, dq, dk, dv, ldd, n_heads, n_kv_heads,
                                   head_dim, scale, b);
}

/* matmul_dx: the CPU's (its gemm is emu_gemm: dy rounded) unless the
 * trainer's bf16 weights (emu_gemm then passes through): with bf16_split
 * dx = hi·w, then += lo·w (fp32 sums); without, dy rounded here. */
static void emu_matmul_dx(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K) {
    emu_ctx *e = emu_of(be);
    if (!trainer_bf16(be) || w.dtype != LR_BF16 || M <= 0 || N <= 0 || K <= 0) {
        e->base_ops.matmul_dx(be, dy, w, dx, M, N, K);
        return;
    }
    if (!be->bf16_split) { /* one bf16 GEMM: dy rounded (the weights are bf16 already) */
        float *dyr = scratch(e, 0, (size_t)M * N); /* (M, N) */
        round_rows(dyr, dy, (size_t)M, (size_t)N, (size_t)N);
        e->base_ops.matmul_dx(be, dyr, w, dx, M, N, K);
        return;
    }
    float *hi = scratch(e, 0, (size_t)M * N), *lo = scratch(e, 4, (size_t)M * N); /* (M, N) each */
    split_rows(hi, lo, dy, (size_t)M, (size_t)N, (size_t)N);
    float *part = scratch(e, 1, (size_t)M * K); /* (M, K) */
    e->base_ops.matmul_dx(be, hi, w, dx, M, N, K);
    e->base_ops.matmul_dx(be, lo, w, part, M, N, K);
    for (size_t i = 0; i < (size_t)M * K; i++) dx[i] += part[i];
}

void lr_backend_emulate_bf16(lr_backend *be) {
    lr_cpu_ctx *cx = be->ctx;
    LR_CHECK(!strcmp(be->name, "cpu") && !cx->emu, "bf16 emulation wraps a plain CPU backend");
    emu_ctx *e = xcalloc(1, sizeof *e);
    e->base_ops = *be;
    cx->emu = e;
    be->name = "cpu-bf16-emulation";
    be->matmul = emu_matmul;
    be->attention = emu_attention;
    be->gemm = emu_gemm;
    be->attention_backward = emu_attention_backward;
    be->matmul_dx = emu_matmul_dx;
}

void lr_backend_emulate_bf16_free(lr_backend *be) {
    lr_cpu_ctx *cx = be->ctx;
    emu_ctx *e = cx->emu;
    if (!e) return;
    for (int i = 0; i < 5; i++) free(e->buf[i]);
    free(e);
    cx->emu = NULL;
}
