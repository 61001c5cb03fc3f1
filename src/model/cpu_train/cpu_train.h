/* The CPU backend's training ops (backend.h, "Training ops"): one file
 * per op family, each a plain C file built once (not per instruction set:
 * the backward kernels are OpenMP loops and OpenBLAS calls). Internal to
 * the CPU backend. */
#ifndef LR_CPU_TRAIN_H
#define LR_CPU_TRAIN_H

#include "model/backend.h"

/* Sets the training op pointers of a CPU backend (backend_cpu.c). */
void lr_cpu_train_install(lr_backend *be);

/* Threads for an element-wise op of `work` elements: below
 * CPU_TRAIN_PAR_MIN_WORK per op, threads cost more than they save. */
#define CPU_TRAIN_PAR_MIN_WORK 16384
static inline int cpu_train_threads(const lr_backend *be, long work) {
    return work >= CPU_TRAIN_PAR_MIN_WORK && be->n_threads > 1 ? be->n_threads : 1;
}

void cpu_gemm(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
void cpu_rmsnorm_backward(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                          float eps);
void cpu_rope_backward(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                       const float *inv_freq);
void cpu_swiglu_backward(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter);
void cpu_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                            const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads, int n_kv_heads,
                            int head_dim, float scale, const lr_attn_batch *b);
void cpu_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *row_key,
                 float p);
void cpu_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                 const float *lab_w, double grad_scale, double *loss, float *dz);
void cpu_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n);
void cpu_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n);
void cpu_scale(lr_backend *be, float *x, size_t n, float s);
void cpu_scatter_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);
void cpu_zero(lr_backend *be, void *p, size_t bytes);

#endif
