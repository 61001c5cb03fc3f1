// The CUDA backend's elementwise and row kernels (contracts in backend.h):
// embed, rmsnorm, rope, swiglu, add, gather_rows, kv_store, log_softmax and
// the GEMM helpers (bias, zeroing). Simple and correct first: one block per
// row where a row reduces, grid-stride loops elsewhere; sums that the CPU
// path does in fp64 are fp64 here too.
#include <cuda_bf16.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "model/cuda/cuda_internal.h"
#include "model/cuda/cuda_reduce.cuh"

unsigned lr_cuda_grid_for(size_t n, unsigned block) {
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 16u) g = 65535u * 16u; // grid-stride loops cover the rest
    return (unsigned)(g ? g : 1);
}

#define GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

// ---- embed: out (M, d) = table rows ids, widened exactly
template <typename T> __device__ float widen(T v);
template <> __device__ float widen<float>(float v) { return v; }
template <> __device__ float widen<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __global__ void embed_kernel(const T *table, const int32_t *ids, int d, float *out) {
    const T *row = table + (size_t)ids[blockIdx.x] * d;
    float *o = out + (size_t)blockIdx.x * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = widen(row[i]);
}

void lr_cuda_embed(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *ids), ids, (size_t)M * sizeof *ids);
    const int32_t *dids = (const int32_t *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *ids);
    if (lr_cuda_graph_args(cx, __LINE__, table.data, (int)table.dtype, dids, M, d, out)) return;
    if (table.dtype == LR_BF16)
        embed_kernel<<<M, 256, 0, cx->stream>>>((const __nv_bfloat16 *)table.data, dids, d, out);
    else
        embed_kernel<<<M, 256, 0, cx->stream>>>((const float *)table.data, dids, d, out);
    LR_CUDA_LAUNCHED();
}

// ---- rmsnorm: as transformers: variance in fp32 (summed in fp64, as the
// CPU path), rsqrt in fp32, then w * (x * inv). y may equal x.
// yb (optional): y rounded to bf16 too, for the bf16 GEMM that reads y next
__global__ void rmsnorm_kernel(const float *x, const float *w, float *y, __nv_bfloat16 *yb, int d, float eps) {
    __shared__ double red[32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float *yr = y + (size_t)blockIdx.x * d;
    double ss = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) ss += (double)xr[i] * (double)xr[i];
    ss = block_sum(ss, red);
    const float var = (float)(ss / d);
    const float inv = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const float v = w[i] * (xr[i] * inv);
        yr[i] = v;
        if (yb) yb[(size_t)blockIdx.x * d + i] = __float2bfloat16_rn(v);
    }
}

void lr_cuda_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0) return;
    __nv_bfloat16 *yb = lr_cuda_bf16_out(cx, y, M, d);
    if (lr_cuda_graph_args(cx, __LINE__, x, w, y, (const void *)yb, M, d, eps)) return;
    rmsnorm_kernel<<<M, 256, 0, cx->stream>>>(x, w, y, yb, d, eps);
    LR_CUDA_LAUNCHED();
}

// ---- rope in place, rotate-half; angle = pos * inv_freq in fp32 as transformers.
// cos and sin come from the backend's table (rope_table) where it covers
// the position: the same sincosf of the same fp32 angle, computed once per
// (position, frequency) instead of once per row and head.

// (cos, sin) of position p's angle at frequency f: what the table holds and
// what a row beyond it computes, one function so that both are the same bits
__device__ __forceinline__ float2 rope_cs(float p, float f) {
    float s, c;
    sincosf(__fmul_rn(p, f), &s, &c); // full-range, not the fast intrinsic
    return make_float2(c, s);
}

__device__ __forceinline__ void rope_row(float *row, int n_heads, int hd, int pos, const float *inv_freq,
                                         const float2 *tab, int tab_rows) {
    const int half = hd / 2;
    const float p = (float)pos;
    const float2 *tr = pos >= 0 && pos < tab_rows ? tab + (size_t)pos * half : NULL;
    for (int t = threadIdx.x; t < n_heads * half; t += blockDim.x) {
        const int h = t / half, i = t % half;
        const float2 cs = tr ? tr[i] : rope_cs(p, inv_freq[i]);
        const float c = cs.x, s = cs.y;
        float *xh = row + (size_t)h * hd;
        const float a = xh[i], b = xh[i + half];
        xh[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)); // no fma contraction, as the CPU path
        xh[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
}

__global__ void rope_kernel(float *x, int ld, int n_heads, int hd, const int32_t *pos, const float *inv_freq,
                            const float2 *tab, int tab_rows) {
    rope_row(x + (size_t)blockIdx.x * ld, n_heads, hd, pos[blockIdx.x], inv_freq, tab, tab_rows);
}

__global__ void rope_table_kernel(float2 *tab, int rows, int half, const float *inv_freq) {
    const size_t n = (size_t)rows * half;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const int p = (int)(e / (size_t)half), i = (int)(e % (size_t)half);
        tab[e] = rope_cs((float)p, inv_freq[i]);
    }
}

#define ROPE_TAB_MIN 4096
#define ROPE_TAB_MAX (1 << 17) // positions: 64 MiB at 64 frequencies; beyond, rows compute their own

// The table grown (a power of two of positions) to cover this call's
// positions, outside a recording bracket (a grown table is a new address:
// a recorded step that read the old one misses and is recorded again).
static void rope_table(lr_cuda_ctx *cx, const int32_t *pos, int M) {
    int mx = -1;
    for (int i = 0; i < M; i++) mx = pos[i] > mx ? pos[i] : mx;
    if (mx < cx->rope_tab_rows || lr_cuda_graph_recording(cx) || mx >= ROPE_TAB_MAX) return;
    int rows = ROPE_TAB_MIN;
    while (rows <= mx) rows *= 2;
    const size_t bytes = (size_t)rows * (size_t)cx->inv_freq_n * sizeof(float2);
    if (bytes > cx->rope_tab_cap) {
        if (cx->rope_tab) LR_CUDA_CHECK(cudaFree(cx->rope_tab));
        LR_CUDA_CHECK(cudaMalloc(&cx->rope_tab, bytes ? bytes : 1));
        cx->rope_tab_cap = bytes;
    }
    rope_table_kernel<<<lr_cuda_grid_for((size_t)rows * cx->inv_freq_n, 256), 256, 0, cx->stream>>>(
        cx->rope_tab, rows, cx->inv_freq_n, cx->inv_freq);
    LR_CUDA_LAUNCHED();
    cx->rope_tab_rows = rows;
}

// inv_freq is the model's constant array: copied to cx->inv_freq once, again
// only when its values change (compared by value: models with the same
// frequencies share the copy and the table; a freed array's address reused
// with new values is re-copied). 1: it changed inside a recording bracket (a recorded
// step reads the old copy, and cudaFree cannot run while capturing): the
// bracket fails and its eager rerun copies.
static int rope_freqs(lr_cuda_ctx *cx, const float *inv_freq, int half) {
    if (cx->inv_freq_n == half && (half == 0 || !memcmp(cx->inv_freq_seen, inv_freq, (size_t)half * sizeof *inv_freq)))
        return 0;
    if (lr_cuda_graph_recording(cx)) {
        lr_cuda_graph_break(cx);
        return 1;
    }
    if (cx->inv_freq) LR_CUDA_CHECK(cudaFree(cx->inv_freq));
    LR_CUDA_CHECK(cudaMalloc(&cx->inv_freq, (size_t)(half ? half : 1) * sizeof(float)));
    LR_CUDA_CHECK(
        cudaMemcpyAsync(cx->inv_freq, inv_freq, (size_t)half * sizeof(float), cudaMemcpyHostToDevice, cx->stream));
    float *seen = (float *)realloc(cx->inv_freq_seen, (size_t)(half ? half : 1) * sizeof *seen);
    if (!seen) lr_die_internal(__FILE__, __LINE__, "out of memory");
    if (half) memcpy(seen, inv_freq, (size_t)half * sizeof *seen);
    cx->inv_freq_seen = seen;
    cx->inv_freq_n = half;
    cx->rope_tab_rows = 0; // the table is of the old frequencies
    return 0;
}

// What both RoPE ops do first: the frequencies (rope_freqs), the positions
// uploaded, the cos/sin table grown to cover them. NULL: the frequencies
// changed inside a recording bracket, which broke; nothing to launch.
static const int32_t *rope_setup(lr_cuda_ctx *cx, const int32_t *pos, int M, const float *inv_freq, int head_dim) {
    if (rope_freqs(cx, inv_freq, head_dim / 2)) return NULL;
    memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *pos), pos, (size_t)M * sizeof *pos);
    const int32_t *dpos = (const int32_t *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *pos);
    rope_table(cx, pos, M);
    return dpos;
}

void lr_cuda_rope(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                  const float *inv_freq) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    const int32_t *dpos = M > 0 ? rope_setup(cx, pos, M, inv_freq, head_dim) : NULL;
    if (!dpos) return;
    if (lr_cuda_graph_args(cx, __LINE__, x, ld, M, n_heads, head_dim, dpos, cx->inv_freq, (const void *)cx->rope_tab,
                           cx->rope_tab_rows))
        return;
    rope_kernel<<<M, 128, 0, cx->stream>>>(x, ld, n_heads, head_dim, dpos, cx->inv_freq, cx->rope_tab,
                                           cx->rope_tab_rows);
    LR_CUDA_LAUNCHED();
}

// ---- swiglu: out (M, I) = silu(g) * u with gu = g | u per row. Rows on
// grid y, columns on x (no 64-bit division per element); 4 columns per
// thread when every row starts 16-byte aligned.
__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// ob (optional): out rounded to bf16 too, for the bf16 GEMM that reads out next
__global__ void swiglu_kernel(const float *gu, float *out, __nv_bfloat16 *ob, int M, int inter, int vec4) {
    for (int r = blockIdx.y; r < M; r += gridDim.y) {
        const float *g = gu + (size_t)r * 2 * inter, *u = g + inter;
        float *o = out + (size_t)r * inter;
        __nv_bfloat16 *obr = ob ? ob + (size_t)r * inter : NULL;
        if (vec4) {
            for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4; c < inter; c += gridDim.x * blockDim.x * 4) {
                const float4 a = *(const float4 *)(g + c), b = *(const float4 *)(u + c);
                const float4 v = make_float4(silu_mul(a.x, b.x), silu_mul(a.y, b.y), silu_mul(a.z, b.z),
                                             silu_mul(a.w, b.w));
                *(float4 *)(o + c) = v;
                if (obr) { // 8 bytes: inter % 4 == 0 and the copy is cudaMalloc'd
                    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
                    uint2 packed;
                    memcpy(&packed.x, &lo, 4);
                    memcpy(&packed.y, &hi, 4);
                    *(uint2 *)(obr + c) = packed;
                }
            }
        } else {
            for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < inter; c += gridDim.x * blockDim.x) {
                const float v = silu_mul(g[c], u[c]);
                o[c] = v;
                if (obr) obr[c] = __float2bfloat16_rn(v);
            }
        }
    }
}

// A grid for a row kernel over M rows of n columns (w columns per thread).
dim3 lr_cuda_row_grid(int M, int n, int w, unsigned block) {
    const unsigned gx = (unsigned)((n / w + (int)block - 1) / (int)block);
    return dim3(gx ? gx : 1, (unsigned)(M < 65535 ? M : 65535));
}

void lr_cuda_swiglu(lr_backend *be, const float *gu, float *out, int M, int inter) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if ((size_t)M * inter == 0) return;
    const int vec4 = inter % 4 == 0 && ((uintptr_t)gu | (uintptr_t)out) % 16 == 0;
    __nv_bfloat16 *ob = lr_cuda_bf16_out(cx, out, M, inter);
    if (lr_cuda_graph_args(cx, __LINE__, gu, out, (const void *)ob, M, inter)) return;
    swiglu_kernel<<<lr_cuda_row_grid(M, inter, vec4 ? 4 : 1, 256), 256, 0, cx->stream>>>(gu, out, ob, M, inter,
                                                                                          vec4);
    LR_CUDA_LAUNCHED();
}

// ---- add: y += x
__global__ void add_kernel(float *y, const float *x, size_t n) {
    GRID_STRIDE(i, n) y[i] += x[i];
}

void lr_cuda_add(lr_backend *be, float *y, const float *x, int M, int d) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    const size_t n = (size_t)M * d;
    if (n == 0 || lr_cuda_graph_args(cx, __LINE__, y, x, n)) return;
    add_kernel<<<lr_cuda_grid_for(n, 256), 256, 0, cx->stream>>>(y, x, n);
    LR_CUDA_LAUNCHED();
}

// ---- gather_rows: dst (n, d) = src rows
__global__ void gather_kernel(const float *src, int d, const int *rows, float *dst) {
    const float *s = src + (size_t)rows[blockIdx.x] * d;
    float *o = dst + (size_t)blockIdx.x * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = s[i];
}

void lr_cuda_gather_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (n <= 0) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)n * sizeof *rows), rows, (size_t)n * sizeof *rows);
    const int *drows = (const int *)lr_cuda_meta_upload(cx, (size_t)n * sizeof *rows);
    if (lr_cuda_graph_args(cx, __LINE__, src, d, drows, n, dst)) return;
    gather_kernel<<<n, 256, 0, cx->stream>>>(src, d, drows, dst);
    LR_CUDA_LAUNCHED();
}

// ---- kv_store: cache rows dst_row[r] = k / v source row r (fp32, or rounded to bf16)
__device__ __forceinline__ void kv_put(float *p, float v) { *p = v; }
__device__ __forceinline__ void kv_put(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T>
__global__ void kv_store_kernel(T *k_dst, T *v_dst, const int64_t *dst_row, const float *k_src, const float *v_src,
                                int ld_src, int width) {
    const int r = blockIdx.x;
    const size_t o = (size_t)dst_row[r] * width, s = (size_t)r * ld_src;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        kv_put(k_dst + o + i, k_src[s + i]);
        kv_put(v_dst + o + i, v_src[s + i]);
    }
}

void lr_cuda_kv_store(lr_backend *be, void *k_dst, void *v_dst, const int64_t *dst_row, const float *k_src,
                      const float *v_src, int ld_src, int M, int width) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *dst_row), dst_row, (size_t)M * sizeof *dst_row);
    const int64_t *drow = (const int64_t *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *dst_row);
    if (lr_cuda_graph_args(cx, __LINE__, k_dst, v_dst, drow, k_src, v_src, ld_src, M, width, (int)be->kv_dtype))
        return;
    if (be->kv_dtype == LR_BF16)
        kv_store_kernel<<<M, 256, 0, cx->stream>>>((__nv_bfloat16 *)k_dst, (__nv_bfloat16 *)v_dst, drow, k_src, v_src,
                                                   ld_src, width);
    else
        kv_store_kernel<<<M, 256, 0, cx->stream>>>((float *)k_dst, (float *)v_dst, drow, k_src, v_src, ld_src, width);
    LR_CUDA_LAUNCHED();
}

// ---- rope_kv_store: rope on the q and k heads of each row, then the rotated
// keys and the values into the cache rows (one pass: the row is in cache)
template <typename T>
__global__ void rope_kv_store_kernel(float *qkv, int ld, int n_heads, int n_kv, int hd, const int32_t *pos,
                                     const float *inv_freq, const float2 *tab, int tab_rows, T *k_dst, T *v_dst,
                                     const int64_t *dst_row) {
    float *row = qkv + (size_t)blockIdx.x * ld;
    rope_row(row, n_heads + n_kv, hd, pos[blockIdx.x], inv_freq, tab, tab_rows);
    __syncthreads(); // the rotated keys were written by other threads
    const int width = n_kv * hd;
    const float *kr = row + (size_t)n_heads * hd, *vr = kr + width;
    const size_t o = (size_t)dst_row[blockIdx.x] * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        kv_put(k_dst + o + i, kr[i]);
        kv_put(v_dst + o + i, vr[i]);
    }
}

void lr_cuda_rope_kv_store(lr_backend *be, float *qkv, int ld, int M, int n_heads, int n_kv_heads, int head_dim,
                           const int32_t *pos, const float *inv_freq, void *k_dst, void *v_dst,
                           const int64_t *dst_row) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    const int32_t *dpos = M > 0 ? rope_setup(cx, pos, M, inv_freq, head_dim) : NULL;
    if (!dpos) return;
    memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *dst_row), dst_row, (size_t)M * sizeof *dst_row);
    const int64_t *drow = (const int64_t *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *dst_row);
    if (lr_cuda_graph_args(cx, __LINE__, qkv, ld, M, n_heads, n_kv_heads, head_dim, dpos, cx->inv_freq, k_dst, v_dst,
                           drow, (int)be->kv_dtype, (const void *)cx->rope_tab, cx->rope_tab_rows))
        return;
    if (be->kv_dtype == LR_BF16)
        rope_kv_store_kernel<<<M, 128, 0, cx->stream>>>(qkv, ld, n_heads, n_kv_heads, head_dim, dpos, cx->inv_freq,
                                                        cx->rope_tab, cx->rope_tab_rows, (__nv_bfloat16 *)k_dst,
                                                        (__nv_bfloat16 *)v_dst, drow);
    else
        rope_kv_store_kernel<<<M, 128, 0, cx->stream>>>(qkv, ld, n_heads, n_kv_heads, head_dim, dpos, cx->inv_freq,
                                                        cx->rope_tab, cx->rope_tab_rows, (float *)k_dst,
                                                        (float *)v_dst, drow);
    LR_CUDA_LAUNCHED();
}

// ---- log_softmax per row: fp32 max, fp64 sum of exp, y = x - (max + log(sum)).
// y may equal x.
__global__ void log_softmax_kernel(const float *x, float *y, int N) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    const float *xr = x + (size_t)blockIdx.x * N;
    float *yr = y + (size_t)blockIdx.x * N;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < N; i += blockDim.x) mx = fmaxf(mx, xr[i]);
    mx = block_max(mx, redf);
    double s = 0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) s += exp((double)(xr[i] - mx));
    s = block_sum(s, redd);
    const float lse = mx + (float)log(s);
    for (int i = threadIdx.x; i < N; i += blockDim.x) yr[i] = xr[i] - lse;
}

void lr_cuda_log_softmax(lr_backend *be, const float *x, float *y, int M, int N) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0 || lr_cuda_graph_unsupported(cx)) return;
    log_softmax_kernel<<<M, 512, 0, cx->stream>>>(x, y, N);
    LR_CUDA_LAUNCHED();
}

// ---- argmax_rows: per row the first index of the maximum (NaN ignored; 0
// when the row is all NaN) and whether the row is finite. Only these M ids
// and flags are copied to the host (pinned staging, one copy).
__global__ void __launch_bounds__(1024) argmax_rows_kernel(const float *x, int N, int32_t *ids, uint8_t *finite) {
    float bv;
    int bi, fin;
    row_argmax(x + (size_t)blockIdx.x * N, N, bv, bi, fin);
    if (threadIdx.x == 0) {
        ids[blockIdx.x] = bi == INT_MAX ? 0 : bi;
        finite[blockIdx.x] = (uint8_t)fin;
    }
}

int lr_cuda_pick_reserve(lr_cuda_ctx *cx, int M) {
    const size_t bytes = (size_t)M * (sizeof(int32_t) + 1);
    if (bytes > cx->pick_cap) {
        // the staging moves: a graph recorded with the old one cannot be used,
        // and none may be recorded now (the sync and frees below): this
        // bracket fails, and its eager rerun grows the staging
        if (lr_cuda_graph_recording(cx)) {
            lr_cuda_graph_break(cx);
            return 1;
        }
        LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
        if (cx->pick_dev) LR_CUDA_CHECK(cudaFree(cx->pick_dev));
        if (cx->pick_host) LR_CUDA_CHECK(cudaFreeHost(cx->pick_host));
        const size_t cap = bytes < 4096 ? 4096 : 2 * bytes;
        LR_CUDA_CHECK(cudaMalloc(&cx->pick_dev, cap));
        LR_CUDA_CHECK(cudaMallocHost(&cx->pick_host, cap));
        cx->pick_cap = cap;
    }
    return 0;
}

void lr_cuda_pick_return(lr_cuda_ctx *cx, int M, int32_t *ids, uint8_t *finite, int replaying) {
    const char *h = (const char *)cx->pick_host;
    if (!replaying)
        LR_CUDA_CHECK(cudaMemcpyAsync(cx->pick_host, cx->pick_dev, (size_t)M * (sizeof(int32_t) + 1),
                                      cudaMemcpyDeviceToHost, cx->stream));
    if (lr_cuda_graph_recording(cx)) { // the ids reach the caller when the bracket's graph has run
        lr_cuda_graph_host_copy(cx, ids, h, (size_t)M * sizeof(int32_t));
        lr_cuda_graph_host_copy(cx, finite, h + (size_t)M * sizeof(int32_t), (size_t)M);
        return;
    }
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    memcpy(ids, h, (size_t)M * sizeof(int32_t));
    memcpy(finite, h + (size_t)M * sizeof(int32_t), (size_t)M);
}

void lr_cuda_argmax_rows(lr_backend *be, const float *x, int M, int N, int32_t *ids, uint8_t *finite) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0 || lr_cuda_pick_reserve(cx, M)) return;
    int32_t *dids = (int32_t *)cx->pick_dev;
    uint8_t *dfin = (uint8_t *)(dids + M);
    const int replaying = lr_cuda_graph_args(cx, __LINE__, x, N, M, dids, cx->pick_host);
    if (!replaying) {
        argmax_rows_kernel<<<M, 1024, 0, cx->stream>>>(x, N, dids, dfin);
        LR_CUDA_LAUNCHED();
    }
    lr_cuda_pick_return(cx, M, ids, finite, replaying);
}

// ---- GEMM helpers
__global__ void add_bias_kernel(float *y, int ldy, const float *bias, int M, int N) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < N; c += gridDim.x * blockDim.x)
            y[(size_t)r * ldy + c] += bias[c];
}

void lr_cuda_add_bias(lr_cuda_ctx *cx, float *y, int ldy, const float *bias, int M, int N) {
    add_bias_kernel<<<lr_cuda_row_grid(M, N, 1, 256), 256, 0, cx->stream>>>(y, ldy, bias, M, N);
    LR_CUDA_LAUNCHED();
}

void lr_cuda_zero_cols(lr_cuda_ctx *cx, float *y, int ldy, int M, int N) {
    LR_CUDA_CHECK(cudaMemset2DAsync(y, (size_t)ldy * sizeof(float), 0, (size_t)N * sizeof(float), (size_t)M, cx->stream));
}
