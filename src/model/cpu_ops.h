/* CPU implementations of the backend ops (see backend.h for the contracts).
 * Internal to the CPU backend: model code reaches them only through
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
    int gemm_omp;          /* 1: GEMMs split over OpenMP threads, OpenBLAS single-threaded */
    int skinny_t;          /* 1: token-vector kernels for 2..32 rows (else 4x4 register blocks) */
    float *xt;             /* (xt_cap) packed transposed rows for the token-vector kernels */
    size_t xt_cap;
} lr_cpu_ctx;

void cpu_embed(lr_backend *be, const float *table, const int32_t *ids, int M, int d, float *out);
void cpu_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps);
void cpu_rope(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
              const float *inv_freq);
void cpu_swiglu(lr_backend *be, const float *gu, float *out, int M, int inter);
void cpu_add(lr_backend *be, float *y, const float *x, int M, int d);
void cpu_gather_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);
void cpu_kv_store(lr_backend *be, float *k_dst, float *v_dst, const int64_t *dst_row, const float *k_src,
                  const float *v_src, int ld_src, int M, int width);
void cpu_log_softmax(lr_backend *be, const float *x, float *y, int M, int N);
void cpu_attention(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv, float *out,
                   int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);
void cpu_matmul(lr_backend *be, const float *x, int ldx, const float *w, const float *bias, float *y, int ldy, int M,
                int N, int K, int accumulate);

#endif
