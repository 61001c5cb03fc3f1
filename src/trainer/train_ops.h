/* Backward ops of the decoder and the trainer's GEMM helper. The forward
 * ops are the model runtime's backend ops (model/backend.h); each backward
 * here takes the same tensors in the same order as its forward, with the
 * gradient arguments after them. Parameter gradients accumulate (+=),
 * activation gradients are assigned unless the name says otherwise.
 * Row-major; "(M, N)" is M rows of N floats; ld = row stride in floats. */
#ifndef LR_TRAIN_OPS_H
#define LR_TRAIN_OPS_H

#include <stdint.h>

#include "model/backend.h"

/* C (M, N) = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ
 * (trans_a: A is (K, M); trans_b: B is (N, K)). Split over nt OpenMP
 * threads along the larger of M and N, each thread one single-threaded
 * sgemm; the split never changes a result element's summation order. */
void tr_gemm(int nt, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

/* Forward: y = x / sqrt(mean(x²) + eps) * w (backend rmsnorm).
 * dx (M, d) += ∂/∂x given dy (M, d); x (M, d), w (d). */
void tr_rmsnorm_backward(int nt, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                         float eps);

/* Forward: act (M, I) = silu(gu[:, :I]) * gu[:, I:] (backend swiglu).
 * dgu (M, 2I) = ∂/∂gu given dact (M, I). */
void tr_swiglu_backward(int nt, const float *gu, const float *dact, float *dgu, int M, int inter);

/* Forward: causal GQA attention (backend attention) with q, k, v the column
 * blocks [0, q_dim), [q_dim, q_dim + kv_dim), [q_dim + kv_dim, ...) of qkv
 * (T, ld) (q and k after RoPE), sequences without cache (n_past = 0, keys
 * are the sequence's own rows).
 * dqkv (T, ld): the same three blocks are assigned ∂/∂q, ∂/∂k, ∂/∂v given
 * datt (T, n_heads*hd). Probabilities are recomputed, not stored. */
void tr_attention_backward(int nt, const float *qkv, int ld, const float *datt, float *dqkv, int n_heads,
                           int n_kv_heads, int hd, float scale, const lr_attn_batch *b);

/* Inverted dropout with counter-based masks: out (M, ldo)[:, :n] =
 * x (M, ldx)[:, :n] * keep / (1 - p), keep = rng_unit(rng_key(row_key[r], c)) >= p.
 * out may equal x. The backward of dropout is the same call on the
 * gradient (same mask, same scaling). */
void tr_dropout(int nt, const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *row_key,
                float p);

/* y (M, ld)[:, :n] += x (M, n) */
void tr_add_cols(int nt, float *y, int ld, const float *x, int M, int n);

/* The loss of SPEC §2 at n rows of logits z (n, V): per row
 *   KL(w ‖ softmax(z)) = Σ_v w_v (log w_v − log_softmax(z)_v)
 * with w the row's soft label (ids lab_ids[lab_off[i] .. lab_off[i+1]],
 * weights lab_w; 0 elsewhere). Writes loss[i] (fp64) and, when dz != NULL,
 * dz (n, V) = (softmax(z) − w) * grad_scale. Log-softmax in fp32 values
 * with fp64 sums. */
void tr_kl_loss(int nt, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                const float *lab_w, double grad_scale, double *loss, float *dz);

#endif
