// The CUDA backend's private state and its op functions, shared by the .cu
// files of src/model/cuda/ (backend_cuda.cu builds the op table). C++ only.
#ifndef LR_CUDA_INTERNAL_H
#define LR_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "model/backend.h"
}
#include "model/cuda/cuda_plan.h"
#include "model/cuda/cuda_check.h"
#include "model/cuda/cuda_graph_plan.h"

// 1 when the environment switch `name` is set to `value` (the backend's
// switches, read when a backend is made: docs/model.md's table).
static inline int lr_cuda_env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && !strcmp(v, value);
}

// The step graphs' state (cuda_graph.cu, cuda_graph_plan.h).
struct lr_cuda_graphs {
    lr_graph_table table;
    lr_graph_mode mode;   // of the open bracket; LR_GRAPH_OFF outside one
    lr_graph_entry *cur;  // its entry
    uint64_t sig;         // its running signature
    int broken;           // 1: this bracket cannot be launched (a buffer moved, a capture failed)
    int unsupported;      // 1: an op that cannot be captured was called
    size_t meta_bytes, meta_largest; // host metadata staged in this bracket
    struct {
        void *dst;
        const void *src;
        size_t bytes;
    } copies[4];          // host outputs to copy out after the launch (argmax_rows)
    int n_copies;
    long eager, captures, replays, misses; // brackets by outcome (bench reports)
};

// One compute stream per backend; every op is enqueued on it in program
// order, so device scratch buffers are reused without extra syncs.
struct lr_cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;         // cuBLASLt workspace (workspace_bytes), one for all GEMMs
    size_t workspace_bytes;
    lr_gemm_cache *gemm;     // plans per GEMM shape (cuda_gemm.cu)
    int gemm_fallback;       // LR_CUDA_GEMM_FALLBACK=1: the simple kernel for every GEMM (tests)
    int gemv;                // 0 with LR_CUDA_GEMV=0: cuBLASLt for decode's few-row bf16 GEMMs too
    cublasComputeType_t f32_compute; // fp32 GEMMs: CUBLAS_COMPUTE_32F, or _FAST_TF32 with LR_CUDA_MATH=tf32
    void *meta;              // device ring for ops' small host metadata (ids, rows, positions)
    void *host_meta;         // pinned host ring, same size and offsets (backend_cuda.cu)
    size_t meta_cap, meta_off;
    struct {
        size_t off, bytes;
    } meta_recent[4];        // the last uploads since the ring restarted (lr_cuda_meta_upload reuses equal ones)
    int meta_n_recent;
    int meta_dedup;          // 0 with LR_CUDA_META_DEDUP=0: every upload copied (A/B)
    unsigned meta_uploads;   // since the restart (the next slot of meta_recent)
    void *xbf;               // bf16 copy of a GEMM input (bf16 weights need bf16 activations)
    size_t xbf_cap;
    void *xbf_lo;            // with be->bf16_split: the input's remainder x - hi in bf16 (hi in xbf)
    size_t xbf_lo_cap;
    float *inv_freq;         // device copy of the last RoPE frequencies (inv_freq_n floats)
    int inv_freq_n;
    float2 *rope_tab;        // (rope_tab_rows, inv_freq_n) cos, sin of position x frequency (cuda_kernels.cu)
    int rope_tab_rows;       // positions it covers (0: none); rope_tab_cap bytes allocated
    size_t rope_tab_cap;
    void *pick_dev, *pick_host; // argmax_rows: device ids | flags, and their pinned host copy (pick_cap bytes each)
    size_t pick_cap;
    void *topc_dev, *topc_host; // sample_rows with top-p: each row's head and top candidates, and the pinned copy
    size_t topc_dev_cap, topc_host_cap;
    void *contrast_dev, *contrast_host; // contrast: device results and their pinned host copy
    size_t contrast_dev_cap, contrast_host_cap;
    void *attn_part;         // decode attention: the key splits' partial softmaxes
    size_t attn_part_cap;
    int n_sm;                // multiprocessors (decode attention's split count)
    void *train_scratch;     // training ops: attention backward's row statistics, the KL loss's losses
    size_t train_scratch_cap;
    float *inv_freq_seen;    // host copy of those frequencies (inv_freq_n): a change is a value change
    lr_cuda_graphs graph;    // step graphs (cuda_graph.cu)
    // The bf16 copy a producer op (rmsnorm, swiglu) wrote beside its fp32
    // output, into xbf, for the bf16 GEMM that reads that output next
    // (lr_cuda_matmul, cuda_gemm.cu). Valid only for the op right after (op_seq).
    uint64_t op_seq;         // ops entered so far (lr_cuda_of)
    struct {
        const float *src;    // the fp32 output it copies, (M, K) contiguous
        int M, K;
        uint64_t seq;        // op_seq of its producer (or of the GEMM that last read it)
    } shadow;
    int bf16_gemms;          // 1: the last GEMM had bf16 weights, unsplit (producers then write the copy)
    int fuse_bf16;           // 0 with LR_CUDA_FUSED_BF16=0: no copies (the GPU check's A/B, same bits)
};

// The backend's state, with its GPU made current for the calling thread
// (several backends on several GPUs, or calls from another host thread).
static inline lr_cuda_ctx *lr_cuda_of(lr_backend *be) {
    lr_cuda_ctx *cx = (lr_cuda_ctx *)be->ctx;
    cx->op_seq++; // every op, and every other entry into the backend, ends a bf16 copy's validity
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != cx->device) LR_CUDA_CHECK(cudaSetDevice(cx->device));
    return cx;
}

// lr_cuda_of for ops that never belong to a step graph (training, the
// contrast): called inside a graph bracket is a bug in the caller.
static inline lr_cuda_ctx *lr_cuda_outside_graph(lr_backend *be) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    if (cx->graph.mode != LR_GRAPH_OFF)
        lr_die_internal(__FILE__, __LINE__, "a training or contrast op inside a graph bracket");
    return cx;
}

// A device scratch buffer of at least `bytes` (grown; contents undefined).
// Growing it inside a graph bracket breaks the bracket (the recorded or
// replayed step would read the old buffer): the step then runs eagerly.
void *lr_cuda_scratch(lr_cuda_ctx *cx, void **buf, size_t *cap, size_t bytes);
// Metadata of one op: write `bytes` at lr_cuda_host_meta (pinned), then
// lr_cuda_meta_upload(cx, bytes) enqueues the copy and returns the device
// address the kernel reads. Always in pairs, same size, nothing between.
// Bytes equal to a recent upload's (every layer's positions, rows and
// attention plan in one pass) are not copied again: the earlier device
// copy is returned (the ring never overwrites it before it restarts).
// lr_cuda_meta_restart(cx) starts the ring at 0 (nothing queued may read it).
void *lr_cuda_host_meta(lr_cuda_ctx *cx, size_t bytes);
void *lr_cuda_meta_upload(lr_cuda_ctx *cx, size_t bytes);
void lr_cuda_meta_restart(lr_cuda_ctx *cx);
// The ring holds `bytes` from offset 0 without wrapping and ops of up to
// `largest` bytes without growing (before a capture: its warm-up's sizes).
void lr_cuda_meta_reserve(lr_cuda_ctx *cx, size_t bytes, size_t largest);

// Step graphs (cuda_graph.cu; the seam's graph_begin / graph_end).
void lr_cuda_graph_begin(lr_backend *be, uint64_t key);
int lr_cuda_graph_end(lr_backend *be);
void lr_cuda_graph_free(lr_cuda_ctx *cx);
// Every op of a step that a graph may hold ends its host work (metadata
// staging, scratch sizing) with lr_cuda_graph_args(cx, __LINE__, every
// argument and device address its launches use): inside a bracket they go
// into the signature, and a return of 1 (replaying) means "launch
// nothing". Outside a bracket it returns 0 at once.
int lr_cuda_graph_op(lr_cuda_ctx *cx, const uint64_t *v, int n);
static inline uint64_t lr_gv(const void *p) { return (uint64_t)(uintptr_t)p; }
static inline uint64_t lr_gv(int x) { return (uint64_t)(int64_t)x; }
static inline uint64_t lr_gv(unsigned x) { return (uint64_t)x; }
static inline uint64_t lr_gv(long x) { return (uint64_t)x; }
static inline uint64_t lr_gv(unsigned long x) { return (uint64_t)x; }
static inline uint64_t lr_gv(long long x) { return (uint64_t)x; }
static inline uint64_t lr_gv(unsigned long long x) { return (uint64_t)x; }
static inline uint64_t lr_gv(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline uint64_t lr_gv(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
template <typename... A> static inline int lr_cuda_graph_args(lr_cuda_ctx *cx, int tag, A... a) {
    if (cx->graph.mode == LR_GRAPH_OFF) return 0;
    const uint64_t v[] = {(uint64_t)tag, lr_gv(a)...};
    return lr_cuda_graph_op(cx, v, (int)(sizeof v / sizeof v[0]));
}
// An op that a graph cannot hold (it synchronises, downloads, or is a
// training op) starts with this: inside a bracket the key stays eager from
// now on, and a return of 1 (capturing or replaying) means "do nothing":
// the bracket fails and the caller runs the step again eagerly.
int lr_cuda_graph_unsupported(lr_cuda_ctx *cx);
// 1 inside a bracket that captures or replays (ops launch nothing real).
static inline int lr_cuda_graph_recording(const lr_cuda_ctx *cx) {
    return cx->graph.mode == LR_GRAPH_CAPTURE || cx->graph.mode == LR_GRAPH_REPLAY;
}
// Marks the open bracket as not launchable (a buffer it uses moved).
void lr_cuda_graph_break(lr_cuda_ctx *cx);
// argmax_rows inside a bracket: copy bytes from pinned src to the caller's
// dst after the launch (graph_end).
void lr_cuda_graph_host_copy(lr_cuda_ctx *cx, void *dst, const void *src, size_t bytes);

// The fused bf16 copy of a producer's output (cx->shadow; cuda_gemm.cu).
// A producer of (M, K) contiguous fp32 output y calls lr_cuda_bf16_out:
// NULL, or where its kernel also writes y rounded to bf16 (to nearest
// even, the rounding the GEMM's own conversion does: same bits either way).
// The bf16 GEMM that runs right after it with x == y reads that copy
// instead of converting x again (one kernel and 6 bytes an element fewer).
__nv_bfloat16 *lr_cuda_bf16_out(lr_cuda_ctx *cx, const float *y, int M, int K);

// The pinned staging of argmax_rows / sample_rows' per-row ids and flags
// (cuda_kernels.cu): pick_dev holds M int32 ids then M flags. Reserve
// before the kernel (1: a recording bracket broke on a regrowth: return at
// once); return after it: enqueues the copy back and delivers ids / finite
// now, or, inside a recording bracket, at graph_end (replaying = 1: the
// graph holds the copy already).
int lr_cuda_pick_reserve(lr_cuda_ctx *cx, int M);
void lr_cuda_pick_return(lr_cuda_ctx *cx, int M, int32_t *ids, uint8_t *finite, int replaying);

// GEMM plans (cuda_gemm.cu).
void lr_cuda_gemm_init(lr_cuda_ctx *cx);
void lr_cuda_gemm_free(lr_cuda_ctx *cx);
// A cuBLASLt heuristic preference: the backend's workspace and the operands'
// pointer alignments in bytes (A, B, and C = D). The caller destroys it.
cublasLtMatmulPreference_t lr_cuda_gemm_pref(lr_cuda_ctx *cx, int align_a, int align_b, int align_c);
// A trainer GEMM (key: lr_gemm_train_key; A, B in cuBLAS's order: the
// caller's B, then A) through its cached cuBLASLt plan: 0, or -1 when
// cuBLASLt has no algorithm for it (or LR_CUDA_GEMM_FALLBACK=1): the caller
// runs its fallback kernel.
int lr_cuda_gemm_train_lt(lr_cuda_ctx *cx, const lr_gemm_key *k, float alpha, const void *A, const void *B, float beta,
                          float *C);

// Ops: contracts as in backend.h.
void lr_cuda_embed(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out);
void lr_cuda_matmul(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy, int M,
                    int N, int K, int accumulate);
void lr_cuda_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps);
void lr_cuda_rope(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                  const float *inv_freq);
void lr_cuda_swiglu(lr_backend *be, const float *gu, float *out, int M, int inter);
void lr_cuda_add(lr_backend *be, float *y, const float *x, int M, int d);
void lr_cuda_gather_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);
void lr_cuda_kv_store(lr_backend *be, void *k_dst, void *v_dst, const int64_t *dst_row, const float *k_src,
                      const float *v_src, int ld_src, int M, int width);
void lr_cuda_rope_kv_store(lr_backend *be, float *qkv, int ld, int M, int n_heads, int n_kv_heads, int head_dim,
                           const int32_t *pos, const float *inv_freq, void *k_dst, void *v_dst,
                           const int64_t *dst_row);
void lr_cuda_attention(lr_backend *be, const float *q, int ldq, const void *k, const void *v, int ldkv, float *out,
                       int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);
void lr_cuda_log_softmax(lr_backend *be, const float *x, float *y, int M, int N);
void lr_cuda_argmax_rows(lr_backend *be, const float *x, int M, int N, int32_t *ids, uint8_t *finite);
void lr_cuda_sample_rows(lr_backend *be, const float *x, int M, int N, double temperature, double top_p,
                         const double *u, int32_t *ids, uint8_t *finite);
void lr_cuda_contrast(lr_backend *be, const float *le, int ve, const float *la, int va, int n,
                      const int32_t *tokens, double log_alpha, int cap, lr_contrast_row *rows, int32_t *cand_ids,
                      float *cand_lpe, float *cand_lpa);

// Training ops (cuda_train.cu): contracts as in backend.h.
void lr_cuda_gemm(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
void lr_cuda_matmul_dx(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K);
void lr_cuda_rmsnorm_backward(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                              float eps);
void lr_cuda_rope_backward(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                           const float *inv_freq);
void lr_cuda_swiglu_backward(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter);
void lr_cuda_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                                const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads,
                                int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);
void lr_cuda_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n,
                     const uint64_t *row_key, float p);
void lr_cuda_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                     const float *lab_w, double grad_scale, double *loss, float *dz);
void lr_cuda_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n);
void lr_cuda_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n);
void lr_cuda_scale(lr_backend *be, float *x, size_t n, float s);
void lr_cuda_zero(lr_backend *be, void *p, size_t bytes);
void lr_cuda_scatter_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);

// Kernel helpers shared by the kernels' files.
// The grid of a grid-stride kernel over n elements (capped; the loop covers the rest).
unsigned lr_cuda_grid_for(size_t n, unsigned block);
// The grid of a row kernel: rows on y (grid-stride beyond 65535), the n
// columns of a row on x with w columns per thread.
dim3 lr_cuda_row_grid(int M, int n, int w, unsigned block);
void lr_cuda_add_bias(lr_cuda_ctx *cx, float *y, int ldy, const float *bias, int M, int N);
void lr_cuda_zero_cols(lr_cuda_ctx *cx, float *y, int ldy, int M, int N);

#endif
