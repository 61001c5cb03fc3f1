// Warp and block reductions shared by the CUDA kernels (blockDim.x a
// multiple of 32, at most 1024). Every thread of the block gets the result;
// the scratch arrays hold 32 entries and may be reused by the next call
// (each call syncs before writing them). C++ (nvcc) only.
#ifndef LR_CUDA_REDUCE_CUH
#define LR_CUDA_REDUCE_CUH

#include <limits.h>
#include <math.h>

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
template <typename T> __device__ __forceinline__ T block_sum(T v, T *red) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads(); // red may still be read by a previous reduction
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : (T)0;
    return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float *red) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : -INFINITY;
    return warp_max(v);
}

// Arg-max as a pair (value, index): the larger value wins, the lower index
// among equal values (the first index of the maximum, as lr_argmax and
// torch.argmax); index INT_MAX means "no value" (all skipped).
__device__ __forceinline__ void argmax_take(float &bv, int &bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}
__device__ __forceinline__ void warp_argmax(float &bv, int &bi) {
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        argmax_take(bv, bi, ov, oi);
    }
}
__device__ __forceinline__ void block_argmax(float &bv, int &bi, float *redv, int *redi) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    warp_argmax(bv, bi);
    __syncthreads();
    if (lane == 0) redv[wid] = bv, redi[wid] = bi;
    __syncthreads();
    bv = lane < nw ? redv[lane] : -INFINITY;
    bi = lane < nw ? redi[lane] : INT_MAX;
    warp_argmax(bv, bi);
}

// A row's lr_argmax (NaN ignored; bi = INT_MAX when every value is NaN)
// and whether every value is finite, for the whole block.
__device__ __forceinline__ void row_argmax(const float *row, int N, float &bv, int &bi, int &fin) {
    __shared__ float sv[32];
    __shared__ int si[32];
    bv = -INFINITY, bi = INT_MAX, fin = 1;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        const float v = row[i];
        fin &= isfinite(v) ? 1 : 0;
        if (!isnan(v)) argmax_take(bv, bi, v, i);
    }
    block_argmax(bv, bi, sv, si);
    fin = __syncthreads_and(fin);
}

#endif
