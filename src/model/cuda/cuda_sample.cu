// Temperature / top-p sampling where the logits are (backend.h
// sample_rows; the CPU's is sampling.h's lr_sample_u). The RNG streams stay
// on the host: the caller passes each row's uniform draw u. One block of
// 1024 threads per row; a non-finite row gives lr_argmax's id, as on the CPU.
//  - top_p >= 1 (whole softmax): each thread sums exp((x - max) / t) in
//    fp64 over a contiguous range of ids, a block scan gives every range
//    its start, and the thread whose range holds u * total walks it in id
//    order: only the id comes back (as argmax_rows: graph-capturable);
//  - top_p < 1: the row's 1024 most probable ids (a radix select on the
//    logits' order-preserving keys, ties by lower id) with their logits, the
//    row's total and max come back; the host runs lr_sample_pick on them,
//    the CPU's nucleus and draw (a row whose 1024 best do not reach top_p,
//    a very flat row, is downloaded whole and sampled by lr_sample_u).
// The fp64 totals are summed in another order than the CPU's, so a choice
// can differ only where u * total falls within rounding of a boundary.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/cuda/cuda_internal.h"
#include "model/cuda/cuda_reduce.cuh"

extern "C" {
#include "model/sampling.h"
}

#define SAMPLE_THREADS 1024
#define SAMPLE_TOP 1024 // candidates per top-p row

// Per row of the top-p kernel's output: this head, then SAMPLE_TOP ids and
// SAMPLE_TOP logits (int32, float).
struct topc_head {
    double total; // sum over the row of exp((x - max) / t), fp64
    float max;
    int32_t count;  // candidates written
    int32_t argmax; // lr_argmax of the row
    int32_t finite; // every value finite
    uint32_t below; // the largest order key under the candidates' (0: none)
};
static const size_t TOPC_ROW = sizeof(topc_head) + (size_t)SAMPLE_TOP * (sizeof(int32_t) + sizeof(float));

// Exclusive block scan of one double per thread; *total gets the sum. red: 33 doubles.
__device__ static double block_exclusive_scan(double v, double *red, double *total) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    double incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        const double t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += t;
    }
    __syncthreads(); // red may still be read by a previous reduction
    if (lane == 31) red[wid] = incl;
    __syncthreads();
    if (wid == 0) {
        const double w = lane < nw ? red[lane] : 0.0;
        double wi = w;
        for (int o = 1; o < 32; o <<= 1) {
            const double t = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o) wi += t;
        }
        if (lane < nw) red[lane] = wi - w; // the warps' starts
        if (lane == 31) red[32] = wi;
    }
    __syncthreads();
    *total = red[32];
    return red[wid] + incl - v;
}

// exp((x - max) / t) as lr_sample computes it (fp64)
__device__ __forceinline__ double cand_weight(float x, float mx, double t) { return exp(((double)x - mx) / t); }

__global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_temp_kernel(const float *x, int N, double t, const double *u, int32_t *ids, uint8_t *finite) {
    __shared__ double red[33];
    __shared__ int owner, last_owner;
    const float *row = x + (size_t)blockIdx.x * N;
    float mx;
    int bi, fin;
    row_argmax(row, N, mx, bi, fin);
    if (!fin) {
        if (threadIdx.x == 0) ids[blockIdx.x] = bi == INT_MAX ? 0 : bi, finite[blockIdx.x] = 0;
        return;
    }
    const int chunk = (N + (int)blockDim.x - 1) / (int)blockDim.x;
    const int i0 = min(N, (int)threadIdx.x * chunk), i1 = min(N, i0 + chunk);
    double s = 0.0;
    for (int i = i0; i < i1; i++) {
        const double e = cand_weight(row[i], mx, t);
        if (e > 0.0) s += e;
    }
    double total;
    const double start = block_exclusive_scan(s, red, &total);
    const double target = u[blockIdx.x] * total;
    if (threadIdx.x == 0) owner = INT_MAX, last_owner = -1;
    __syncthreads();
    if (s > 0.0 && target < start + s) atomicMin(&owner, (int)threadIdx.x);
    if (s > 0.0) atomicMax(&last_owner, (int)threadIdx.x);
    __syncthreads();
    // the owner walks its ids in order; past every range (rounding): the last candidate, as lr_sample
    const int walker = owner != INT_MAX ? owner : last_owner;
    if (walker < 0) { // no candidate at all (N = 0): lr_argmax's 0
        if (threadIdx.x == 0) ids[blockIdx.x] = 0, finite[blockIdx.x] = 1;
        return;
    }
    if ((int)threadIdx.x == walker) {
        double cum = start;
        int id = -1, last = i0;
        for (int i = i0; i < i1; i++) {
            const double e = cand_weight(row[i], mx, t);
            if (!(e > 0.0)) continue;
            last = i;
            cum += e;
            if (owner != INT_MAX && target < cum) {
                id = i;
                break;
            }
        }
        ids[blockIdx.x] = id >= 0 ? id : last;
        finite[blockIdx.x] = 1;
    }
}

// An order-preserving key of a finite float (larger value, larger key; -0 as +0).
__device__ __forceinline__ unsigned order_key(float v) {
    unsigned b = __float_as_uint(v);
    if ((b & 0x7fffffffu) == 0) b = 0;
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__global__ void __launch_bounds__(SAMPLE_THREADS) sample_topc_kernel(const float *x, int N, double t, char *out) {
    __shared__ double red[33];
    __shared__ unsigned hist[256];
    __shared__ unsigned prefix, mask;
    __shared__ int need;
    __shared__ unsigned below;
    const float *row = x + (size_t)blockIdx.x * N;
    char *o = out + (size_t)blockIdx.x * TOPC_ROW;
    topc_head *head = (topc_head *)o;
    int32_t *cid = (int32_t *)(o + sizeof(topc_head));
    float *clg = (float *)(cid + SAMPLE_TOP);
    float mx;
    int bi, fin;
    row_argmax(row, N, mx, bi, fin);
    if (!fin) {
        if (threadIdx.x == 0) *head = topc_head{0.0, mx, 0, bi == INT_MAX ? 0 : bi, 0, 0u};
        return;
    }
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        const double e = cand_weight(row[i], mx, t);
        if (e > 0.0) s += e;
    }
    const double total = block_sum(s, red);
    // the C-th largest key, 8 bits at a time from the top
    const int C = N < SAMPLE_TOP ? N : SAMPLE_TOP;
    if (threadIdx.x == 0) prefix = 0, mask = 0, need = C, below = 0u;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        const unsigned pf = prefix, mk = mask;
        for (int i = threadIdx.x; i < N; i += blockDim.x) {
            const unsigned k = order_key(row[i]);
            if ((k & mk) == pf) atomicAdd(&hist[(k >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int cum = 0;
            for (int b = 255; b >= 0; b--) {
                if (cum + (int)hist[b] >= need) {
                    prefix |= (unsigned)b << shift;
                    need -= cum;
                    break;
                }
                cum += (int)hist[b];
            }
            mask |= 255u << shift;
        }
        __syncthreads();
    }
    // every key above the threshold and the `need` lowest ids equal to it, in
    // id order (each thread a contiguous range of ids; block scans give the
    // ties' ranks and the write positions), so that the host's nucleus sums
    // them in the same order on every run
    const unsigned thr = prefix;
    const int chunk = (N + (int)blockDim.x - 1) / (int)blockDim.x;
    const int i0 = min(N, (int)threadIdx.x * chunk), i1 = min(N, i0 + chunk);
    int greater = 0, ties = 0;
    unsigned under = 0u;
    for (int i = i0; i < i1; i++) {
        const unsigned k = order_key(row[i]);
        greater += k > thr, ties += k == thr;
        if (k < thr && k > under) under = k;
    }
    if (under) atomicMax(&below, under); // ordered before its read by the scans' barriers
    double unused;
    const int rank0 = (int)block_exclusive_scan((double)ties, red, &unused); // __syncthreads inside
    const int take = max(0, min(ties, need - rank0));
    int p = (int)block_exclusive_scan((double)(greater + take), red, &unused);
    for (int i = i0, r = rank0; i < i1; i++) {
        const unsigned k = order_key(row[i]);
        if (k > thr || (k == thr && r++ < need)) cid[p] = i, clg[p] = row[i], p++;
    }
    if (threadIdx.x == 0) *head = topc_head{total, mx, C, bi == INT_MAX ? 0 : bi, 1, below};
}

// The float of an order key (order_key's inverse; -0 comes back as +0).
static float key_value(uint32_t k) {
    const uint32_t b = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

void lr_cuda_sample_rows(lr_backend *be, const float *x, int M, int N, double temperature, double top_p,
                         const double *u, int32_t *ids, uint8_t *finite) {
    if (!(temperature > 0.0)) {
        lr_cuda_argmax_rows(be, x, M, N, ids, finite);
        return;
    }
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (M <= 0) return;
    if (top_p >= 1.0) { // all on the device: a step graph may hold it
        if (lr_cuda_pick_reserve(cx, M)) return;
        memcpy(lr_cuda_host_meta(cx, (size_t)M * sizeof *u), u, (size_t)M * sizeof *u);
        const double *du = (const double *)lr_cuda_meta_upload(cx, (size_t)M * sizeof *u);
        int32_t *dids = (int32_t *)cx->pick_dev;
        uint8_t *dfin = (uint8_t *)(dids + M);
        const int replaying = lr_cuda_graph_args(cx, __LINE__, x, N, M, temperature, du, dids, cx->pick_host);
        if (!replaying) {
            sample_temp_kernel<<<M, SAMPLE_THREADS, 0, cx->stream>>>(x, N, temperature, du, dids, dfin);
            LR_CUDA_LAUNCHED();
        }
        lr_cuda_pick_return(cx, M, ids, finite, replaying);
        return;
    }
    // top-p: the host finishes each row from its best candidates (waits for the stream: no graph)
    if (lr_cuda_graph_unsupported(cx)) return;
    const size_t bytes = (size_t)M * TOPC_ROW;
    char *dev = (char *)lr_cuda_scratch(cx, &cx->topc_dev, &cx->topc_dev_cap, bytes);
    if (bytes > cx->topc_host_cap) {
        LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
        if (cx->topc_host) LR_CUDA_CHECK(cudaFreeHost(cx->topc_host));
        LR_CUDA_CHECK(cudaMallocHost(&cx->topc_host, bytes));
        cx->topc_host_cap = bytes;
    }
    sample_topc_kernel<<<M, SAMPLE_THREADS, 0, cx->stream>>>(x, N, temperature, dev);
    LR_CUDA_LAUNCHED();
    LR_CUDA_CHECK(cudaMemcpyAsync(cx->topc_host, dev, bytes, cudaMemcpyDeviceToHost, cx->stream));
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    lr_candidate *c = (lr_candidate *)malloc((size_t)SAMPLE_TOP * sizeof *c);
    float *whole = NULL; // a row downloaded when its best candidates do not hold the nucleus
    lr_sampler_scratch scratch = {NULL, 0};
    if (!c) lr_die_internal(__FILE__, __LINE__, "out of memory");
    for (int r = 0; r < M; r++) {
        const char *o = (const char *)cx->topc_host + (size_t)r * TOPC_ROW;
        topc_head h;
        memcpy(&h, o, sizeof h);
        const int32_t *cid = (const int32_t *)(o + sizeof(topc_head));
        const float *clg = (const float *)(cid + SAMPLE_TOP);
        finite[r] = (uint8_t)h.finite;
        if (!h.finite) {
            ids[r] = h.argmax;
            continue;
        }
        int k = 0;
        double low = INFINITY; // the smallest weight among the candidates
        for (int i = 0; i < h.count; i++) {
            const double e = exp(((double)clg[i] - h.max) / temperature);
            if (e > 0.0) c[k++] = lr_candidate{e, cid[i]};
            if (e < low) low = e;
        }
        // a logit under the candidates with the same fp64 weight as the lowest
        // (huge temperatures: the CPU ranks equal weights by id, the select by
        // logit): the row goes whole
        const int tied = h.below != 0u && low > 0.0 && exp(((double)key_value(h.below) - h.max) / temperature) == low;
        int32_t id = tied ? -1 : lr_sample_pick(c, k, h.total, top_p, u[r], 0);
        if (id < 0) {
            if (!whole && !(whole = (float *)malloc((size_t)N * sizeof *whole)))
                lr_die_internal(__FILE__, __LINE__, "out of memory");
            LR_CUDA_CHECK(cudaMemcpy(whole, x + (size_t)r * N, (size_t)N * sizeof *whole, cudaMemcpyDeviceToHost));
            id = lr_sample_u(whole, N, temperature, top_p, u[r], &scratch);
        }
        ids[r] = id;
    }
    lr_sampler_scratch_free(&scratch);
    free(whole);
    free(c);
}
