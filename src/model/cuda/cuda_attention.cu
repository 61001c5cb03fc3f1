// Causal grouped-query attention over a ragged batch (backend.h), fp32
// throughout. One block per (query row, query head); the block streams the
// row's keys 0..pos in tiles of blockDim keys with an online softmax
// (running max and sum, as flash attention), so any context length fits in
// a fixed amount of shared memory. Query head h reads KV head
// h / (n_heads / n_kv_heads). Attention is < 1% of the FLOPs at our
// lengths: this is the simple correct version; a tiled kernel that packs a
// GQA group per block is the tuning step.
#include <math.h>

#include "model/cuda/cuda_internal.h"

#define ATT_THREADS 128
#define ATT_MAX_PER_THREAD 8 // head_dim <= ATT_THREADS * 8 = 1024 (the model loader's limit)

__device__ static float att_block_max(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (int)(threadIdx.x & 31) < (int)(blockDim.x >> 5) ? red[threadIdx.x & 31] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ static float att_block_sum(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (int)(threadIdx.x & 31) < (int)(blockDim.x >> 5) ? red[threadIdx.x & 31] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Shared memory: q (hd) | p (ATT_THREADS) | red (32).
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(const float *q, int ldq, const float *k, const float *v,
                                                                int ldkv, float *out, int n_heads, int group, int hd,
                                                                float scale, const int32_t *row_pos,
                                                                const int64_t *row_kv) {
    extern __shared__ float sm[];
    float *qs = sm, *ps = sm + hd, *red = ps + ATT_THREADS;
    const int r = blockIdx.x, h = blockIdx.y, kvh = h / group, tid = threadIdx.x;
    const float *qr = q + (size_t)r * ldq + (size_t)h * hd;
    for (int i = tid; i < hd; i += ATT_THREADS) qs[i] = qr[i];
    __syncthreads();
    const int n_keys = row_pos[r] + 1;
    const size_t base = (size_t)row_kv[r];
    const float *kb = k + (size_t)kvh * hd, *vb = v + (size_t)kvh * hd;
    float m = -INFINITY, l = 0.0f, acc[ATT_MAX_PER_THREAD];
#pragma unroll
    for (int c = 0; c < ATT_MAX_PER_THREAD; c++) acc[c] = 0.0f;
    for (int t0 = 0; t0 < n_keys; t0 += ATT_THREADS) {
        const int j = t0 + tid;
        float s = -INFINITY;
        if (j < n_keys) {
            const float *kr = kb + (base + (size_t)j) * ldkv;
            float dot = 0.0f;
            for (int i = 0; i < hd; i++) dot += qs[i] * kr[i];
            s = dot * scale;
        }
        const float new_m = fmaxf(m, att_block_max(s, red)); // finite: key t0 is always valid
        const float p = j < n_keys ? expf(s - new_m) : 0.0f;
        ps[tid] = p;
        const float tsum = att_block_sum(p, red); // its __syncthreads also publishes ps
        const float corr = expf(m - new_m);       // 0 on the first tile (m = -inf)
        l = l * corr + tsum;
        const int nt = min(ATT_THREADS, n_keys - t0);
#pragma unroll
        for (int c = 0; c < ATT_MAX_PER_THREAD; c++) {
            const int i = tid + c * ATT_THREADS;
            if (i < hd) {
                float a = acc[c] * corr;
                for (int jj = 0; jj < nt; jj++) a += ps[jj] * vb[(base + (size_t)(t0 + jj)) * ldkv + i];
                acc[c] = a;
            }
        }
        m = new_m;
        __syncthreads(); // ps is rewritten by the next tile
    }
    float *o = out + (size_t)r * n_heads * hd + (size_t)h * hd;
    const float inv = 1.0f / l;
#pragma unroll
    for (int c = 0; c < ATT_MAX_PER_THREAD; c++) {
        const int i = tid + c * ATT_THREADS;
        if (i < hd) o[i] = acc[c] * inv;
    }
}

void lr_cuda_attention(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv, float *out,
                       int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    const int T = b->n_seq > 0 ? b->q_off[b->n_seq] : 0;
    if (T <= 0) return;
    if (head_dim > ATT_THREADS * ATT_MAX_PER_THREAD || n_kv_heads < 1 || n_heads % n_kv_heads != 0)
        lr_die_internal(__FILE__, __LINE__, "attention: head_dim %d / heads %d:%d not supported", head_dim, n_heads,
                        n_kv_heads);
    // plan: per row its position and its sequence's first KV row, uploaded in one copy
    const size_t pos_bytes = ((size_t)T * sizeof(int32_t) + 7) / 8 * 8, kv_bytes = (size_t)T * sizeof(int64_t);
    char *hm = (char *)lr_cuda_host_meta(cx, pos_bytes + kv_bytes);
    if (lr_attn_plan_rows(b, T, (int32_t *)hm, (int64_t *)(hm + pos_bytes)) != 0)
        lr_die_internal(__FILE__, __LINE__, "attention: inconsistent ragged batch (%d sequences, %d rows)", b->n_seq, T);
    char *dm = (char *)lr_cuda_meta_upload(cx, pos_bytes + kv_bytes);
    const dim3 grid((unsigned)T, (unsigned)n_heads);
    const size_t smem = ((size_t)head_dim + ATT_THREADS + 32) * sizeof(float);
    attention_kernel<<<grid, ATT_THREADS, smem, cx->stream>>>(q, ldq, k, v, ldkv, out, n_heads, n_heads / n_kv_heads,
                                                              head_dim, scale, (const int32_t *)dm,
                                                              (const int64_t *)(dm + pos_bytes));
    LR_CUDA_LAUNCHED();
}
