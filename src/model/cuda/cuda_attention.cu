// Causal grouped-query attention over a ragged batch (backend.h), fp32
// throughout, two kernels:
//  - rows: one block per (query row, query head); the block streams the
//    row's keys 0..pos in tiles of blockDim keys with an online softmax
//    (running max and sum, as flash attention), each key's score from one
//    warp (coalesced along the head dimension). For decode steps (one or a
//    few query rows per sequence) and head sizes the tiled kernel lacks.
//  - tiles (prefill, teacher-forced scoring): one block per (tile of up to
//    64 query rows of one sequence, query head); Q stays in shared memory
//    while the keys and values stream through it 32 rows at a time,
//    coalesced, and each thread holds a 4 x 2 block of scores and a
//    4 x hd/16 block of the output, reading shared memory 4 floats at a
//    time (flash attention's online softmax, fp32 SIMT). The rows kernel reads every key once per query row and head,
//    uncoalesced; this one once per 64 rows.
//  - decode (one or a few query rows per sequence, head sizes 64 / 128,
//    up to 8 query heads per KV head): one block per (query row, KV head,
//    split of the keys); every key and value row is read once for all the
//    query heads of its group (the rows kernel reads it once per query
//    head) and, when rows x KV heads alone cannot fill the GPU (batch 1),
//    the keys are split across blocks and the partial softmaxes merged by a
//    second kernel (flash-decoding). The split count depends only on the
//    batch's row count, so a decode step's launches repeat (step graphs).
//  - tc (prefill, scoring; LR_CUDA_ATTENTION=tc until a device check has
//    validated it, then the default for bf16 models): the tiles kernel's
//    blocks on tensor cores (WMMA, bf16 inputs, fp32 accumulation), in two
//    passes over the keys: the first finds each row's softmax max and sum
//    from the scores alone, the second turns the scores into final
//    probabilities (rounded to bf16) and accumulates P.V, so the output
//    accumulators never need a per-row rescale and stay in tensor-core
//    fragments (whose element layout WMMA does not expose). Q.K^T is
//    computed twice; at 16x16x16 bf16 tensor-core rates that is cheap.
// Query head h reads KV head h / (n_heads / n_kv_heads) in all. Any
// context length fits in a fixed amount of shared memory.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_bf16.h>
#include <mma.h>
#include <type_traits>

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

// K / V elements: fp32 rows (activations, an fp32 cache) or a bf16 cache, read as fp32.
__device__ __forceinline__ float kv_ld(const float *p) { return *p; }
__device__ __forceinline__ float kv_ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
// ... or as bf16 for the tensor cores (fp32 rounded to nearest even)
__device__ __forceinline__ __nv_bfloat16 kv_bf16(const float *p) { return __float2bfloat16_rn(*p); }
__device__ __forceinline__ __nv_bfloat16 kv_bf16(const __nv_bfloat16 *p) { return *p; }
// VPL consecutive elements as fp32 with one vector load (the row and lane offsets aligned for it)
template <int VPL> __device__ __forceinline__ void kv_vec(const float *p, float *o) {
    if constexpr (VPL == 4) {
        const float4 x = *(const float4 *)p;
        o[0] = x.x, o[1] = x.y, o[2] = x.z, o[3] = x.w;
    } else {
        const float2 x = *(const float2 *)p;
        o[0] = x.x, o[1] = x.y;
    }
}
template <int VPL> __device__ __forceinline__ void kv_vec(const __nv_bfloat16 *p, float *o) {
    if constexpr (VPL == 4) {
        const uint2 x = *(const uint2 *)p;
        __nv_bfloat162 a, b;
        memcpy(&a, &x.x, 4);
        memcpy(&b, &x.y, 4);
        const float2 fa = __bfloat1622float2(a), fb = __bfloat1622float2(b);
        o[0] = fa.x, o[1] = fa.y, o[2] = fb.x, o[3] = fb.y;
    } else {
        const unsigned x = *(const unsigned *)p;
        __nv_bfloat162 a;
        memcpy(&a, &x, 4);
        const float2 fa = __bfloat1622float2(a);
        o[0] = fa.x, o[1] = fa.y;
    }
}

// Shared memory: q (hd) | p (ATT_THREADS) | red (32) | scores (ATT_THREADS).
// A tile's scores: warp w takes keys w, w + 4, ... and its lanes split the
// head dimension, so a key row is read coalesced (one thread per key would
// read 32 rows per load); the warp sums its lanes with shuffles.
template <typename KT>
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(const float *q, int ldq, const KT *k, const KT *v,
                                                                int ldkv, float *out, int n_heads, int group, int hd,
                                                                float scale, const int32_t *row_pos,
                                                                const int64_t *row_kv) {
    extern __shared__ float sm[];
    float *qs = sm, *ps = sm + hd, *red = ps + ATT_THREADS, *ss = red + 32;
    const int r = blockIdx.x, h = blockIdx.y, kvh = h / group, tid = threadIdx.x;
    const float *qr = q + (size_t)r * ldq + (size_t)h * hd;
    for (int i = tid; i < hd; i += ATT_THREADS) qs[i] = qr[i];
    __syncthreads();
    const int n_keys = row_pos[r] + 1;
    const size_t base = (size_t)row_kv[r];
    const KT *kb = k + (size_t)kvh * hd, *vb = v + (size_t)kvh * hd;
    float m = -INFINITY, l = 0.0f, acc[ATT_MAX_PER_THREAD];
#pragma unroll
    for (int c = 0; c < ATT_MAX_PER_THREAD; c++) acc[c] = 0.0f;
    const int lane = tid & 31, wid = tid >> 5;
    for (int t0 = 0; t0 < n_keys; t0 += ATT_THREADS) {
        const int nt = min(ATT_THREADS, n_keys - t0);
        for (int jj = wid; jj < nt; jj += ATT_THREADS / 32) {
            const KT *kr = kb + (base + (size_t)(t0 + jj)) * ldkv;
            float dot = 0.0f;
            for (int i = lane; i < hd; i += 32) dot = fmaf(qs[i], kv_ld(kr + i), dot);
            for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if (lane == 0) ss[jj] = dot * scale;
        }
        __syncthreads(); // the tile's scores are in ss
        const int j = t0 + tid;
        const float s = j < n_keys ? ss[tid] : -INFINITY;
        const float new_m = fmaxf(m, att_block_max(s, red)); // finite: key t0 is always valid
        const float p = j < n_keys ? expf(s - new_m) : 0.0f;
        ps[tid] = p;
        const float tsum = att_block_sum(p, red); // its __syncthreads also publishes ps
        const float corr = expf(m - new_m);       // 0 on the first tile (m = -inf)
        l = l * corr + tsum;
#pragma unroll
        for (int c = 0; c < ATT_MAX_PER_THREAD; c++) {
            const int i = tid + c * ATT_THREADS;
            if (i < hd) {
                float a = acc[c] * corr;
                for (int jj = 0; jj < nt; jj++) a += ps[jj] * kv_ld(vb + (base + (size_t)(t0 + jj)) * ldkv + i);
                acc[c] = a;
            }
        }
        m = new_m;
        __syncthreads(); // ps and ss are rewritten by the next tile
    }
    float *o = out + (size_t)r * n_heads * hd + (size_t)h * hd;
    const float inv = 1.0f / l;
#pragma unroll
    for (int c = 0; c < ATT_MAX_PER_THREAD; c++) {
        const int i = tid + c * ATT_THREADS;
        if (i < hd) o[i] = acc[c] * inv;
    }
}

// ---- the tiled kernel
#define TQ 64            // query rows per block
#define TK 32            // keys per shared-memory tile
#define TILE_THREADS 256 // 16 x 16: thread (ty, tx) owns rows ty + 16 i (i < 4)

// Shared memory: Q (TQ, HD+4) | K (TK, HD+4) | V (TK, HD) | P (TQ, TK).
// Q and K rows are read 4 floats at a time along d; the 4-float padding puts
// the 8 rows a quarter-warp reads in 8 different 4-bank groups.
template <int HD> static size_t tiled_smem_bytes() {
    return ((size_t)TQ * (HD + 4) + (size_t)TK * (HD + 4) + (size_t)TK * HD + (size_t)TQ * TK) * sizeof(float);
}

// Thread (ty, tx) computes scores S[ty + 16 i][tx + 16 j] (i < 4, j < TK/16)
// and output O[ty + 16 i][g*16*VW + tx*VW + e] (g < NG, e < VW): VW
// consecutive dims so that V is read VW floats at a time.
template <int HD, typename KT>
__global__ void __launch_bounds__(TILE_THREADS) attention_tiled_kernel(const float *q, int ldq, const KT *k,
                                                                       const KT *v, int ldkv, float *out,
                                                                       int n_heads, int group, float scale,
                                                                       const lr_attn_tile *tiles) {
    constexpr int LD = HD + 4, KJ = TK / 16, DJ = HD / 16, VW = DJ >= 4 ? 4 : DJ, NG = DJ / VW;
    static_assert(HD % 16 == 0 && DJ % VW == 0, "head_dim must be a multiple of 16");
    extern __shared__ float4 sm4[]; // float4: 16-byte aligned
    float *Qs = (float *)sm4, *Ks = Qs + TQ * LD, *Vs = Ks + TK * LD, *Ps = Vs + TK * HD;
    const lr_attn_tile t = tiles[blockIdx.x];
    const int h = blockIdx.y, kvh = h / group, tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    for (int i = tid; i < TQ * HD; i += TILE_THREADS) {
        const int r = i / HD, d = i % HD;
        Qs[r * LD + d] = r < t.n ? q[(size_t)(t.row0 + r) * ldq + (size_t)h * HD + d] : 0.0f;
    }
    float o[4][DJ], m[4], l[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < DJ; j++) o[i][j] = 0.0f;
    }
    const int n_keys = t.pos0 + t.n; // the keys of the tile's last row
    const KT *kb = k + (size_t)kvh * HD, *vb = v + (size_t)kvh * HD;
    for (int k0 = 0; k0 < n_keys; k0 += TK) {
        __syncthreads(); // the previous tile's K, V and P are read (and Q is written)
        for (int i = tid; i < TK * HD; i += TILE_THREADS) {
            const int c = i / HD, d = i % HD;
            const size_t row = (size_t)t.kv_row + (size_t)(k0 + c);
            const bool ok = k0 + c < n_keys;
            Ks[c * LD + d] = ok ? kv_ld(kb + row * ldkv + d) : 0.0f;
            Vs[c * HD + d] = ok ? kv_ld(vb + row * ldkv + d) : 0.0f;
        }
        __syncthreads();
        float s[4][KJ];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < KJ; j++) s[i][j] = 0.0f;
#pragma unroll 4
        for (int d = 0; d < HD; d += 4) { // each score: one fma chain over d in order
            float4 qv[4], kv[KJ];
#pragma unroll
            for (int i = 0; i < 4; i++) qv[i] = *(const float4 *)&Qs[(ty + 16 * i) * LD + d];
#pragma unroll
            for (int j = 0; j < KJ; j++) kv[j] = *(const float4 *)&Ks[(tx + 16 * j) * LD + d];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < KJ; j++) {
                    float a = fmaf(qv[i].x, kv[j].x, s[i][j]);
                    a = fmaf(qv[i].y, kv[j].y, a);
                    a = fmaf(qv[i].z, kv[j].z, a);
                    s[i][j] = fmaf(qv[i].w, kv[j].w, a);
                }
        }
        // causal mask and online softmax; a row's TK scores sit in the 16
        // lanes of its half-warp (same ty), reduced with xor shuffles < 16
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int r = ty + 16 * i, qpos = t.pos0 + r;
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < KJ; j++) {
                const int kp = k0 + tx + 16 * j;
                s[i][j] = r < t.n && kp <= qpos ? s[i][j] * scale : -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            for (int off = 8; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float mn = fmaxf(m[i], mx);
            const float corr = mn == -INFINITY ? 1.0f : expf(m[i] - mn); // 0 on a row's first keys
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < KJ; j++) {
                const float p = mn == -INFINITY ? 0.0f : expf(s[i][j] - mn);
                Ps[r * TK + tx + 16 * j] = p;
                ps += p;
            }
            for (int off = 8; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
            l[i] = l[i] * corr + ps;
            m[i] = mn;
#pragma unroll
            for (int j = 0; j < DJ; j++) o[i][j] *= corr;
        }
        __syncthreads(); // P is complete
        const int kn = min(TK, n_keys - k0);
        for (int c = 0; c < kn; c++) {
            float pv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) pv[i] = Ps[(ty + 16 * i) * TK + c];
#pragma unroll
            for (int g = 0; g < NG; g++) {
                float vv[VW];
                const float *vr = &Vs[c * HD + g * 16 * VW + tx * VW];
                if constexpr (VW == 4) {
                    const float4 v4 = *(const float4 *)vr;
                    vv[0] = v4.x, vv[1] = v4.y, vv[2] = v4.z, vv[3] = v4.w;
                } else {
#pragma unroll
                    for (int e = 0; e < VW; e++) vv[e] = vr[e];
                }
#pragma unroll
                for (int e = 0; e < VW; e++)
#pragma unroll
                    for (int i = 0; i < 4; i++) o[i][g * VW + e] = fmaf(pv[i], vv[e], o[i][g * VW + e]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = ty + 16 * i;
        if (r >= t.n) continue;
        float *orow = out + (size_t)(t.row0 + r) * n_heads * HD + (size_t)h * HD;
        const float inv = 1.0f / l[i];
#pragma unroll
        for (int g = 0; g < NG; g++)
#pragma unroll
            for (int e = 0; e < VW; e++) orow[g * 16 * VW + tx * VW + e] = o[i][g * VW + e] * inv;
    }
}

template <int HD, typename KT>
static void launch_tiled(lr_cuda_ctx *cx, int n_tiles, const float *q, int ldq, const KT *k, const KT *v, int ldkv,
                         float *out, int n_heads, int group, float scale, const lr_attn_tile *tiles) {
    const size_t smem = tiled_smem_bytes<HD>();
    LR_CUDA_CHECK(cudaFuncSetAttribute(attention_tiled_kernel<HD, KT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)smem));
    const dim3 grid((unsigned)n_tiles, (unsigned)n_heads);
    attention_tiled_kernel<HD, KT><<<grid, TILE_THREADS, smem, cx->stream>>>(q, ldq, k, v, ldkv, out, n_heads, group,
                                                                             scale, tiles);
    LR_CUDA_LAUNCHED();
}

// ---- the tensor-core kernel
#define TC_Q 64        // query rows per block (4 warps x 16)
#define TC_K 64        // keys per shared-memory tile
#define TC_THREADS 128
#define TC_LDS 68      // fp32 score row stride: a multiple of 4 (WMMA), rows spread over banks
#define TC_LDP 72      // bf16 probability row stride: a multiple of 8 (WMMA)

// Shared memory: Q (TC_Q, HD) | K (TC_K, HD) | V (TC_K, HD), bf16; then per
// warp its scores (16, TC_LDS) fp32 and probabilities (16, TC_LDP) bf16.
// At the end each warp's output (16, HD) fp32 goes where K and V were.
template <int HD> static size_t tc_smem_bytes() {
    return (size_t)(TC_Q + 2 * TC_K) * HD * sizeof(__nv_bfloat16) + (size_t)4 * 16 * TC_LDS * sizeof(float) +
           (size_t)4 * 16 * TC_LDP * sizeof(__nv_bfloat16);
}

template <int HD, typename KT>
__global__ void __launch_bounds__(TC_THREADS) attention_tc_kernel(const float *q, int ldq, const KT *k,
                                                                  const KT *v, int ldkv, float *out, int n_heads,
                                                                  int group, float scale, const lr_attn_tile *tiles) {
    using namespace nvcuda;
    static_assert(HD % 16 == 0 && 4 * 16 * HD * sizeof(float) <= 2 * TC_K * HD * sizeof(__nv_bfloat16),
                  "the output staging must fit where K and V were");
    // WMMA needs 32-byte aligned tiles: every region below starts at a multiple of 32 bytes
    extern __shared__ __align__(128) float4 tc_sm4[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)tc_sm4, *Ks = Qs + TC_Q * HD, *Vs = Ks + TC_K * HD;
    float *Sall = (float *)(Vs + TC_K * HD);
    __nv_bfloat16 *Pall = (__nv_bfloat16 *)(Sall + 4 * 16 * TC_LDS);
    const lr_attn_tile t = tiles[blockIdx.x];
    const int h = blockIdx.y, kvh = h / group, tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
    float *S = Sall + w * 16 * TC_LDS;        // this warp's (16, TC_K) scores
    __nv_bfloat16 *P = Pall + w * 16 * TC_LDP; // ... and probabilities
    for (int i = tid; i < TC_Q * HD; i += TC_THREADS) { // Q rounded to bf16; rows past the tile: 0
        const int r = i / HD, d = i % HD;
        Qs[i] = __float2bfloat16_rn(r < t.n ? q[(size_t)(t.row0 + r) * ldq + (size_t)h * HD + d] : 0.0f);
    }
    // this lane's share of the softmax: score row `row` of the warp, columns half*32 .. +32
    const int row = lane >> 1, half = lane & 1, rb = w * 16 + row, qpos = t.pos0 + rb;
    const bool row_ok = rb < t.n;
    const int warp_last = t.pos0 + w * 16 + 15; // keys after it are masked for every row of the warp
    const int n_keys = t.pos0 + t.n;
    const KT *kb = k + (size_t)kvh * HD, *vb = v + (size_t)kvh * HD;
    float m = -INFINITY, l = 0.0f; // the row's max and sum (pass 0), shared by the lane pair
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> o[HD / 16];
#pragma unroll
    for (int j = 0; j < HD / 16; j++) wmma::fill_fragment(o[j], 0.0f);
    for (int pass = 0; pass < 2; pass++) {
        for (int k0 = 0; k0 < n_keys; k0 += TC_K) {
            __syncthreads(); // the previous tile's K and V are read (and Q is written)
            for (int i = tid; i < TC_K * HD; i += TC_THREADS) {
                const int c = i / HD, d = i % HD;
                const bool ok = k0 + c < n_keys;
                const size_t kr = (size_t)t.kv_row + (size_t)(k0 + c);
                Ks[i] = ok ? kv_bf16(kb + kr * ldkv + d) : __float2bfloat16_rn(0.0f);
                if (pass == 1) Vs[i] = ok ? kv_bf16(vb + kr * ldkv + d) : __float2bfloat16_rn(0.0f);
            }
            __syncthreads();
            if (k0 > warp_last) continue; // warp-uniform: nothing of this tile is visible to the warp
            // S (16, TC_K) = Q_w (16, HD) . K^T
#pragma unroll
            for (int n0 = 0; n0 < TC_K; n0 += 16) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> sc;
                wmma::fill_fragment(sc, 0.0f);
#pragma unroll
                for (int d0 = 0; d0 < HD; d0 += 16) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
                    wmma::load_matrix_sync(a, Qs + w * 16 * HD + d0, HD);
                    wmma::load_matrix_sync(b, Ks + n0 * HD + d0, HD);
                    wmma::mma_sync(sc, a, b, sc);
                }
                wmma::store_matrix_sync(S + n0, sc, TC_LDS, wmma::mem_row_major);
            }
            __syncwarp();
            const float *sr = S + row * TC_LDS + half * 32;
            const int c0 = k0 + half * 32; // key position of sr[0]
            if (pass == 0) { // online max and sum of the row's visible scores
                float mx = -INFINITY;
                for (int c = 0; c < 32; c++)
                    if (row_ok && c0 + c <= qpos) mx = fmaxf(mx, sr[c] * scale);
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                const float mn = fmaxf(m, mx);
                float ps = 0.0f;
                if (mn != -INFINITY)
                    for (int c = 0; c < 32; c++)
                        if (row_ok && c0 + c <= qpos) ps += expf(sr[c] * scale - mn);
                ps += __shfl_xor_sync(0xffffffffu, ps, 1);
                if (mn != -INFINITY) {
                    l = l * expf(m - mn) + ps; // expf(-inf) = 0 on the row's first keys
                    m = mn;
                }
            } else { // final probabilities, then O += P . V
                __nv_bfloat16 *pr = P + row * TC_LDP + half * 32;
                const float inv = row_ok ? 1.0f / l : 0.0f; // l > 0: key 0 is visible to every row
                for (int c = 0; c < 32; c++) {
                    const float p = row_ok && c0 + c <= qpos ? expf(sr[c] * scale - m) * inv : 0.0f;
                    pr[c] = __float2bfloat16_rn(p);
                }
                __syncwarp();
#pragma unroll
                for (int kc = 0; kc < TC_K; kc += 16) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                    wmma::load_matrix_sync(a, P + kc, TC_LDP);
#pragma unroll
                    for (int j = 0; j < HD / 16; j++) {
                        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
                        wmma::load_matrix_sync(b, Vs + kc * HD + j * 16, HD);
                        wmma::mma_sync(o[j], a, b, o[j]);
                    }
                }
            }
            __syncwarp(); // S and P are rewritten by the next tile
        }
    }
    __syncthreads(); // K and V are read: the warps' outputs go there
    float *Os = (float *)Ks + w * 16 * HD; // (16, HD)
#pragma unroll
    for (int j = 0; j < HD / 16; j++) wmma::store_matrix_sync(Os + j * 16, o[j], HD, wmma::mem_row_major);
    __syncwarp();
    for (int i = lane; i < 16 * HD; i += 32) {
        const int r = w * 16 + i / HD, d = i % HD;
        if (r < t.n) out[(size_t)(t.row0 + r) * n_heads * HD + (size_t)h * HD + d] = Os[i];
    }
}

template <int HD, typename KT>
static void launch_tc(lr_cuda_ctx *cx, int n_tiles, const float *q, int ldq, const KT *k, const KT *v, int ldkv,
                      float *out, int n_heads, int group, float scale, const lr_attn_tile *tiles) {
    const size_t smem = tc_smem_bytes<HD>();
    LR_CUDA_CHECK(
        cudaFuncSetAttribute(attention_tc_kernel<HD, KT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    const dim3 grid((unsigned)n_tiles, (unsigned)n_heads);
    attention_tc_kernel<HD, KT><<<grid, TC_THREADS, smem, cx->stream>>>(q, ldq, k, v, ldkv, out, n_heads, group,
                                                                        scale, tiles);
    LR_CUDA_LAUNCHED();
}

// ---- the decode kernel
#define DEC_WARPS 4
#define DEC_MAX_GROUP 8
#define DEC_MAX_SPLITS 32

// Block (r, kvh, z): query row r, KV head kvh, keys [z*chunk, (z+1)*chunk)
// of the row's 0..pos (chunk = ceil(keys / S)). Warp w takes every
// DEC_WARPS-th key of the range; lane l holds dims [l*VPL, l*VPL + VPL) of
// q, k, v, so a key row is one coalesced vector load and each of the G
// scores one warp sum. Online softmax per warp and head, then the warps
// merge in shared memory; with S = 1 the block writes the output, else its
// partial (max, sum, unnormalised output) for attention_merge_kernel.
template <int VPL, int G, typename KT>
__global__ void __launch_bounds__(DEC_WARPS * 32)
    attention_decode_kernel(const float *q, int ldq, const KT *k, const KT *v, int ldkv, float *out,
                            __nv_bfloat16 *ob, int n_heads, float scale, const int32_t *row_pos, const int64_t *row_kv,
                            float *part) {
    constexpr int HD = VPL * 32;
    typedef typename std::conditional<VPL == 4, float4, float2>::type vec;
    __shared__ float sm_m[DEC_WARPS][G], sm_l[DEC_WARPS][G];
    __shared__ float sm_o[DEC_WARPS][G][HD];
    const int r = blockIdx.x, kvh = blockIdx.y, z = blockIdx.z, S = gridDim.z;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int n_keys = row_pos[r] + 1, chunk = (n_keys + S - 1) / S;
    const int k0 = z * chunk, k1 = min(n_keys, k0 + chunk);
    const size_t base = (size_t)row_kv[r];
    float qv[G][VPL], acc[G][VPL], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        const vec x = *(const vec *)(q + (size_t)r * ldq + (size_t)(kvh * G + g) * HD + lane * VPL);
        const float *xf = (const float *)&x;
#pragma unroll
        for (int i = 0; i < VPL; i++) qv[g][i] = xf[i], acc[g][i] = 0.0f;
        m[g] = -INFINITY, l[g] = 0.0f;
    }
    const KT *kb = k + (size_t)kvh * HD + lane * VPL, *vb = v + (size_t)kvh * HD + lane * VPL;
    for (int j = k0 + w; j < k1; j += DEC_WARPS) {
        float kf[VPL], vf[VPL];
        kv_vec<VPL>(kb + (base + (size_t)j) * ldkv, kf);
        kv_vec<VPL>(vb + (base + (size_t)j) * ldkv, vf);
#pragma unroll
        for (int g = 0; g < G; g++) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < VPL; i++) d = fmaf(qv[g][i], kf[i], d);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            const float sc = d * scale, mn = fmaxf(m[g], sc);
            const float corr = expf(m[g] - mn), p = expf(sc - mn); // corr = 0 on the first key (m = -inf)
            l[g] = l[g] * corr + p;
#pragma unroll
            for (int i = 0; i < VPL; i++) acc[g][i] = fmaf(p, vf[i], acc[g][i] * corr);
            m[g] = mn;
        }
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (lane == 0) sm_m[w][g] = m[g], sm_l[w][g] = l[g];
#pragma unroll
        for (int i = 0; i < VPL; i++) sm_o[w][g][lane * VPL + i] = acc[g][i];
    }
    __syncthreads();
    for (int t = threadIdx.x; t < G * HD; t += DEC_WARPS * 32) {
        const int g = t / HD, i = t % HD;
        float mx = -INFINITY;
#pragma unroll
        for (int ww = 0; ww < DEC_WARPS; ww++) mx = fmaxf(mx, sm_m[ww][g]);
        float lsum = 0.0f, o = 0.0f;
        if (mx != -INFINITY) // else no key in this split: an empty partial
#pragma unroll
            for (int ww = 0; ww < DEC_WARPS; ww++) {
                const float f = expf(sm_m[ww][g] - mx); // 0 for a warp without keys
                lsum = fmaf(sm_l[ww][g], f, lsum);
                o = fmaf(sm_o[ww][g][i], f, o);
            }
        const int h = kvh * G + g;
        if (S == 1) {
            const size_t at = (size_t)r * n_heads * HD + (size_t)h * HD + i;
            out[at] = o / lsum;
            if (ob) ob[at] = __float2bfloat16_rn(o / lsum); // the o_proj GEMM's input (lr_cuda_bf16_out)
        } else { // partial (r, h, z): max | sum | HD outputs
            float *pp = part + (((size_t)r * n_heads + h) * S + z) * (HD + 2);
            if (i == 0) pp[0] = mx, pp[1] = lsum;
            pp[2 + i] = o;
        }
    }
}

// out (r, h) = the splits' partials merged: sum_z o_z e^(m_z - M) / sum_z l_z e^(m_z - M).
__global__ void attention_merge_kernel(const float *part, float *out, __nv_bfloat16 *ob, int n_heads, int hd, int S) {
    const int r = blockIdx.x, h = blockIdx.y;
    const float *pp = part + ((size_t)r * n_heads + h) * S * (hd + 2);
    float mx = -INFINITY;
    for (int z = 0; z < S; z++) mx = fmaxf(mx, pp[(size_t)z * (hd + 2)]);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float lsum = 0.0f, o = 0.0f;
        for (int z = 0; z < S; z++) {
            const float *pz = pp + (size_t)z * (hd + 2);
            if (pz[0] == -INFINITY) continue; // an empty split (split 0 always has key 0)
            const float f = expf(pz[0] - mx);
            lsum = fmaf(pz[1], f, lsum);
            o = fmaf(pz[2 + i], f, o);
        }
        const size_t at = (size_t)r * n_heads * hd + (size_t)h * hd + i;
        out[at] = o / lsum;
        if (ob) ob[at] = __float2bfloat16_rn(o / lsum);
    }
}

// Splits of each row's keys: enough blocks for two per SM, from the row
// count alone (the same launches every decode step of a batch size).
static int decode_splits(const lr_cuda_ctx *cx, int T, int n_kv_heads) {
    const long blocks = (long)T * n_kv_heads, want = 2L * (cx->n_sm > 0 ? cx->n_sm : 132);
    long s = (want + blocks - 1) / blocks;
    return (int)(s < 1 ? 1 : s > DEC_MAX_SPLITS ? DEC_MAX_SPLITS : s);
}

template <int VPL, int G, typename KT>
static void launch_decode_g(lr_cuda_ctx *cx, int T, int n_kv, int S, const float *q, int ldq, const KT *k,
                            const KT *v, int ldkv, float *out, __nv_bfloat16 *ob, int n_heads, float scale,
                            const int32_t *pos, const int64_t *kvr, float *part) {
    const dim3 grid((unsigned)T, (unsigned)n_kv, (unsigned)S);
    attention_decode_kernel<VPL, G, KT><<<grid, DEC_WARPS * 32, 0, cx->stream>>>(q, ldq, k, v, ldkv, out, ob,
                                                                                n_heads, scale, pos, kvr, part);
    LR_CUDA_LAUNCHED();
}

template <int VPL, typename KT>
static void launch_decode(lr_cuda_ctx *cx, int G, int T, int n_kv, int S, const float *q, int ldq, const KT *k,
                          const KT *v, int ldkv, float *out, __nv_bfloat16 *ob, int n_heads, float scale,
                          const int32_t *pos, const int64_t *kvr, float *part) {
    switch (G) {
#define DEC_CASE(g) \
    case g: launch_decode_g<VPL, g, KT>(cx, T, n_kv, S, q, ldq, k, v, ldkv, out, ob, n_heads, scale, pos, kvr, part); break;
        DEC_CASE(1) DEC_CASE(2) DEC_CASE(3) DEC_CASE(4) DEC_CASE(5) DEC_CASE(6) DEC_CASE(7) DEC_CASE(8)
#undef DEC_CASE
    default: lr_die_internal(__FILE__, __LINE__, "attention: decode kernel for %d heads per KV head", G);
    }
}

// The decode kernel takes the call: head size 64 or 128, at most 8 query
// heads per KV head, every row and stride aligned for vector loads.
static int decode_fits(int head_dim, int group, const float *q, int ldq, const void *k, const void *v, int ldkv,
                       size_t kv_size) {
    if ((head_dim != 64 && head_dim != 128) || group < 1 || group > DEC_MAX_GROUP) return 0;
    const size_t a = (size_t)head_dim / 32 * sizeof(float), akv = (size_t)head_dim / 32 * kv_size; // vector bytes
    return (uintptr_t)q % a == 0 && ((size_t)ldq * 4) % a == 0 && ((uintptr_t)k | (uintptr_t)v) % akv == 0 &&
           ((size_t)ldkv * kv_size) % akv == 0;
}

// Which kernel: LR_CUDA_ATTENTION=rows|tiles|decode forces one where it
// fits (tests); else the tiled kernel when the head size has one and the
// batch has at least 16 query rows per sequence on average (prefill,
// scoring), else the decode kernel where it fits, else rows.
// LR_CUDA_ATTENTION=nodecode: by shape, but rows where decode would run
// (the kernels of the first device runs: the GPU check's fallback).
enum { ATT_ROWS, ATT_TILES, ATT_DECODE, ATT_TC };
static int pick_kernel(int head_dim, int T, int n_seq, int dec_fits) {
    const int tiles_fit = head_dim == 32 || head_dim == 64 || head_dim == 128;
    const char *f = getenv("LR_CUDA_ATTENTION");
    if (f && !strcmp(f, "rows")) return ATT_ROWS;
    if (f && !strcmp(f, "tiles") && tiles_fit) return ATT_TILES;
    if (f && !strcmp(f, "tc") && (head_dim == 64 || head_dim == 128)) return ATT_TC;
    if (f && !strcmp(f, "decode") && dec_fits) return ATT_DECODE;
    if (f && !strcmp(f, "nodecode")) dec_fits = 0;
    if (tiles_fit && T >= 16 * n_seq) return ATT_TILES;
    return dec_fits ? ATT_DECODE : ATT_ROWS;
}

// The op for K / V rows of type KT (fp32, or a bf16 cache).
template <typename KT>
static void attention_impl(lr_cuda_ctx *cx, const float *q, int ldq, const KT *k, const KT *v, int ldkv, float *out,
                           int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    const int T = b->n_seq > 0 ? b->q_off[b->n_seq] : 0;
    if (T <= 0) return;
    if (head_dim > ATT_THREADS * ATT_MAX_PER_THREAD || n_kv_heads < 1 || n_heads % n_kv_heads != 0)
        lr_die_internal(__FILE__, __LINE__, "attention: head_dim %d / heads %d:%d not supported", head_dim, n_heads,
                        n_kv_heads);
    const int group = n_heads / n_kv_heads;
    const int kind =
        pick_kernel(head_dim, T, b->n_seq, decode_fits(head_dim, group, q, ldq, k, v, ldkv, sizeof(KT)));
    if (kind == ATT_TILES || kind == ATT_TC) {
        const int tq = kind == ATT_TC ? TC_Q : TQ;
        const int n_tiles = lr_attn_plan_tile_count(b, tq);
        if (n_tiles < 0) lr_die_internal(__FILE__, __LINE__, "attention: too many tiles");
        if (n_tiles == 0) return;
        const size_t bytes = (size_t)n_tiles * sizeof(lr_attn_tile);
        lr_attn_tile *ht = (lr_attn_tile *)lr_cuda_host_meta(cx, bytes);
        if (lr_attn_plan_tiles(b, T, tq, ht, n_tiles) != n_tiles)
            lr_die_internal(__FILE__, __LINE__, "attention: inconsistent ragged batch (%d sequences, %d rows)", b->n_seq, T);
        const lr_attn_tile *dt = (const lr_attn_tile *)lr_cuda_meta_upload(cx, bytes);
        if (lr_cuda_graph_args(cx, __LINE__, q, ldq, k, v, ldkv, out, n_heads, group, head_dim, scale, dt, n_tiles,
                               kind, (int)sizeof(KT)))
            return;
        if (kind == ATT_TC) {
            if (head_dim == 128) launch_tc<128, KT>(cx, n_tiles, q, ldq, k, v, ldkv, out, n_heads, group, scale, dt);
            else launch_tc<64, KT>(cx, n_tiles, q, ldq, k, v, ldkv, out, n_heads, group, scale, dt);
            return;
        }
        if (head_dim == 128) launch_tiled<128, KT>(cx, n_tiles, q, ldq, k, v, ldkv, out, n_heads, group, scale, dt);
        else if (head_dim == 64) launch_tiled<64, KT>(cx, n_tiles, q, ldq, k, v, ldkv, out, n_heads, group, scale, dt);
        else launch_tiled<32, KT>(cx, n_tiles, q, ldq, k, v, ldkv, out, n_heads, group, scale, dt);
        return;
    }
    // plan: per row its position and its sequence's first KV row, uploaded in one copy
    const size_t pos_bytes = ((size_t)T * sizeof(int32_t) + 7) / 8 * 8, kv_bytes = (size_t)T * sizeof(int64_t);
    char *hm = (char *)lr_cuda_host_meta(cx, pos_bytes + kv_bytes);
    if (lr_attn_plan_rows(b, T, (int32_t *)hm, (int64_t *)(hm + pos_bytes)) != 0)
        lr_die_internal(__FILE__, __LINE__, "attention: inconsistent ragged batch (%d sequences, %d rows)", b->n_seq, T);
    char *dm = (char *)lr_cuda_meta_upload(cx, pos_bytes + kv_bytes);
    const int32_t *dpos = (const int32_t *)dm;
    const int64_t *dkv = (const int64_t *)(dm + pos_bytes);
    if (kind == ATT_DECODE) {
        const int S = decode_splits(cx, T, n_kv_heads);
        float *part = S > 1 ? (float *)lr_cuda_scratch(cx, &cx->attn_part, &cx->attn_part_cap,
                                                        (size_t)T * n_heads * S * (head_dim + 2) * sizeof(float))
                            : NULL;
        __nv_bfloat16 *ob = lr_cuda_bf16_out(cx, out, T, n_heads * head_dim); // for the o_proj GEMM next
        if (lr_cuda_graph_args(cx, __LINE__, q, ldq, k, v, ldkv, out, n_heads, n_kv_heads, head_dim, scale, dm, T, S,
                               part, (const void *)ob, (int)sizeof(KT)))
            return;
        if (head_dim == 128)
            launch_decode<4, KT>(cx, group, T, n_kv_heads, S, q, ldq, k, v, ldkv, out, ob, n_heads, scale, dpos, dkv,
                                 part);
        else
            launch_decode<2, KT>(cx, group, T, n_kv_heads, S, q, ldq, k, v, ldkv, out, ob, n_heads, scale, dpos, dkv,
                                 part);
        if (S > 1) {
            attention_merge_kernel<<<dim3((unsigned)T, (unsigned)n_heads), 128, 0, cx->stream>>>(part, out, ob, n_heads,
                                                                                               head_dim, S);
            LR_CUDA_LAUNCHED();
        }
        return;
    }
    if (lr_cuda_graph_args(cx, __LINE__, q, ldq, k, v, ldkv, out, n_heads, n_kv_heads, head_dim, scale, dm, T,
                           (int)sizeof(KT)))
        return;
    const dim3 grid((unsigned)T, (unsigned)n_heads);
    const size_t smem = ((size_t)head_dim + 2 * ATT_THREADS + 32) * sizeof(float);
    attention_kernel<KT><<<grid, ATT_THREADS, smem, cx->stream>>>(q, ldq, k, v, ldkv, out, n_heads, group, head_dim,
                                                                  scale, dpos, dkv);
    LR_CUDA_LAUNCHED();
}

void lr_cuda_attention(lr_backend *be, const float *q, int ldq, const void *k, const void *v, int ldkv, float *out,
                       int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (b->kv_dtype == LR_BF16)
        attention_impl(cx, q, ldq, (const __nv_bfloat16 *)k, (const __nv_bfloat16 *)v, ldkv, out, n_heads,
                       n_kv_heads, head_dim, scale, b);
    else
        attention_impl(cx, q, ldq, (const float *)k, (const float *)v, ldkv, out, n_heads, n_kv_heads, head_dim,
                       scale, b);
}
