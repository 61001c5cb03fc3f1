/* Compute backend: every piece of math the decoder needs, behind function
 * pointers, so that a CUDA backend slots in later without touching model
 * code (model code calls only these).
 *
 * Memory: every float tensor passed to an op lives in the backend's memory
 * (be->alloc / upload / download); for the CPU backend that is ordinary
 * host memory (be->host_memory = 1) and the model may pass host pointers
 * such as the caller's logits buffer directly. Small integer metadata
 * (token ids, positions, row indices, sequence descriptors) is always host
 * memory; a device backend copies it itself.
 *
 * Layout: row-major; "(M, N)" is M rows of N floats; "ld" is a row stride in
 * floats, so an op can read or write a column slice of a wider buffer (the
 * q / k / v parts of the fused qkv activations, a LoRA delta into q). */
#ifndef LR_BACKEND_H
#define LR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"

typedef struct lr_backend lr_backend;

/* Element types of weights in backend memory. Weights keep the dtype
 * they have on disk where the kernels can read it (bf16; f16 and f64
 * checkpoints are widened to fp32 at load); activations are fp32. */
typedef enum { LR_F32 = 0, LR_BF16 = 1 } lr_dtype;

/* A weight tensor in backend memory: data in `dtype`, row-major. */
typedef struct {
    const void *data;
    lr_dtype dtype;
} lr_weight;

static inline lr_weight lr_weight_f32(const float *p) {
    lr_weight w = {p, LR_F32};
    return w;
}
static inline size_t lr_dtype_size(lr_dtype t) { return t == LR_BF16 ? 2 : 4; }
/* The weight `elems` elements further on (a row block of a fused matrix). */
static inline lr_weight lr_weight_at(lr_weight w, size_t elems) {
    w.data = (const char *)w.data + elems * lr_dtype_size(w.dtype);
    return w;
}

/* A ragged batch for attention. Sequence s owns the packed query rows
 * [q_off[s], q_off[s+1]); its first query has position n_past[s]; its keys
 * and values for positions 0 .. n_past[s] + n_new - 1 are the rows
 * kv_row[s] + p of the K / V buffers (a KV-cache slot, or the sequence's own
 * rows of the packed k / v activations when there is no cache). Query row
 * at position p attends to keys 0..p (causal). All host memory. kv_dtype:
 * the element type of the K / V rows: LR_F32 (activations; the default of
 * a zero-initialised batch) or, reading a KV cache, the backend's
 * kv_dtype. */
typedef struct {
    int n_seq;
    const int *q_off;      /* (n_seq + 1) */
    const int *n_past;     /* (n_seq) */
    const int64_t *kv_row; /* (n_seq) */
    lr_dtype kv_dtype;
} lr_attn_batch;

/* One step's contrast from a backend's contrast op: the values of
 * method/contrast.h's lr_step_div for the step, and its number of
 * store-alpha candidates. */
typedef struct {
    double kl, entropy_expert, entropy_amateur;
    float logp_expert, logp_amateur;
    int32_t top1_expert, top1_amateur;
    int32_t n_cand; /* > cap: only cap were written; the caller recomputes the step from its rows */
    int32_t finite; /* 0: a row or the KL is not finite; the caller recomputes the step from its rows */
} lr_contrast_row;

struct lr_backend {
    const char *name;
    int host_memory; /* 1: backend memory is host memory */
    lr_dtype kv_dtype; /* KV-cache rows: LR_F32 (the CPU), LR_BF16 (CUDA with LR_CUDA_KV=bf16) */
    /* 1 (set by the trainer for bf16 frozen weights): a GEMM with bf16 weights
     * (matmul, matmul_dx) takes its fp32 activations as two bf16 halves, x =
     * hi + lo + O(2^-17 |x|), and sums w·hi + w·lo: about fp32 accuracy from
     * two bf16 tensor-core GEMMs. 0: one GEMM on x rounded to bf16. The CPU
     * reads bf16 weights exactly in fp32 either way. */
    int bf16_split;
    /* 1 (set by the trainer for bf16 frozen weights, split or not): only the
     * GEMMs through bf16 weights see bf16 inputs, as on CUDA, where the
     * trainer's other GEMMs (LoRA) and attention stay fp32. Read by the CPU's
     * bf16 emulation, which otherwise rounds every GEMM's and attention's
     * inputs. */
    int bf16_weights_only;
    int n_threads;
    void *ctx;       /* backend private state (workspaces, handles) */

    void *(*alloc)(lr_backend *be, size_t bytes); /* never NULL; zero-filled */
    void (*free)(lr_backend *be, void *p);
    void (*upload)(lr_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(lr_backend *be, void *dst, const void *src, size_t bytes);
    void (*set_threads)(lr_backend *be, int n_threads);
    void (*destroy)(lr_backend *be);

    /* out (M, d) fp32 = table (V, d) rows ids (M, host), widened exactly. */
    void (*embed)(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out);

    /* y (M, ldy) [:, 0:N] (+)= x (M, ldx)[:, 0:K] · wᵀ + bias.
     * w (N, K) is a PyTorch Linear weight (out, in) of any lr_dtype, read
     * as its exact fp32 value; bias (N) fp32 or NULL; accumulate = 1 adds
     * into y (fused residual add / LoRA delta): y = y + (x·wᵀ + bias). */
    void (*matmul)(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy,
                   int M, int N, int K, int accumulate);

    /* y (M, d) = x / sqrt(mean(x²) + eps) * w (d). y may equal x. */
    void (*rmsnorm)(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps);

    /* Rotary embedding in place on n_heads heads of head_dim at the start of
     * each row of x (M, ld), Hugging Face rotate-half convention: for
     * i < hd/2, angle = pos[r] * inv_freq[i] (fp32),
     * (x_i, x_{i+hd/2}) <- (x_i cos - x_{i+hd/2} sin, x_{i+hd/2} cos + x_i sin).
     * pos (M) and inv_freq (head_dim / 2) are host memory. */
    void (*rope)(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                 const float *inv_freq);

    /* out (M, inter) = silu(gu[:, 0:inter]) * gu[:, inter:2*inter]; gu (M, 2*inter) is the fused
     * gate|up projection. */
    void (*swiglu)(lr_backend *be, const float *gu, float *out, int M, int inter);

    /* y (M, d) += x (M, d). */
    void (*add)(lr_backend *be, float *y, const float *x, int M, int d);

    /* dst (n, d) = src rows rows[0..n) (host indices). */
    void (*gather_rows)(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);

    /* KV-cache write: rows dst_row[r] (host) of k_dst / v_dst (rows, width)
     * of element type be->kv_dtype get k_src / v_src row r (row stride
     * ld_src), r < M (rounded to nearest even for bf16). */
    void (*kv_store)(lr_backend *be, void *k_dst, void *v_dst, const int64_t *dst_row, const float *k_src,
                     const float *v_src, int ld_src, int M, int width);

    /* Optional (NULL: the model calls rope, then kv_store): rope on the
     * n_heads query and n_kv_heads key heads at the start of each row of
     * qkv (M, ld), as `rope`, and the KV-cache write of the rotated keys
     * (columns n_heads*hd ..) and the values (the n_kv_heads*hd columns
     * after them) into rows dst_row of k_dst / v_dst, as `kv_store`: one
     * pass over the rows instead of two. */
    void (*rope_kv_store)(lr_backend *be, float *qkv, int ld, int M, int n_heads, int n_kv_heads, int head_dim,
                          const int32_t *pos, const float *inv_freq, void *k_dst, void *v_dst, const int64_t *dst_row);

    /* Causal grouped-query attention over a ragged batch.
     * q (T, ldq) heads [0, n_heads*hd) after RoPE; k, v (rows, ldkv) of
     * element type b->kv_dtype with n_kv_heads*hd used per row; out (T,
     * n_heads*hd). Query head h reads kv head h / (n_heads / n_kv_heads).
     * softmax(q·kᵀ·scale) in fp32. */
    void (*attention)(lr_backend *be, const float *q, int ldq, const void *k, const void *v, int ldkv, float *out,
                      int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);

    /* y (M, N) = log_softmax(x) per row (fp32 values, fp64 sums). y may equal x. */
    void (*log_softmax)(lr_backend *be, const float *x, float *y, int M, int N);

    /* Greedy choice per row of x (M, N): ids[r] = the first index of the
     * row's maximum, NaN ignored (sampling.h's lr_argmax: 0 when every value
     * is NaN); finite[r] = 1 when every value of the row is finite, else 0.
     * ids and finite are host memory: on a device backend only these cross
     * to the host, not the M x N logits (greedy decoding, model.h's
     * model_extend_greedy). */
    void (*argmax_rows)(lr_backend *be, const float *x, int M, int N, int32_t *ids, uint8_t *finite);

    /* Temperature / top-p sampling per row of x (M, N), as argmax_rows for
     * greedy: ids[r] = sampling.h's lr_sample_u(row, N, temperature,
     * top_p, u[r]) where the row is finite, else lr_argmax(row);
     * finite[r] as argmax_rows. u (M): each row's uniform draw, taken by
     * the caller from the row's own RNG stream (so the streams stay on the
     * host and a sequence's tokens never depend on the batch). u, ids and
     * finite are host memory; on a device only they cross. NULL where the
     * backend has none (the caller then samples from downloaded rows). */
    void (*sample_rows)(lr_backend *be, const float *x, int M, int N, double temperature, double top_p,
                        const double *u, int32_t *ids, uint8_t *finite);

    /* The LightReasoner contrast (method/contrast.h's contrast_step: the
     * same formulas, fp64 sums) of n steps from their logits rows in backend
     * memory: le (n, ve) the expert's, la (n, va) the amateur's (may live in
     * another backend's memory on the same device, its work finished),
     * tokens (n, host) the generated ids, store-alpha threshold log_alpha =
     * log(store_alpha). Per step rows[i] and its first min(n_cand, cap)
     * candidates in ascending id order at cand_ids / cand_lpe / cand_lpa +
     * i * cap (host). Only these cross to the host. NULL on the CPU, whose
     * scorer runs contrast_step on the rows themselves (scorer.c). */
    void (*contrast)(lr_backend *be, const float *le, int ve, const float *la, int va, int n, const int32_t *tokens,
                     double log_alpha, int cap, lr_contrast_row *rows, int32_t *cand_ids, float *cand_lpe,
                     float *cand_lpa);

    /* Step graphs (optional: NULL where the backend has none, as on the
     * CPU). graph_begin(key) ... graph_end() bracket the ops of one step
     * that a caller repeats with the same shapes (a decode step: key = the
     * model, the cache and the batch size). The backend may record them
     * once and afterwards replay the recording, each op then only taking
     * its host metadata (ids, positions, rows), so the step costs one
     * launch instead of hundreds. Inside a bracket an op's host outputs
     * (argmax_rows' ids and flags) are written by graph_end, not before;
     * graph_end returns 0 when the ops' work is done, or -1 when none of it
     * was: the caller then calls the same ops again, outside a bracket.
     * Brackets do not nest. */
    void (*graph_begin)(lr_backend *be, uint64_t key);
    int (*graph_end)(lr_backend *be);

    /* ---- Training ops (the LoRA trainer, src/trainer/train_net.c; CPU:
     * src/model/cpu/, each backward beside its forward). The forward of
     * each family is the inference op above; its backward takes the
     * forward's arguments in the same order with the gradients after them. Parameter gradients accumulate (+=);
     * activation gradients are assigned unless the comment says +=. All
     * fp32; float tensors in backend memory, integer metadata, labels and
     * losses in host memory as above. A backend without training leaves
     * these NULL (the trainer then refuses it with an error). */

    /* C (M, N) = alpha · op(A) · op(B) + beta · C (row-major, strides lda /
     * ldb / ldc), op(X) = X or Xᵀ: trans_a: A is (K, M), else (M, K);
     * trans_b: B is (N, K), else (K, N). beta = 0 does not read C; K = 0
     * gives C = beta · C. The trainer's GEMMs (the frozen weights' dX = dY W,
     * LoRA A/B and their gradients) and adapter merges (W += s · B A). The
     * result must not depend on the thread count. */
    void (*gemm)(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

    /* The input gradient of matmul, for the frozen weights: dx (M, K) =
     * dy (M, N) · w (N, K), all contiguous, w of any lr_dtype read as its
     * exact value (bf16 on a GPU: dy is rounded to bf16 first, as matmul
     * rounds x). With fp32 weights it is exactly gemm(0, 0, M, K, N, 1,
     * dy, N, w, K, 0, dx, K). */
    void (*matmul_dx)(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K);

    /* Backward of rmsnorm: dx (M, d) += ∂/∂x given dy (M, d) (the forward's
     * rstd recomputed in fp32 from fp64 sums; w gets no gradient). */
    void (*rmsnorm_backward)(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                             float eps);

    /* Backward of rope, in place on dx (M, ld): the rotation by −angle. */
    void (*rope_backward)(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                          const float *inv_freq);

    /* Backward of swiglu: dgu (M, 2*inter) = ∂/∂gu given dact (M, inter). */
    void (*swiglu_backward)(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter);

    /* Backward of attention for sequences without a cache (n_past = 0;
     * keys and values of sequence s are its rows kv_row[s] .. of k / v):
     * given dout (T, n_heads*hd), assigns dq (T, ldd) heads [0, n_heads*hd)
     * and dk, dv (kv rows, ldd) [0, n_kv_heads*hd) at the same rows as k, v.
     * Probabilities are recomputed, not stored. */
    void (*attention_backward)(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                               const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads,
                               int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b);

    /* Inverted dropout with counter-based masks (forward and backward are
     * the same call: same mask, same scaling): out (M, ldo)[:, :n] =
     * x (M, ldx)[:, :n] / (1 − p) where lr_dropout_keep(row_key[r], c, p),
     * else 0. row_key (M) host. out may equal x. */
    void (*dropout)(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n,
                    const uint64_t *row_key, float p);

    /* The loss of SPEC §2 and its gradient at n rows of logits z (n, V):
     * loss[i] = KL(w ‖ softmax(z_i)) = Σ_v w_v (log w_v − log_softmax(z_i)_v),
     * w the row's soft label (ids lab_ids[lab_off[i] .. lab_off[i+1]),
     * weights lab_w; 0 elsewhere); when dz != NULL also dz (n, V) =
     * (softmax(z) − w) · grad_scale. Log-softmax in fp32 values with fp64
     * sums. lab_off (n + 1), lab_ids, lab_w and loss (n, fp64) are host. */
    void (*kl_loss)(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                    const float *lab_w, double grad_scale, double *loss, float *dz);

    /* Column copies and small element-wise ops on (M, ld) views. */
    void (*copy_cols)(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n); /* y[:, :n] = x[:, :n] */
    void (*add_cols)(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n);  /* y[:, :n] += x[:, :n] */
    void (*scale)(lr_backend *be, float *x, size_t n, float s);                                  /* x (n) *= s */
    /* dst rows rows[i] (host, distinct) = src (n, d) row i; other rows untouched (gather_rows' backward). */
    void (*scatter_rows)(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst);
    void (*zero)(lr_backend *be, void *p, size_t bytes);
};

/* The training dropout mask: element (row, col) is kept when the top 24
 * bits of splitmix64's finaliser of row_key ^ col, as a float in [0, 1),
 * are >= p (trainer/rng.h: rng_unit(rng_key(row_key, col)); the reference
 * script rebuilds the same masks). Every backend draws exactly these. */
static inline int lr_dropout_keep(uint64_t row_key, uint64_t col, float p) {
    const uint64_t z = lr_mix64((row_key ^ col) + LR_SPLITMIX64_GAMMA);
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

/* The CPU backend: batch-invariant kernels of our own (src/model/cpu/),
 * OpenMP threads. n_threads <= 0 means omp_get_max_threads()
 * (OMP_NUM_THREADS or all cores). See backend_cpu.c. */
lr_backend *lr_backend_cpu_new(int n_threads);

/* The instruction set the CPU kernels use in this process: "avx512",
 * "avx2" or "generic" (cpuid, or LR_CPU_ISA; an unknown or unsupported
 * LR_CPU_ISA is an input error, exit 2). */
const char *lr_cpu_isa_name(void);
/* 1 when this CPU can run the named kernels. */
int lr_cpu_isa_available(const char *name);

/* Turns a CPU backend into the bf16 emulation of the CUDA path's numerics
 * (backend_bf16emu.c: GEMM inputs and attention q/k/v rounded to bf16,
 * everything else fp32). For tests of the SPEC §5 GPU contract on a
 * machine without a GPU (lr_model_opts.emulate_bf16, LR_EMULATE_BF16=1). */
void lr_backend_emulate_bf16(lr_backend *be);
/* x rounded to the nearest bf16 value (ties to even), as an fp32. */
float lr_round_bf16(float x);

/* Frees a backend made by any constructor. */
static inline void lr_backend_destroy(lr_backend *be) {
    if (be) be->destroy(be);
}

#endif
