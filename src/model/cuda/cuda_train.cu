// The CUDA backend's training ops (backend.h: gemm, the backwards, dropout,
// the KL loss and the small column ops), each against its CPU reference in
// src/model/cpu/ (tools/gpu_check: gpu_test ops, gpu_test train). fp32
// throughout; sums the CPU does in fp64 are fp64 here; every reduction runs
// in a fixed order for a given shape (no atomics), so a step's results do
// not change from run to run.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/cuda/cuda_internal.h"
#include "model/cuda/cuda_reduce.cuh"

// ---- gemm: C (M, N) = alpha op(A) op(B) + beta C, row-major. In cuBLAS's
// column-major terms C^T (N x M) = alpha op(B)^T op(A)^T + beta C^T, and a
// row-major (r, c) matrix with stride ld is the column-major (c x r) matrix
// with the same stride: B^T is B as stored (transa = N) unless trans_b, A^T
// likewise for the second operand. fp32 compute without TF32, as the CPU's
// sgemm (LR_CUDA_MATH=tf32: TF32 tensor cores). Descriptors per call (the
// trainer's GEMMs are few and large).
__global__ void scale_cols_kernel(float *c, int ldc, int M, int N, float beta) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < N; j += gridDim.x * blockDim.x) {
            float *p = c + (size_t)r * ldc + j;
            *p = beta == 0.0f ? 0.0f : beta * *p;
        }
}

// When cuBLASLt offers no algorithm (an unusual stride or alignment): one
// thread per element, the dot product over k in order.
__global__ void gemm_fallback_kernel(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                                     const float *B, int ldb, float beta, float *C, int ldc) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < N; j += gridDim.x * blockDim.x) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s = fmaf(ta ? A[(size_t)k * lda + r] : A[(size_t)r * lda + k],
                         tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j], s);
            float *c = C + (size_t)r * ldc + j;
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
}

void lr_cuda_gemm(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // C = beta C
        scale_cols_kernel<<<lr_cuda_row_grid(M, N, 1, 256), 256, 0, cx->stream>>>(C, ldc, M, N, beta);
        LR_CUDA_LAUNCHED();
        return;
    }
    // the plan cached per shape, strides and alignments (cuda_gemm.cu); cuBLAS A = B, B = A (column-major)
    const int op = LR_GEMM_OP_TRAIN + ((trans_a != 0) << 1 | (trans_b != 0));
    const lr_gemm_key key = lr_gemm_train_key(op, LR_F32, M, N, K, lda, ldb, ldc, B, A, C);
    if (lr_cuda_gemm_train_lt(cx, &key, alpha, B, A, beta, C) != 0) { // none for this shape, or forced (tests)
        gemm_fallback_kernel<<<lr_cuda_row_grid(M, N, 1, 128), 128, 0, cx->stream>>>(trans_a, trans_b, M, N, K, alpha,
                                                                                     A, lda, B, ldb, beta, C, ldc);
        LR_CUDA_LAUNCHED();
    }
}

// ---- rmsnorm backward: dx += rstd w dy - x rstd^3 (sum_j w_j dy_j x_j) / d,
// the sums in fp64, rstd in fp32 as the forward (ops.c).
__global__ void rmsnorm_backward_kernel(const float *x, const float *w, const float *dy, float *dx, int d, float eps) {
    __shared__ double red[32];
    const float *xr = x + (size_t)blockIdx.x * d, *gr = dy + (size_t)blockIdx.x * d;
    float *o = dx + (size_t)blockIdx.x * d;
    double ss = 0.0, dot = 0.0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        ss += (double)xr[i] * xr[i];
        dot += (double)w[i] * gr[i] * xr[i];
    }
    ss = block_sum(ss, red);
    dot = block_sum(dot, red);
    const float rstd = 1.0f / sqrtf((float)(ss / d) + eps);
    const float c = (float)(dot * (double)rstd * rstd * rstd / d);
    for (int j = threadIdx.x; j < d; j += blockDim.x) o[j] += rstd * w[j] * gr[j] - xr[j] * c;
}

void lr_cuda_rmsnorm_backward(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                              float eps) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0) return;
    rmsnorm_backward_kernel<<<M, 256, 0, cx->stream>>>(x, w, dy, dx, d, eps);
    LR_CUDA_LAUNCHED();
}

// ---- rope backward: the forward at -pos ((-p) f = -(p f) exactly in fp32)
void lr_cuda_rope_backward(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                           const float *inv_freq) {
    if (M <= 0) return;
    int32_t *neg = (int32_t *)malloc((size_t)M * sizeof *neg);
    if (!neg) lr_die_internal(__FILE__, __LINE__, "out of memory");
    for (int r = 0; r < M; r++) neg[r] = -pos[r];
    lr_cuda_rope(be, dx, ld, M, n_heads, head_dim, neg, inv_freq); // copies neg before returning
    free(neg);
}

// ---- swiglu backward: d/du = g s(g), d/dg = s(g) (1 + g (1 - s(g))) u
__global__ void swiglu_backward_kernel(const float *gu, const float *dact, float *dgu, int M, int inter) {
    for (int r = blockIdx.y; r < M; r += gridDim.y) {
        const float *g = gu + (size_t)r * 2 * inter, *u = g + inter, *da = dact + (size_t)r * inter;
        float *dg = dgu + (size_t)r * 2 * inter, *du = dg + inter;
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < inter; i += gridDim.x * blockDim.x) {
            const float sg = 1.0f / (1.0f + expf(-g[i]));
            du[i] = da[i] * g[i] * sg;
            dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

void lr_cuda_swiglu_backward(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if ((size_t)M * inter == 0) return;
    swiglu_backward_kernel<<<lr_cuda_row_grid(M, inter, 1, 256), 256, 0, cx->stream>>>(gu, dact, dgu, M, inter);
    LR_CUDA_LAUNCHED();
}

// ---- attention backward (sequences without a cache), three passes with
// no atomics: (1) per query row and head its log-sum-exp and
// delta = sum_j p_j (dout . v_j); (2) dq = scale sum_j p_j (dout . v_j -
// delta) k_j; (3) per key row and KV head, over the group's query heads and
// the later query rows of its sequence: dv = sum p dout, dk = scale sum
// p (dout . v - delta) q. Probabilities are recomputed from q and k.
// Per packed row: its sequence's first row and length (n_past = 0: a row's
// position is its offset in the sequence; its keys are rows kv0 + 0..pos).
struct bw_row {
    int64_t kv0; // the sequence's first K/V row
    int q0, len; // the sequence's first packed row and its length
};

#define BW_THREADS 128

__device__ static float dot_hd(const float *a, const float *b, int hd) {
    float s = 0.0f;
    for (int i = 0; i < hd; i++) s = fmaf(a[i], b[i], s);
    return s;
}

// grid (T, n_heads): stats[(r * n_heads + h) * 2] = lse, [.. + 1] = delta
__global__ void __launch_bounds__(BW_THREADS) attn_bw_stats_kernel(const float *q, int ldq, const float *k,
                                                                   const float *v, int ldkv, const float *dout,
                                                                   int n_heads, int group, int hd, float scale,
                                                                   const bw_row *rows, float *stats) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    const int r = blockIdx.x, h = blockIdx.y, kvh = h / group, q_dim = n_heads * hd;
    const bw_row br = rows[r];
    const int pos = r - br.q0;
    const float *qr = q + (size_t)r * ldq + (size_t)h * hd, *dr = dout + (size_t)r * q_dim + (size_t)h * hd;
    const float *kb = k + (size_t)br.kv0 * ldkv + (size_t)kvh * hd, *vb = v + (size_t)br.kv0 * ldkv + (size_t)kvh * hd;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= pos; j += blockDim.x) mx = fmaxf(mx, scale * dot_hd(qr, kb + (size_t)j * ldkv, hd));
    mx = block_max(mx, redf);
    double s = 0.0;
    for (int j = threadIdx.x; j <= pos; j += blockDim.x)
        s += (double)expf(scale * dot_hd(qr, kb + (size_t)j * ldkv, hd) - mx);
    s = block_sum(s, redd);
    const float lse = mx + (float)log(s);
    double dl = 0.0;
    for (int j = threadIdx.x; j <= pos; j += blockDim.x) {
        const float p = expf(scale * dot_hd(qr, kb + (size_t)j * ldkv, hd) - lse);
        dl += (double)p * dot_hd(dr, vb + (size_t)j * ldkv, hd);
    }
    dl = block_sum(dl, redd);
    if (threadIdx.x == 0) {
        stats[((size_t)r * n_heads + h) * 2] = lse;
        stats[((size_t)r * n_heads + h) * 2 + 1] = (float)dl;
    }
}

// grid (T, n_heads), shared: ds (BW_THREADS)
__global__ void __launch_bounds__(BW_THREADS) attn_bw_dq_kernel(const float *q, int ldq, const float *k,
                                                                const float *v, int ldkv, const float *dout,
                                                                float *dq, int ldd, int n_heads, int group, int hd,
                                                                float scale, const bw_row *rows, const float *stats) {
    __shared__ float ds[BW_THREADS];
    const int r = blockIdx.x, h = blockIdx.y, kvh = h / group, q_dim = n_heads * hd;
    const bw_row br = rows[r];
    const int pos = r - br.q0;
    const float *qr = q + (size_t)r * ldq + (size_t)h * hd, *dr = dout + (size_t)r * q_dim + (size_t)h * hd;
    const float *kb = k + (size_t)br.kv0 * ldkv + (size_t)kvh * hd, *vb = v + (size_t)br.kv0 * ldkv + (size_t)kvh * hd;
    const float lse = stats[((size_t)r * n_heads + h) * 2], delta = stats[((size_t)r * n_heads + h) * 2 + 1];
    float acc[8]; // dims threadIdx.x + c * BW_THREADS (hd <= 1024)
    for (int c = 0; c < 8; c++) acc[c] = 0.0f;
    for (int t0 = 0; t0 <= pos; t0 += BW_THREADS) {
        const int j = t0 + threadIdx.x;
        float g = 0.0f;
        if (j <= pos) {
            const float p = expf(scale * dot_hd(qr, kb + (size_t)j * ldkv, hd) - lse);
            g = p * (dot_hd(dr, vb + (size_t)j * ldkv, hd) - delta);
        }
        __syncthreads(); // the previous tile's ds is read
        ds[threadIdx.x] = g;
        __syncthreads();
        const int nt = min(BW_THREADS, pos + 1 - t0);
        for (int c = 0; c < 8; c++) {
            const int i = threadIdx.x + c * BW_THREADS;
            if (i < hd)
                for (int jj = 0; jj < nt; jj++) acc[c] = fmaf(ds[jj], kb[(size_t)(t0 + jj) * ldkv + i], acc[c]);
        }
    }
    float *o = dq + (size_t)r * ldd + (size_t)h * hd;
    for (int c = 0; c < 8; c++) {
        const int i = threadIdx.x + c * BW_THREADS;
        if (i < hd) o[i] = scale * acc[c];
    }
}

// grid (T key rows, n_kv_heads), shared: pp, gg (BW_THREADS) per query tile
__global__ void __launch_bounds__(BW_THREADS) attn_bw_dkv_kernel(const float *q, int ldq, const float *k,
                                                                 const float *v, int ldkv, const float *dout,
                                                                 float *dk, float *dv, int ldd, int n_heads,
                                                                 int group, int hd, float scale, const bw_row *rows,
                                                                 const float *stats) {
    __shared__ float pp[BW_THREADS], gg[BW_THREADS];
    const int j = blockIdx.x, g = blockIdx.y, q_dim = n_heads * hd;
    const bw_row br = rows[j];
    const int pj = j - br.q0; // the key's position; queries at positions pj .. len-1 see it
    const float *kr = k + (size_t)(br.kv0 + pj) * ldkv + (size_t)g * hd;
    const float *vr = v + (size_t)(br.kv0 + pj) * ldkv + (size_t)g * hd;
    float ak[8], av[8];
    for (int c = 0; c < 8; c++) ak[c] = av[c] = 0.0f;
    for (int hh = 0; hh < group; hh++) {
        const int h = g * group + hh;
        for (int t0 = pj; t0 < br.len; t0 += BW_THREADS) {
            const int i = t0 + threadIdx.x; // query position
            float p = 0.0f, gs = 0.0f;
            if (i < br.len) {
                const size_t qrow = (size_t)(br.q0 + i);
                const float *qi = q + qrow * ldq + (size_t)h * hd, *di = dout + qrow * q_dim + (size_t)h * hd;
                const float lse = stats[(qrow * n_heads + h) * 2], delta = stats[(qrow * n_heads + h) * 2 + 1];
                p = expf(scale * dot_hd(qi, kr, hd) - lse);
                gs = p * (dot_hd(di, vr, hd) - delta);
            }
            __syncthreads();
            pp[threadIdx.x] = p;
            gg[threadIdx.x] = gs;
            __syncthreads();
            const int nt = min(BW_THREADS, br.len - t0);
            for (int c = 0; c < 8; c++) {
                const int d = threadIdx.x + c * BW_THREADS;
                if (d >= hd) continue;
                for (int ii = 0; ii < nt; ii++) {
                    const size_t qrow = (size_t)(br.q0 + t0 + ii);
                    av[c] = fmaf(pp[ii], dout[qrow * q_dim + (size_t)h * hd + d], av[c]);
                    ak[c] = fmaf(gg[ii], q[qrow * ldq + (size_t)h * hd + d], ak[c]);
                }
            }
        }
    }
    float *okr = dk + (size_t)(br.kv0 + pj) * ldd + (size_t)g * hd, *ovr = dv + (size_t)(br.kv0 + pj) * ldd + (size_t)g * hd;
    for (int c = 0; c < 8; c++) {
        const int d = threadIdx.x + c * BW_THREADS;
        if (d < hd) okr[d] = scale * ak[c], ovr[d] = av[c];
    }
}

void lr_cuda_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                                const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads,
                                int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    const int T = b->n_seq > 0 ? b->q_off[b->n_seq] : 0;
    if (T <= 0) return;
    if (head_dim > BW_THREADS * 8 || n_kv_heads < 1 || n_heads % n_kv_heads != 0)
        lr_die_internal(__FILE__, __LINE__, "attention backward: head_dim %d / heads %d:%d not supported", head_dim,
                        n_heads, n_kv_heads);
    bw_row *hr = (bw_row *)lr_cuda_host_meta(cx, (size_t)T * sizeof(bw_row));
    for (int s = 0; s < b->n_seq; s++) {
        const int q0 = b->q_off[s], q1 = b->q_off[s + 1];
        if (b->n_past[s] != 0 || q1 < q0 || q1 > T || b->kv_row[s] < 0)
            lr_die_internal(__FILE__, __LINE__, "attention backward: sequence %d has a KV cache or bad rows", s);
        for (int r = q0; r < q1; r++) hr[r] = bw_row{b->kv_row[s], q0, q1 - q0};
    }
    const bw_row *dr = (const bw_row *)lr_cuda_meta_upload(cx, (size_t)T * sizeof(bw_row));
    float *stats = (float *)lr_cuda_scratch(cx, &cx->train_scratch, &cx->train_scratch_cap,
                                            (size_t)T * n_heads * 2 * sizeof(float));
    const int group = n_heads / n_kv_heads;
    attn_bw_stats_kernel<<<dim3((unsigned)T, (unsigned)n_heads), BW_THREADS, 0, cx->stream>>>(
        q, ldq, k, v, ldkv, dout, n_heads, group, head_dim, scale, dr, stats);
    LR_CUDA_LAUNCHED();
    attn_bw_dq_kernel<<<dim3((unsigned)T, (unsigned)n_heads), BW_THREADS, 0, cx->stream>>>(
        q, ldq, k, v, ldkv, dout, dq, ldd, n_heads, group, head_dim, scale, dr, stats);
    LR_CUDA_LAUNCHED();
    attn_bw_dkv_kernel<<<dim3((unsigned)T, (unsigned)n_kv_heads), BW_THREADS, 0, cx->stream>>>(
        q, ldq, k, v, ldkv, dout, dk, dv, ldd, n_heads, group, head_dim, scale, dr, stats);
    LR_CUDA_LAUNCHED();
}

// ---- dropout: element (r, c) kept when lr_dropout_keep(row_key[r], c, p)
// (backend.h; splitmix64's finaliser, as common/hash.h's lr_mix64)
__device__ static bool dropout_keep(uint64_t row_key, uint64_t col, float p) {
    uint64_t z = (row_key ^ col) + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

__global__ void dropout_kernel(const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *row_key,
                               float p, float keep_scale) {
    for (int r = blockIdx.y; r < M; r += gridDim.y) {
        const float *xr = x + (size_t)r * ldx;
        float *o = out + (size_t)r * ldo;
        const uint64_t key = row_key[r];
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < n; c += gridDim.x * blockDim.x)
            o[c] = dropout_keep(key, (uint64_t)c, p) ? xr[c] * keep_scale : 0.0f;
    }
}

void lr_cuda_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n,
                     const uint64_t *row_key, float p) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0 || n <= 0) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *row_key), row_key, (size_t)M * sizeof *row_key);
    const uint64_t *dk = (const uint64_t *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *row_key);
    dropout_kernel<<<lr_cuda_row_grid(M, n, 1, 256), 256, 0, cx->stream>>>(x, ldx, out, ldo, M, n, dk, p,
                                                                          1.0f / (1.0f - p));
    LR_CUDA_LAUNCHED();
}

// ---- the KL loss and its gradient, one block per row: log-softmax with an
// fp64 normaliser; loss = sum_k w_k (log w_k - lsm[id_k]); dz = (softmax - w)
// grad_scale (the labels subtracted by one thread in order, as the CPU).
__global__ void __launch_bounds__(1024) kl_loss_kernel(const float *z, int V, const int64_t *lab_off, const int32_t *lab_ids,
                               const float *lab_w, double grad_scale, double *loss, float *dz) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    const int i = blockIdx.x;
    const float *zr = z + (size_t)i * V;
    float mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, zr[v]);
    mx = block_max(mx, redf);
    double sum = 0.0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) sum += exp((double)(zr[v] - mx));
    sum = block_sum(sum, redd);
    const float lse = mx + (float)log(sum);
    if (threadIdx.x == 0) {
        double kl = 0.0;
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) {
            const double w = lab_w[k];
            if (w > 0.0) kl += w * (log(w) - (double)(zr[lab_ids[k]] - lse));
        }
        loss[i] = kl;
    }
    if (!dz) return;
    float *g = dz + (size_t)i * V;
    const float gs = (float)grad_scale;
    for (int v = threadIdx.x; v < V; v += blockDim.x) g[v] = expf(zr[v] - lse) * gs;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) g[lab_ids[k]] -= (float)(lab_w[k] * grad_scale);
}

void lr_cuda_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                     const float *lab_w, double grad_scale, double *loss, float *dz) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (n <= 0) return;
    const int64_t nl = lab_off[n];
    // labels in one upload: offsets (n + 1) | ids (nl) | weights (nl), 8-byte aligned parts
    const size_t ob = (size_t)(n + 1) * sizeof(int64_t), ib = ((size_t)nl * sizeof(int32_t) + 7) / 8 * 8;
    const size_t bytes = ob + ib + (size_t)nl * sizeof(float);
    char *h = (char *)lr_cuda_host_meta(cx, bytes);
    memcpy(h, lab_off, ob);
    memcpy(h + ob, lab_ids, (size_t)nl * sizeof(int32_t));
    memcpy(h + ob + ib, lab_w, (size_t)nl * sizeof(float));
    char *d = (char *)lr_cuda_meta_upload(cx, bytes);
    double *dloss = (double *)lr_cuda_scratch(cx, &cx->train_scratch, &cx->train_scratch_cap, (size_t)n * sizeof(double));
    kl_loss_kernel<<<n, 1024, 0, cx->stream>>>(z, V, (const int64_t *)d, (const int32_t *)(d + ob),
                                               (const float *)(d + ob + ib), grad_scale, dloss, dz);
    LR_CUDA_LAUNCHED();
    LR_CUDA_CHECK(cudaMemcpyAsync(loss, dloss, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost, cx->stream));
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
}

// ---- column copies and small element-wise ops
__global__ void add_cols_kernel(float *y, int ldy, const float *x, int ldx, int M, int n) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < n; c += gridDim.x * blockDim.x)
            y[(size_t)r * ldy + c] += x[(size_t)r * ldx + c];
}

void lr_cuda_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0 || n <= 0) return;
    add_cols_kernel<<<lr_cuda_row_grid(M, n, 1, 256), 256, 0, cx->stream>>>(y, ldy, x, ldx, M, n);
    LR_CUDA_LAUNCHED();
}

void lr_cuda_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0 || n <= 0) return;
    LR_CUDA_CHECK(cudaMemcpy2DAsync(y, (size_t)ldy * sizeof(float), x, (size_t)ldx * sizeof(float),
                                    (size_t)n * sizeof(float), (size_t)M, cudaMemcpyDeviceToDevice, cx->stream));
}

__global__ void scale_kernel(float *x, size_t n, float s) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) x[i] *= s;
}

void lr_cuda_scale(lr_backend *be, float *x, size_t n, float s) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (n == 0) return;
    scale_kernel<<<lr_cuda_grid_for(n, 256), 256, 0, cx->stream>>>(x, n, s);
    LR_CUDA_LAUNCHED();
}

void lr_cuda_zero(lr_backend *be, void *p, size_t bytes) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (bytes) LR_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cx->stream));
}

__global__ void scatter_kernel(const float *src, int d, const int *rows, float *dst) {
    const float *s = src + (size_t)blockIdx.x * d;
    float *o = dst + (size_t)rows[blockIdx.x] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = s[i];
}

void lr_cuda_scatter_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (n <= 0) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)n * sizeof *rows), rows, (size_t)n * sizeof *rows);
    const int *drows = (const int *)lr_cuda_meta_upload(cx, (size_t)n * sizeof *rows);
    scatter_kernel<<<n, 256, 0, cx->stream>>>(src, d, drows, dst);
    LR_CUDA_LAUNCHED();
}
