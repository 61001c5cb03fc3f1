// matmul through cuBLASLt: y (M, ldy)[:, 0:N] (+)= x (M, ldx)[:, 0:K] . w^T + bias.
//
// Row-major y = x . w^T is, in cuBLAS's column-major terms, y^T (N x M) =
// w_cm^T . x_cm with w_cm the (K x N) column-major view of w (N, K) and x_cm
// the (K x M) view of x: transa = T, transb = N, m = N, n = M, k = K.
//
// bf16 weights: A and B must share a type, so x is rounded to bf16 first
// (round-to-nearest-even, exactly where the CPU bf16 emulation rounds);
// compute and D stay fp32 (D feeds the residual stream and the logits).
// fp32 weights: an fp32 GEMM with CUBLAS_COMPUTE_32F (no TF32), so fp32
// checkpoints match the CPU path to fp32 rounding (LR_CUDA_MATH=tf32: TF32
// tensor cores, for measurements).
// Bias rides in the epilogue (CUBLASLT_EPILOGUE_BIAS) and accumulate is
// beta = 1. Descriptors, layouts and the heuristic's algorithm are cached
// per shape (cuda_plan.h); one 32 MiB workspace serves every GEMM.
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cuda/cuda_internal.h"

#define WORKSPACE_BYTES ((size_t)32 << 20)
#define PLAN_CACHE_CAP 1024

struct gemm_plan {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    int fused_bias; // 0: the heuristic had no bias epilogue for this shape; a kernel adds it
    int fallback;   // 1: no cuBLASLt algorithm at all (descriptors not made): fallback_gemm_kernel
};

static void plan_destroy(void *v, void *arg) {
    (void)arg;
    gemm_plan *p = (gemm_plan *)v;
    if (p->fallback) {
        free(p);
        return;
    }
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->c);
    cublasLtMatmulDescDestroy(p->op);
    free(p);
}

void lr_cuda_gemm_init(lr_cuda_ctx *cx) {
    LR_CUBLAS_CHECK(cublasLtCreate(&cx->lt));
    cx->workspace_bytes = WORKSPACE_BYTES;
    LR_CUDA_CHECK(cudaMalloc(&cx->workspace, cx->workspace_bytes));
    cx->gemm = lr_gemm_cache_new(PLAN_CACHE_CAP, plan_destroy, NULL);
    cx->gemm_fallback = lr_cuda_env_is("LR_CUDA_GEMM_FALLBACK", "1"); // tests: every GEMM through the fallback kernel
    // fp32 GEMMs (fp32 checkpoints, the trainer): exact fp32 by default, as the
    // CPU; LR_CUDA_MATH=tf32 puts them on tensor cores with 10-bit mantissa
    // inputs (measured against the contracts by the GPU check before any default)
    cx->fuse_bf16 = !lr_cuda_env_is("LR_CUDA_FUSED_BF16", "0");
    cx->gemv = !lr_cuda_env_is("LR_CUDA_GEMV", "0"); // decode's few-row bf16 GEMMs: our GEMV, unless 0
    cx->f32_compute = lr_cuda_env_is("LR_CUDA_MATH", "tf32") ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if (!cx->gemm) lr_die_internal(__FILE__, __LINE__, "out of memory");
}

void lr_cuda_gemm_free(lr_cuda_ctx *cx) {
    lr_gemm_cache_free(cx->gemm);
    cx->gemm = NULL;
    if (cx->workspace) LR_CUDA_CHECK(cudaFree(cx->workspace));
    cx->workspace = NULL;
    if (cx->lt) LR_CUBLAS_CHECK(cublasLtDestroy(cx->lt));
    cx->lt = NULL;
}

cublasLtMatmulPreference_t lr_cuda_gemm_pref(lr_cuda_ctx *cx, int align_a, int align_b, int align_c) {
    cublasLtMatmulPreference_t pref;
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = cx->workspace_bytes;
    const uint32_t al_a = (uint32_t)align_a, al_b = (uint32_t)align_b, al_c = (uint32_t)align_c;
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    return pref;
}

// The heuristic's algorithm for p's descriptors (made for key k: its
// alignments): 0, or -1 with the descriptors destroyed (no algorithm fits).
static int plan_pick_algo(lr_cuda_ctx *cx, const lr_gemm_key *k, gemm_plan *p) {
    cublasLtMatmulPreference_t pref = lr_cuda_gemm_pref(cx, k->align_a, k->align_b, k->align_c);
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(cx->lt, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &n_res);
    LR_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    if (st != CUBLAS_STATUS_SUCCESS || n_res < 1) {
        cublasLtMatrixLayoutDestroy(p->a);
        cublasLtMatrixLayoutDestroy(p->b);
        cublasLtMatrixLayoutDestroy(p->c);
        cublasLtMatmulDescDestroy(p->op);
        return -1;
    }
    p->algo = res.algo;
    return 0;
}

// Descriptors for key; the algorithm from the heuristic (with the bias
// epilogue when asked, else or when no algorithm supports it, without).
// 0, or -1 when no algorithm fits at all.
static int plan_try(lr_cuda_ctx *cx, const lr_gemm_key *k, int fuse_bias, gemm_plan *p) {
    const cudaDataType_t ab = k->wdtype == LR_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    LR_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, k->wdtype == LR_BF16 ? CUBLAS_COMPUTE_32F : cx->f32_compute,
                                             CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (fuse_bias) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        const cudaDataType_t bt = CUDA_R_32F;
        LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
    }
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, ab, (uint64_t)k->K, (uint64_t)k->N, (int64_t)k->K));
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, ab, (uint64_t)k->K, (uint64_t)k->M, (int64_t)k->ldb));
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, (uint64_t)k->N, (uint64_t)k->M, (int64_t)k->ldc));

    if (plan_pick_algo(cx, k, p) != 0) return -1;
    p->fused_bias = fuse_bias;
    return 0;
}

// Said once per process (matmul's or the trainer's plans): a shape cuBLASLt
// has no algorithm for runs on the slow fallback kernel.
static void say_fallback(const lr_gemm_key *k) {
    static int said;
    if (said++) return;
    fprintf(stderr,
            "lightreasoner: warning: cuBLASLt has no algorithm for a %s GEMM (op %d) M=%d N=%d K=%d lda=%d ldb=%d ldc=%d "
            "(alignment %d/%d/%d bytes): using a slow fallback kernel for such shapes\n",
            k->wdtype == LR_BF16 ? "bf16" : "fp32", k->op, k->M, k->N, k->K, k->lda, k->ldb,
            k->ldc, k->align_a, k->align_b, k->align_c);
}

// The plan for key k; a plan with fallback = 1 when cuBLASLt offers no
// algorithm for this shape and alignment (cached too, and said once).
static gemm_plan *plan_get(lr_cuda_ctx *cx, const lr_gemm_key *k) {
    gemm_plan *p = (gemm_plan *)lr_gemm_cache_get(cx->gemm, k);
    if (p) return p;
    p = (gemm_plan *)calloc(1, sizeof *p);
    if (!p) lr_die_internal(__FILE__, __LINE__, "out of memory");
    if (cx->gemm_fallback || (!(k->bias && plan_try(cx, k, 1, p) == 0) && plan_try(cx, k, 0, p) != 0)) {
        if (!cx->gemm_fallback) say_fallback(k);
        p->fallback = 1;
    }
    if (lr_gemm_cache_put(cx->gemm, k, p) != 0) lr_die_internal(__FILE__, __LINE__, "GEMM plan stored twice");
    return p;
}

// ---- The trainer's GEMMs (cuda_train.cu lr_cuda_gemm; matmul_dx with bf16
// weights), their plans cached beside matmul's (cuda_plan.h
// lr_gemm_train_key), so a step asks the heuristic once per shape, not once
// per call. Row-major C (M, N) = op(A) op(B) is, column-major, Cᵀ (N x M) =
// op(B)ᵀ op(A)ᵀ: cuBLAS's A is the caller's B and its B the caller's A.
//  - LR_GEMM_OP_TRAIN + (ta << 1 | tb): fp32, A (M, K) or (K, M) as stored
//    with stride lda, B (K, N) or (N, K) with ldb, C with ldc;
//  - LR_GEMM_OP_DX: dxᵀ (K x M) = w (K x N as stored) · dyᵀ (N x M), bf16 in.
static int train_plan_try(lr_cuda_ctx *cx, const lr_gemm_key *k, gemm_plan *p) {
    const int dx = k->op == LR_GEMM_OP_DX, ta = dx ? 0 : (k->op - LR_GEMM_OP_TRAIN) >> 1,
              tb = dx ? 0 : (k->op - LR_GEMM_OP_TRAIN) & 1;
    const cudaDataType_t in = dx ? CUDA_R_16BF : CUDA_R_32F;
    LR_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, dx ? CUBLAS_COMPUTE_32F : cx->f32_compute, CUDA_R_32F));
    const cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    const uint64_t M = (uint64_t)k->M, N = (uint64_t)k->N, K = (uint64_t)k->K;
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, in, tb ? K : N, tb ? N : K, k->ldb));
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, in, ta ? M : K, ta ? K : M, k->lda));
    LR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, N, M, k->ldc));
    return plan_pick_algo(cx, k, p);
}

int lr_cuda_gemm_train_lt(lr_cuda_ctx *cx, const lr_gemm_key *k, float alpha, const void *A, const void *B, float beta,
                          float *C) {
    if (cx->gemm_fallback) return -1;
    gemm_plan *p = (gemm_plan *)lr_gemm_cache_get(cx->gemm, k);
    if (!p) {
        p = (gemm_plan *)calloc(1, sizeof *p);
        if (!p) lr_die_internal(__FILE__, __LINE__, "out of memory");
        p->fallback = train_plan_try(cx, k, p) != 0; // remembered: no second query for this shape
        if (p->fallback) say_fallback(k);
        if (lr_gemm_cache_put(cx->gemm, k, p) != 0) lr_die_internal(__FILE__, __LINE__, "GEMM plan stored twice");
    }
    if (p->fallback) return -1;
    LR_CUBLAS_CHECK(cublasLtMatmul(cx->lt, p->op, &alpha, A, p->a, B, p->b, &beta, C, p->c, C, p->c, &p->algo,
                                   cx->workspace, cx->workspace_bytes, cx->stream));
    return 0;
}

// The fallback: one thread per output, fp32 products summed in fp32 in k
// order; B is what cuBLASLt would read (x, or its bf16 copy for bf16 A).
template <typename T>
__global__ void fallback_gemm_kernel(const T *w, const T *b, int ldb, const float *bias, float *y, int ldy, int M,
                                     int N, int K, int accumulate) {
    const size_t n = (size_t)M * N;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int m = (int)(i / (size_t)N), c = (int)(i % (size_t)N);
        const T *wr = w + (size_t)c * K, *br = b + (size_t)m * ldb;
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += (float)wr[k] * (float)br[k];
        if (bias) s += bias[c];
        float *o = y + (size_t)m * ldy + c;
        *o = accumulate ? *o + s : s;
    }
}

// xb (M, K) bf16 = x (M, ldx)[:, 0:K] rounded to nearest even. Rows on grid
// y; 4 columns per thread (one 16-byte load, one 8-byte store) when K and
// ldx are multiples of 4 and x is 16-byte aligned.
__global__ void to_bf16_kernel(const float *x, int ldx, __nv_bfloat16 *xb, int M, int K, int vec4) {
    for (int r = blockIdx.y; r < M; r += gridDim.y) {
        const float *xr = x + (size_t)r * ldx;
        __nv_bfloat16 *o = xb + (size_t)r * K;
        if (vec4) {
            for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4; c < K; c += gridDim.x * blockDim.x * 4) {
                const float4 a = *(const float4 *)(xr + c);
                __nv_bfloat162 lo = __floats2bfloat162_rn(a.x, a.y), hi = __floats2bfloat162_rn(a.z, a.w);
                uint2 packed;
                memcpy(&packed.x, &lo, 4);
                memcpy(&packed.y, &hi, 4);
                *(uint2 *)(o + c) = packed;
            }
        } else {
            for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < K; c += gridDim.x * blockDim.x)
                o[c] = __float2bfloat16_rn(xr[c]);
        }
    }
}

// The split (backend.h bf16_split): hi (M, K) = bf16(x), lo (M, K) =
// bf16(x - hi) (exact in fp32: x and hi share their exponent's range), so
// x = hi + lo to 16 significant bits. One thread per element.
__global__ void to_bf16_split_kernel(const float *x, int ldx, __nv_bfloat16 *hi, __nv_bfloat16 *lo, int M, int K) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < K; c += gridDim.x * blockDim.x) {
            const float v = x[(size_t)r * ldx + c];
            const __nv_bfloat16 h = __float2bfloat16_rn(v);
            hi[(size_t)r * K + c] = h;
            lo[(size_t)r * K + c] = __float2bfloat16_rn(v - __bfloat162float(h));
        }
}

// x's remainder buffer for a split GEMM (hi goes to xbf): (M, K) bf16. Sized
// before lr_cuda_graph_args, so that its address is in a graph's signature.
static __nv_bfloat16 *split_lo(lr_cuda_ctx *cx, int M, int K) {
    return (__nv_bfloat16 *)lr_cuda_scratch(cx, &cx->xbf_lo, &cx->xbf_lo_cap, (size_t)M * K * sizeof(__nv_bfloat16));
}

// Launches the split of x (M, ldx) into hi and lo, (M, K) bf16 each.
static void split_input(lr_cuda_ctx *cx, const float *x, int ldx, __nv_bfloat16 *hi, __nv_bfloat16 *lo, int M, int K) {
    to_bf16_split_kernel<<<lr_cuda_row_grid(M, K, 1, 256), 256, 0, cx->stream>>>(x, ldx, hi, lo, M, K);
    LR_CUDA_LAUNCHED();
}

// ---- bf16 GEMV for decode steps (M <= GEMV_MAX_M rows; the weights read
// once, from HBM, which is the whole cost): y (M, ldy)[:, n] (+)= bf16(x)[m]
// · w[n] (+ bias[n]). One warp per weight row: each lane reads 8 weights
// (16 bytes) and the 8 matching inputs of every row (fp32 rounded to bf16
// as the GEMM's conversion rounds, or the producer's bf16 copy: the same
// values), sums in fp32 in a fixed order and the warp adds its lanes up.
// The roundings of the cuBLASLt path (bf16 products are exact in fp32),
// another summation order. LR_CUDA_GEMV=0: cuBLASLt for these too.
#define GEMV_MAX_M 4
#define GEMV_WARPS 4

__device__ __forceinline__ void bf16x8_to_f32(uint4 v, float f[8]) {
    const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) f[2 * i] = __uint_as_float(u[i] << 16), f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
}
__device__ __forceinline__ void load_x8(const __nv_bfloat16 *x, float f[8]) { bf16x8_to_f32(*(const uint4 *)x, f); }
__device__ __forceinline__ void load_x8(const float *x, float f[8]) {
    const float4 a = *(const float4 *)x, b = *(const float4 *)(x + 4);
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = __bfloat162float(__float2bfloat16_rn(v[i]));
}

template <int MR, typename XT>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_bf16_kernel(const __nv_bfloat16 *w, const XT *x, int ldx, const float *bias, float *y, int ldy, int N, int K,
                     int accumulate) {
    const int lane = threadIdx.x & 31, n = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (n >= N) return; // the whole warp
    const __nv_bfloat16 *wr = w + (size_t)n * K;
    float acc[MR];
#pragma unroll
    for (int m = 0; m < MR; m++) acc[m] = 0.0f;
#pragma unroll 4
    for (int k = lane * 8; k < K; k += 32 * 8) {
        float wf[8];
        bf16x8_to_f32(*(const uint4 *)(wr + k), wf);
#pragma unroll
        for (int m = 0; m < MR; m++) {
            float xf[8];
            load_x8(x + (size_t)m * ldx + k, xf);
#pragma unroll
            for (int j = 0; j < 8; j++) acc[m] = fmaf(wf[j], xf[j], acc[m]);
        }
    }
#pragma unroll
    for (int m = 0; m < MR; m++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    }
    if (lane == 0) {
        const float b = bias ? bias[n] : 0.0f;
#pragma unroll
        for (int m = 0; m < MR; m++) {
            float *o = y + (size_t)m * ldy + n;
            *o = accumulate ? *o + (acc[m] + b) : acc[m] + b;
        }
    }
}

template <typename XT>
static void gemv_launch(lr_cuda_ctx *cx, const __nv_bfloat16 *w, const XT *x, int ldx, const float *bias, float *y,
                        int ldy, int M, int N, int K, int accumulate) {
    const unsigned grid = (unsigned)((N + GEMV_WARPS - 1) / GEMV_WARPS);
    switch (M) {
    case 1: gemv_bf16_kernel<1, XT><<<grid, GEMV_WARPS * 32, 0, cx->stream>>>(w, x, ldx, bias, y, ldy, N, K, accumulate); break;
    case 2: gemv_bf16_kernel<2, XT><<<grid, GEMV_WARPS * 32, 0, cx->stream>>>(w, x, ldx, bias, y, ldy, N, K, accumulate); break;
    case 3: gemv_bf16_kernel<3, XT><<<grid, GEMV_WARPS * 32, 0, cx->stream>>>(w, x, ldx, bias, y, ldy, N, K, accumulate); break;
    default: gemv_bf16_kernel<4, XT><<<grid, GEMV_WARPS * 32, 0, cx->stream>>>(w, x, ldx, bias, y, ldy, N, K, accumulate); break;
    }
    LR_CUDA_LAUNCHED();
}

__nv_bfloat16 *lr_cuda_bf16_out(lr_cuda_ctx *cx, const float *y, int M, int K) {
    cx->shadow.src = NULL;
    if (!cx->fuse_bf16 || !cx->bf16_gemms || M <= 0 || K <= 0) return NULL;
    __nv_bfloat16 *yb = (__nv_bfloat16 *)lr_cuda_scratch(cx, &cx->xbf, &cx->xbf_cap, (size_t)M * K * sizeof *yb);
    cx->shadow.src = y;
    cx->shadow.M = M, cx->shadow.K = K;
    cx->shadow.seq = cx->op_seq;
    return yb;
}

// y (M, ldy) (+)= B (M, ldb) · wᵀ (+ bias) through the shape's plan: cuBLASLt,
// or the fallback kernel where it has no algorithm. B: bf16 for bf16 weights.
static void gemm_run(lr_cuda_ctx *cx, lr_weight w, const void *B, int ldb, const float *bias, float *y, int ldy, int M,
                     int N, int K, int accumulate) {
    // the bias epilogue only for a 16-byte aligned bias (the model's are allocations of their own; an
    // offset into one, which cuBLASLt may read with vector loads, is added by a kernel)
    const int fuse = bias != NULL && (uintptr_t)bias % 16 == 0;
    const lr_gemm_key key = lr_gemm_key_make(w.dtype, M, N, K, ldb, ldy, fuse, accumulate, w.data, B, y);
    gemm_plan *p = plan_get(cx, &key);
    if (p->fallback) {
        const unsigned grid = lr_cuda_grid_for((size_t)M * N, 256);
        if (w.dtype == LR_BF16)
            fallback_gemm_kernel<<<grid, 256, 0, cx->stream>>>((const __nv_bfloat16 *)w.data,
                                                              (const __nv_bfloat16 *)B, ldb, bias, y, ldy, M, N, K,
                                                              accumulate);
        else
            fallback_gemm_kernel<<<grid, 256, 0, cx->stream>>>((const float *)w.data, (const float *)B, ldb, bias, y,
                                                              ldy, M, N, K, accumulate);
        LR_CUDA_LAUNCHED();
        return;
    }
    if (fuse && p->fused_bias)
        LR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    LR_CUBLAS_CHECK(cublasLtMatmul(cx->lt, p->op, &alpha, w.data, p->a, B, p->b, &beta, y, p->c, y, p->c, &p->algo,
                                   cx->workspace, cx->workspace_bytes, cx->stream));
    if (bias && !(fuse && p->fused_bias)) lr_cuda_add_bias(cx, y, ldy, bias, M, N);
}

void lr_cuda_matmul(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy, int M,
                    int N, int K, int accumulate) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // y (+)= bias: no GEMM (cuBLASLt rejects k = 0)
        if (lr_cuda_graph_args(cx, __LINE__, y, ldy, bias, M, N, accumulate)) return;
        if (!accumulate) lr_cuda_zero_cols(cx, y, ldy, M, N);
        if (bias) lr_cuda_add_bias(cx, y, ldy, bias, M, N);
        return;
    }
    const void *B = x;
    int ldb = ldx;
    __nv_bfloat16 *xb = NULL;
    int converted = 0; // 1: x's bf16 copy is already in xbf (its producer's, lr_cuda_bf16_out)
    const int split = w.dtype == LR_BF16 && be->bf16_split; // two GEMMs: w·hi, then + w·lo
    cx->bf16_gemms = w.dtype == LR_BF16 && !split;          // producers' bf16 copies: read by the next such GEMM
    if (w.dtype == LR_BF16) {
        converted = !split && cx->shadow.src == x && cx->shadow.seq + 1 == cx->op_seq && cx->shadow.M == M &&
                    cx->shadow.K == K && ldx == K;
        xb = (__nv_bfloat16 *)lr_cuda_scratch(cx, &cx->xbf, &cx->xbf_cap, (size_t)M * K * sizeof *xb);
        B = xb;
        ldb = K;
        if (converted) cx->shadow.seq = cx->op_seq; // another GEMM right after may read it too
        else cx->shadow.src = NULL;
    } else {
        cx->shadow.src = NULL;
    }
    __nv_bfloat16 *lo = split ? split_lo(cx, M, K) : NULL;
    // a few rows on bf16 weights: the GEMV, reading x (or its bf16 copy) with 16-byte loads
    const int gemv = cx->gemv && w.dtype == LR_BF16 && !split && !cx->gemm_fallback && M <= GEMV_MAX_M &&
                     K % 8 == 0 && (uintptr_t)w.data % 16 == 0 &&
                     (converted || ((uintptr_t)x % 16 == 0 && ldx % 4 == 0));
    // replaying a graph: every launch below is recorded already
    if (lr_cuda_graph_args(cx, __LINE__, x, ldx, B, (const void *)lo, w.data, (int)w.dtype, bias, y, ldy, M, N, K,
                           accumulate, converted, split, gemv))
        return;
    if (gemv) {
        const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w.data;
        if (converted) gemv_launch(cx, wb, (const __nv_bfloat16 *)xb, K, bias, y, ldy, M, N, K, accumulate);
        else gemv_launch(cx, wb, x, ldx, bias, y, ldy, M, N, K, accumulate);
        return;
    }
    if (split) {
        split_input(cx, x, ldx, xb, lo, M, K);
        gemm_run(cx, w, xb, ldb, bias, y, ldy, M, N, K, accumulate);
        gemm_run(cx, w, lo, ldb, NULL, y, ldy, M, N, K, 1);
        return;
    }
    if (xb && !converted) {
        const int vec4 = K % 4 == 0 && ldx % 4 == 0 && (uintptr_t)x % 16 == 0; // xb: cudaMalloc, K % 4 == 0
        to_bf16_kernel<<<lr_cuda_row_grid(M, K, vec4 ? 4 : 1, 256), 256, 0, cx->stream>>>(x, ldx, xb, M, K, vec4);
        LR_CUDA_LAUNCHED();
    }
    gemm_run(cx, w, B, ldb, bias, y, ldy, M, N, K, accumulate);
}

// ---- matmul_dx: dx (M, K) = dy (M, N) . w (N, K), the trainer's input
// gradient through a frozen weight. fp32 w: the trainer's gemm. bf16 w: dy
// rounded to bf16 (as matmul rounds x; with be->bf16_split dy = hi + lo and
// a second GEMM adds lo's product), then in cuBLAS's column-major terms
// dx^T (K x M) = w (K x N as stored) . dy^T (N x M): transa = transb = N,
// m = K, n = M, k = N; fp32 compute and output. Descriptors per call (a few
// large GEMMs per layer).
__global__ void matmul_dx_fallback_kernel(const __nv_bfloat16 *yb, const __nv_bfloat16 *w, float *dx, int M, int N,
                                          int K, int accumulate) {
    for (int r = blockIdx.y; r < M; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < K; c += gridDim.x * blockDim.x) {
            float s = 0.0f;
            for (int n = 0; n < N; n++)
                s = fmaf(__bfloat162float(yb[(size_t)r * N + n]), __bfloat162float(w[(size_t)n * K + c]), s);
            dx[(size_t)r * K + c] = accumulate ? dx[(size_t)r * K + c] + s : s;
        }
}

void lr_cuda_matmul_dx(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K) {
    if (w.dtype != LR_BF16) {
        lr_cuda_gemm(be, 0, 0, M, K, N, 1.0f, dy, N, (const float *)w.data, K, 0.0f, dx, K);
        return;
    }
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (M <= 0 || K <= 0) return;
    if (N <= 0) {
        lr_cuda_zero_cols(cx, dx, K, M, K);
        return;
    }
    __nv_bfloat16 *yb = (__nv_bfloat16 *)lr_cuda_scratch(cx, &cx->xbf, &cx->xbf_cap, (size_t)M * N * sizeof *yb);
    cx->shadow.src = NULL; // xbf now holds dy's copy
    // with be->bf16_split dy's remainder too: dx = hi · w, then += lo · w
    __nv_bfloat16 *lo = be->bf16_split ? split_lo(cx, M, N) : NULL;
    if (lo) {
        split_input(cx, dy, N, yb, lo, M, N);
    } else {
        const int vec4 = N % 4 == 0 && (uintptr_t)dy % 16 == 0;
        to_bf16_kernel<<<lr_cuda_row_grid(M, N, vec4 ? 4 : 1, 256), 256, 0, cx->stream>>>(dy, N, yb, M, N, vec4);
        LR_CUDA_LAUNCHED();
    }
    // in the trainer GEMM's terms: C (M, K) = dy (M, N) · w (N, K), cuBLAS A = w, B = dy's halves
    const lr_gemm_key key = lr_gemm_train_key(LR_GEMM_OP_DX, LR_BF16, M, K, N, N, K, K, w.data, yb, dx);
    for (int part = 0; part < (lo ? 2 : 1); part++) { // the remainder's product added to hi's
        const __nv_bfloat16 *in = part ? lo : yb;
        if (lr_cuda_gemm_train_lt(cx, &key, 1.0f, w.data, in, part ? 1.0f : 0.0f, dx) != 0) {
            matmul_dx_fallback_kernel<<<lr_cuda_row_grid(M, K, 1, 128), 128, 0, cx->stream>>>(
                in, (const __nv_bfloat16 *)w.data, dx, M, N, K, part);
            LR_CUDA_LAUNCHED();
        }
    }
}
