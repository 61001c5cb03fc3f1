// The CUDA backend: device memory, the stream, host metadata uploads and
// the op table (the ops are in cuda_gemm.cu, cuda_kernels.cu and
// cuda_attention.cu). Weights keep their dtype in device memory (bf16 stays
// bf16); activations are fp32 (the seam passes float *).
//
// Every op is enqueued on one stream. An op's small host metadata (token
// ids, rows, positions) is written into a pinned ring buffer and copied
// asynchronously into the same offset of a device ring; the ring wraps
// only after a stream sync, so neither side is overwritten while a queued
// copy or kernel may still read it, and the caller's arrays are free as
// soon as the op returns. upload() and download() synchronise the stream:
// the data has arrived when they return (uploads are load-time or rare).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/cuda/cuda_device.h"
#include "model/cuda/cuda_internal.h"

// A 256-byte aligned size: device scratch is grown in these steps.
static size_t round_up(size_t n) { return (n + 255) / 256 * 256; }

void *lr_cuda_scratch(lr_cuda_ctx *cx, void **buf, size_t *cap, size_t bytes) {
    if (bytes > *cap) {
        const size_t n = round_up(bytes + bytes / 4);
        if (cx->graph.mode == LR_GRAPH_CAPTURE) {
            // cudaFree would synchronise the capturing stream: keep the old
            // buffer and say this capture cannot be used (nothing in it runs;
            // the warm-up before every capture makes this rare)
            lr_cuda_graph_break(cx);
            return *buf;
        }
        if (cx->graph.mode == LR_GRAPH_REPLAY) lr_cuda_graph_break(cx); // the recording reads the old buffer
        if (*buf) LR_CUDA_CHECK(cudaFree(*buf)); // cudaFree waits for work that may use it
        *buf = NULL;
        LR_CUDA_CHECK(cudaMalloc(buf, n));
        *cap = n;
    }
    return *buf;
}

// The metadata ring (lr_cuda_host_meta / lr_cuda_meta_upload): host and
// device buffers of meta_cap bytes, the next free offset meta_off.
static void meta_grow(lr_cuda_ctx *cx, size_t bytes) {
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream)); // nothing queued reads the old rings
    if (cx->host_meta) LR_CUDA_CHECK(cudaFreeHost(cx->host_meta));
    if (cx->meta) LR_CUDA_CHECK(cudaFree(cx->meta));
    size_t cap = (size_t)4 << 20;
    while (cap < 4 * bytes) cap *= 2;
    LR_CUDA_CHECK(cudaMallocHost(&cx->host_meta, cap));
    LR_CUDA_CHECK(cudaMalloc(&cx->meta, cap));
    cx->meta_cap = cap;
    lr_cuda_meta_restart(cx);
}

void lr_cuda_meta_restart(lr_cuda_ctx *cx) {
    cx->meta_off = 0;
    cx->meta_n_recent = 0;
    cx->meta_uploads = 0;
}

// Inside a graph bracket (capturing or replaying) nothing may wait for the
// stream and every op must find its metadata where the recording put it:
// a ring that would wrap or grow there breaks the bracket instead, and
// the bracket's ops write into the ring's start (nothing of theirs runs).
void *lr_cuda_host_meta(lr_cuda_ctx *cx, size_t bytes) {
    const lr_graph_mode gm = cx->graph.mode;
    const int graphed = lr_cuda_graph_recording(cx);
    if (4 * bytes > cx->meta_cap) {
        if (graphed && bytes > cx->meta_cap) lr_die_internal(__FILE__, __LINE__, "graph step metadata over the ring");
        if (graphed) lr_cuda_graph_break(cx);
        else meta_grow(cx, bytes);
    }
    if (cx->meta_off + round_up(bytes) > cx->meta_cap) { // wrap: every queued use of the ring must be done
        if (graphed) lr_cuda_graph_break(cx);
        else LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
        lr_cuda_meta_restart(cx);
    }
    if (gm != LR_GRAPH_OFF) {
        cx->graph.meta_bytes += round_up(bytes ? bytes : 1);
        if (bytes > cx->graph.meta_largest) cx->graph.meta_largest = bytes;
    }
    return (char *)cx->host_meta + cx->meta_off;
}

void *lr_cuda_meta_upload(lr_cuda_ctx *cx, size_t bytes) {
    char *d = (char *)cx->meta + cx->meta_off, *h = (char *)cx->host_meta + cx->meta_off;
    for (int i = 0; bytes && cx->meta_dedup && i < cx->meta_n_recent; i++) { // the same bytes went up a moment ago
        const size_t o = cx->meta_recent[i].off;
        if (cx->meta_recent[i].bytes == bytes && !memcmp((const char *)cx->host_meta + o, h, bytes)) {
            char *prev = (char *)cx->meta + o;
            lr_cuda_graph_args(cx, __LINE__, prev, bytes); // a replay must reuse the same copy
            return prev;
        }
    }
    // replaying: the recorded copy node moves these bytes when the graph runs
    if (bytes && lr_cuda_graph_args(cx, __LINE__, d, h, bytes) == 0)
        LR_CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, cx->stream));
    if (bytes) { // remembered, over the oldest once four are
        const int cap = (int)(sizeof cx->meta_recent / sizeof cx->meta_recent[0]);
        const int slot = (int)(cx->meta_uploads++ % (unsigned)cap);
        if (cx->meta_n_recent < cap) cx->meta_n_recent++;
        cx->meta_recent[slot].off = cx->meta_off;
        cx->meta_recent[slot].bytes = bytes;
    }
    cx->meta_off += round_up(bytes ? bytes : 1);
    return d;
}

// The ring holds at least `bytes` without wrapping from offset 0 and ops of
// up to `largest` bytes without growing (before a capture: its warm-up's
// sizes). Not inside a bracket.
void lr_cuda_meta_reserve(lr_cuda_ctx *cx, size_t bytes, size_t largest) {
    if (bytes > cx->meta_cap || 4 * largest > cx->meta_cap) meta_grow(cx, bytes > largest ? bytes : largest);
}

static void *cu_alloc(lr_backend *be, size_t bytes) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (cx->graph.mode != LR_GRAPH_OFF)
        lr_die_internal(__FILE__, __LINE__, "alloc inside a graph bracket"); // the model allocates before its steps
    void *p = NULL;
    const size_t n = bytes ? bytes : 1;
    cudaError_t rc = cudaMalloc(&p, n);
    if (rc != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        lr_die_internal(__FILE__, __LINE__, "out of GPU memory allocating %zu bytes (%zu of %zu free): %s", bytes,
                        free_b, total_b, cudaGetErrorString(rc));
    }
    LR_CUDA_CHECK(cudaMemsetAsync(p, 0, n, cx->stream)); // the seam promises zero-filled memory
    return p;
}

static void cu_free(lr_backend *be, void *p) {
    lr_cuda_ctx *cx = lr_cuda_of(be); // on this backend's device
    if (cx->graph.mode != LR_GRAPH_OFF) lr_die_internal(__FILE__, __LINE__, "free inside a graph bracket");
    if (p) LR_CUDA_CHECK(cudaFree(p)); // waits for queued work that may use p
}

static void cu_upload(lr_backend *be, void *dst, const void *src, size_t bytes) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (lr_cuda_graph_unsupported(cx) || !bytes) return;
    LR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cx->stream));
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream)); // src is the caller's again
}

static void cu_download(lr_backend *be, void *dst, const void *src, size_t bytes) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    // a bare stream sync (bench/opprof.c after every op) touches no buffer: it must
    // not end the validity of a producer's bf16 copy for the GEMM after it
    if (!bytes) cx->op_seq--;
    if (lr_cuda_graph_unsupported(cx)) return;
    if (bytes) LR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cx->stream));
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
}

static void cu_set_threads(lr_backend *be, int n) {
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    be->n_threads = n < 1 ? 1 : n;
}

static void cu_destroy(lr_backend *be) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    lr_cuda_graph_free(cx);
    lr_cuda_gemm_free(cx);
    if (cx->meta) LR_CUDA_CHECK(cudaFree(cx->meta));
    if (cx->host_meta) LR_CUDA_CHECK(cudaFreeHost(cx->host_meta));
    if (cx->xbf) LR_CUDA_CHECK(cudaFree(cx->xbf));
    if (cx->xbf_lo) LR_CUDA_CHECK(cudaFree(cx->xbf_lo));
    if (cx->pick_dev) LR_CUDA_CHECK(cudaFree(cx->pick_dev));
    if (cx->pick_host) LR_CUDA_CHECK(cudaFreeHost(cx->pick_host));
    if (cx->contrast_dev) LR_CUDA_CHECK(cudaFree(cx->contrast_dev));
    if (cx->contrast_host) LR_CUDA_CHECK(cudaFreeHost(cx->contrast_host));
    if (cx->train_scratch) LR_CUDA_CHECK(cudaFree(cx->train_scratch));
    if (cx->attn_part) LR_CUDA_CHECK(cudaFree(cx->attn_part));
    if (cx->topc_dev) LR_CUDA_CHECK(cudaFree(cx->topc_dev));
    if (cx->topc_host) LR_CUDA_CHECK(cudaFreeHost(cx->topc_host));
    if (cx->inv_freq) LR_CUDA_CHECK(cudaFree(cx->inv_freq));
    if (cx->rope_tab) LR_CUDA_CHECK(cudaFree(cx->rope_tab));
    free(cx->inv_freq_seen);
    LR_CUDA_CHECK(cudaStreamDestroy(cx->stream));
    free(cx);
    free(be);
}

extern "C" lr_backend *lr_backend_cuda_new(int dev, int n_threads) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || dev < 0 || dev >= n) return NULL;
    LR_CUDA_CHECK(cudaSetDevice(dev));
    lr_backend *be = (lr_backend *)calloc(1, sizeof *be);
    lr_cuda_ctx *cx = (lr_cuda_ctx *)calloc(1, sizeof *cx);
    if (!be || !cx) lr_die_internal(__FILE__, __LINE__, "out of memory");
    cx->device = dev;
    LR_CUDA_CHECK(cudaDeviceGetAttribute(&cx->n_sm, cudaDevAttrMultiProcessorCount, dev));
    LR_CUDA_CHECK(cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking));
    be->name = "cuda";
    be->host_memory = 0;
    // KV-cache rows: fp32, or bf16 with LR_CUDA_KV=bf16 (half the cache and its
    // traffic; measured against the contract by the GPU check before any default)
    cx->meta_dedup = !lr_cuda_env_is("LR_CUDA_META_DEDUP", "0");
    be->kv_dtype = lr_cuda_env_is("LR_CUDA_KV", "bf16") ? LR_BF16 : LR_F32;
    be->ctx = cx;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->set_threads = cu_set_threads;
    be->destroy = cu_destroy;
    be->embed = lr_cuda_embed;
    be->matmul = lr_cuda_matmul;
    be->rmsnorm = lr_cuda_rmsnorm;
    be->rope = lr_cuda_rope;
    be->swiglu = lr_cuda_swiglu;
    be->add = lr_cuda_add;
    be->gather_rows = lr_cuda_gather_rows;
    be->kv_store = lr_cuda_kv_store;
    be->rope_kv_store = lr_cuda_env_is("LR_CUDA_ROPE_KV", "0") ? NULL : lr_cuda_rope_kv_store; // else rope, then kv_store
    be->attention = lr_cuda_attention;
    be->log_softmax = lr_cuda_log_softmax;
    be->argmax_rows = lr_cuda_argmax_rows;
    be->sample_rows = lr_cuda_env_is("LR_CUDA_SAMPLE", "0") ? NULL : lr_cuda_sample_rows; // else logits rows to the host
    be->contrast = lr_cuda_contrast;
    // step graphs, unless LR_CUDA_GRAPHS=0 (every step eager: A/B timings, debugging)
    if (!lr_cuda_env_is("LR_CUDA_GRAPHS", "0")) {
        be->graph_begin = lr_cuda_graph_begin;
        be->graph_end = lr_cuda_graph_end;
    }
    // training (cuda_train.cu)
    be->gemm = lr_cuda_gemm;
    be->matmul_dx = lr_cuda_matmul_dx;
    be->rmsnorm_backward = lr_cuda_rmsnorm_backward;
    be->rope_backward = lr_cuda_rope_backward;
    be->swiglu_backward = lr_cuda_swiglu_backward;
    be->attention_backward = lr_cuda_attention_backward;
    be->dropout = lr_cuda_dropout;
    be->kl_loss = lr_cuda_kl_loss;
    be->copy_cols = lr_cuda_copy_cols;
    be->add_cols = lr_cuda_add_cols;
    be->scale = lr_cuda_scale;
    be->scatter_rows = lr_cuda_scatter_rows;
    be->zero = lr_cuda_zero;
    lr_cuda_gemm_init(cx);
    meta_grow(cx, 1);
    cu_set_threads(be, n_threads);
    return be;
}
