// The LightReasoner contrast on the GPU (backend.h's contrast op): one
// block per generated step reads the step's expert row (ve) and amateur row
// (va) where the teacher-forced passes left them and computes what
// method/contrast.h's contrast_step computes on the CPU, with the same
// formulas: each row's max and first arg-max, its normaliser
// s = sum expf(x - max) in fp64, lse = max + log(s), log p = (float)(x - lse),
// the entropies and the KL over the shared ids in fp64, the chosen token's
// log-probs, and the store-alpha candidates (ids ascending: each thread
// scans a contiguous range of ids, a block scan gives every thread its
// output offset). Only per-step results and up to `cap` candidates per step
// are copied to the host; a step whose rows are not finite or which has
// more candidates is marked for the caller to recompute from its rows.
// Sums run in a fixed order for a given block size: results do not depend
// on the batch. They differ from the CPU's in the last bits (summation
// order, expf's rounding): SPEC §5's contract, tested by tools/gpu_check.
#include <string.h>

#include "model/cuda/cuda_internal.h"
#include "model/cuda/cuda_reduce.cuh"

#define CONTRAST_THREADS 1024

// Exclusive prefix sum of one int per thread over the block; *total gets
// the block's sum. scan holds 32 ints.
__device__ static int block_exclusive_scan(int v, int *scan, int *total) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    int x = v;
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    __syncthreads();
    if (lane == 31) scan[wid] = x; // the warp's total
    __syncthreads();
    if (wid == 0) {
        int w = lane < nw ? scan[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += y;
        }
        if (lane < nw) scan[lane] = w; // inclusive over warps
    }
    __syncthreads();
    *total = scan[nw - 1];
    return (wid ? scan[wid - 1] : 0) + x - v;
}

__global__ void __launch_bounds__(CONTRAST_THREADS)
    contrast_kernel(const float *le, int ve, const float *la, int va, const int32_t *tokens, double log_alpha, int cap,
                    lr_contrast_row *rows, int32_t *cid, float *clpe, float *clpa) {
    __shared__ float redf[32];
    __shared__ int redi[32];
    __shared__ double redd[32];
    const size_t r = blockIdx.x;
    const float *xe = le + r * ve, *xa = la + r * va; // (ve), (va)
    const int v = ve < va ? ve : va, tid = threadIdx.x, nt = blockDim.x;
    const int32_t tok = tokens[r];
    lr_contrast_row out;
    memset(&out, 0, sizeof out);

    // maxima, first arg-maxima (over each full row), the expert's maximum over the shared ids, finiteness
    float me = -INFINITY, ma = -INFINITY, mev = -INFINITY;
    int ae = INT_MAX, aa = INT_MAX, fin = 1;
    for (int i = tid; i < ve; i += nt) {
        const float x = xe[i];
        fin &= isfinite(x) ? 1 : 0;
        argmax_take(me, ae, x, i);
        if (i < v) mev = fmaxf(mev, x);
    }
    for (int i = tid; i < va; i += nt) {
        const float x = xa[i];
        fin &= isfinite(x) ? 1 : 0;
        argmax_take(ma, aa, x, i);
    }
    fin = __syncthreads_and(fin);
    block_argmax(me, ae, redf, redi);
    block_argmax(ma, aa, redf, redi);
    mev = block_max(mev, redf);
    out.top1_expert = ae == INT_MAX ? 0 : ae;
    out.top1_amateur = aa == INT_MAX ? 0 : aa;
    if (!fin) { // the caller recomputes the step (NaN fields, one candidate)
        if (tid == 0) rows[r] = out;
        return;
    }

    // normalisers
    double se = 0.0, sa = 0.0;
    for (int i = tid; i < ve; i += nt) se += (double)expf(xe[i] - me);
    for (int i = tid; i < va; i += nt) sa += (double)expf(xa[i] - ma);
    se = block_sum(se, redd);
    sa = block_sum(sa, redd);
    const double lse_e = (double)me + log(se), lse_a = (double)ma + log(sa);

    // entropies (0 log 0 = 0) and the KL over the shared ids
    double he = 0.0, ha = 0.0, kl = 0.0;
    for (int i = tid; i < ve; i += nt) {
        const float e = expf(xe[i] - me), lp = (float)((double)xe[i] - lse_e);
        if (e > 0.0f) {
            he -= (double)e * (double)lp;
            if (i < v) kl += (double)e * ((double)lp - (double)(float)((double)xa[i] - lse_a));
        }
    }
    for (int i = tid; i < va; i += nt) {
        const float e = expf(xa[i] - ma), lp = (float)((double)xa[i] - lse_a);
        if (e > 0.0f) ha -= (double)e * (double)lp;
    }
    he = block_sum(he, redd);
    ha = block_sum(ha, redd);
    kl = block_sum(kl, redd);
    out.kl = kl / se;
    out.entropy_expert = he / se;
    out.entropy_amateur = ha / sa;
    out.logp_expert = (float)((double)xe[tok] - lse_e);
    out.logp_amateur = tok < va ? (float)((double)xa[tok] - lse_a) : -INFINITY;
    out.finite = isfinite(out.kl) ? 1 : 0;

    // candidates: log p_E(i) - max_{u<v} log p_E(u) >= log(store_alpha), ids ascending
    const double max_lpe = (double)(float)((double)mev - lse_e); // rounding to float is monotonic
    const int chunk = (v + nt - 1) / nt, i0 = min(v, tid * chunk), i1 = min(v, i0 + chunk);
    int mine = 0;
    for (int i = i0; i < i1; i++) mine += (double)(float)((double)xe[i] - lse_e) - max_lpe >= log_alpha;
    int total = 0;
    int o = block_exclusive_scan(mine, redi, &total);
    out.n_cand = total;
    if (out.finite && total <= cap)
        for (int i = i0; i < i1; i++) {
            const float lp = (float)((double)xe[i] - lse_e);
            if (!((double)lp - max_lpe >= log_alpha)) continue;
            const size_t k = r * (size_t)cap + (size_t)o++;
            cid[k] = i;
            clpe[k] = lp;
            clpa[k] = (float)((double)xa[i] - lse_a);
        }
    if (tid == 0) rows[r] = out;
}

void lr_cuda_contrast(lr_backend *be, const float *le, int ve, const float *la, int va, int n,
                      const int32_t *tokens, double log_alpha, int cap, lr_contrast_row *rows, int32_t *cand_ids,
                      float *cand_lpe, float *cand_lpa) {
    lr_cuda_ctx *cx = lr_cuda_outside_graph(be);
    if (n <= 0) return;
    if (cap < 1 || ve < 1 || va < 1) lr_die_internal(__FILE__, __LINE__, "contrast: cap %d, ve %d, va %d", cap, ve, va);
    memcpy(lr_cuda_host_meta(cx, (size_t)n * sizeof *tokens), tokens, (size_t)n * sizeof *tokens);
    const int32_t *dtok = (const int32_t *)lr_cuda_meta_upload(cx, (size_t)n * sizeof *tokens);
    // device results | their pinned host copy: rows, then cap candidates per step (ids, lpe, lpa)
    const size_t rb = (size_t)n * sizeof(lr_contrast_row), cb = (size_t)n * cap * sizeof(float);
    const size_t bytes = rb + 3 * cb;
    char *dev = (char *)lr_cuda_scratch(cx, &cx->contrast_dev, &cx->contrast_dev_cap, bytes);
    if (bytes > cx->contrast_host_cap) {
        if (cx->contrast_host) LR_CUDA_CHECK(cudaFreeHost(cx->contrast_host));
        LR_CUDA_CHECK(cudaMallocHost(&cx->contrast_host, 2 * bytes));
        cx->contrast_host_cap = 2 * bytes;
    }
    contrast_kernel<<<n, CONTRAST_THREADS, 0, cx->stream>>>(le, ve, la, va, dtok, log_alpha, cap,
                                                            (lr_contrast_row *)dev, (int32_t *)(dev + rb),
                                                            (float *)(dev + rb + cb), (float *)(dev + rb + 2 * cb));
    LR_CUDA_LAUNCHED();
    LR_CUDA_CHECK(cudaMemcpyAsync(cx->contrast_host, dev, bytes, cudaMemcpyDeviceToHost, cx->stream));
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    const char *h = (const char *)cx->contrast_host;
    memcpy(rows, h, rb);
    memcpy(cand_ids, h + rb, cb);
    memcpy(cand_lpe, h + rb + cb, cb);
    memcpy(cand_lpa, h + rb + 2 * cb, cb);
}
