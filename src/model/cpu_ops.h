/* The CPU backend's private state and its per-ISA kernel tables. Internal
 * to the CPU backend: model code reaches the kernels only through
 * lr_backend function pointers. */
#ifndef LR_CPU_OPS_H
#define LR_CPU_OPS_H

#include "model/backend.h"

/* Backend private state. */
typedef struct {
    float *scratch;        /* attention scores, (n_threads, scratch_per_thread) */
    size_t scratch_per_thread;
    int *row_seq;          /* (row_seq_cap) packed query row -> sequence */
    int row_seq_cap;
    struct emu_ctx *emu;   /* bf16 emulation state (backend_bf16emu.c) or NULL */
} lr_cpu_ctx;

/* Frees the emulation state of a backend (called by its destroy). */
void lr_backend_emulate_bf16_free(lr_backend *be);

/* One instruction set's kernels (src/model/cpu/kernels.c compiled with
 * its flags). Contracts as in backend.h. */
typedef struct {
    const char *name; /* "avx512", "avx2", "generic" */
    int lanes;        /* fp32 lanes of a dot product's fixed reduction */
    void (*embed)(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out);
    void (*matmul)(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy,
                   int M, int N, int K, int accumulate);
    void (*rmsnorm)(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps);
    void (*rope)(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                 const float *inv_freq);
    void (*swiglu)(lr_backend *be, const float *gu, float *out, int M, int inter);
    void (*add)(lr_backend *be, float *y, const float *x, int M, int d);
    void (*gather_rows)(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);
    void (*kv_store)(lr_backend *be, float *k_dst, float *v_dst, const int64_t *dst_row, const float *k_src,
                     const float *v_src, int ld_src, int M, int width);
    void (*attention)(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv, float *out,
                      int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);
    void (*log_softmax)(lr_backend *be, const float *x, float *y, int M, int N);
} lr_cpu_isa;

extern const lr_cpu_isa lr_cpu_isa_generic;
#if defined(__x86_64__)
extern const lr_cpu_isa lr_cpu_isa_avx2;
extern const lr_cpu_isa lr_cpu_isa_avx512;
#endif

#endif
