/* The decoder runtime (Qwen2 / Llama): loading a Hugging Face model
 * directory, teacher-forced forward over ragged batches, KV-cache
 * incremental decoding and batched generation.
 *
 * Every stage above (sampler, scorer, trainer, evaluator) talks to models
 * only through this header. Math runs behind the backend interface
 * (backend.h); this file does not know whether it is CPU or CUDA. */
#ifndef LR_MODEL_H
#define LR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "io/model_config.h"
#include "model/backend.h"

typedef struct lr_model lr_model;
typedef struct lr_kv_cache lr_kv_cache;

typedef struct {
    int n_threads;   /* 0 = OMP_NUM_THREADS or all cores */
    int quiet;       /* no note on stderr about the device used */
    int weights_f32; /* 1: widen every weight to fp32 at load (training); 0: a bf16
                        checkpoint stays bf16 in memory (same results, half the bytes) */
    int emulate_bf16; /* 1: the CPU emulates the CUDA path's bf16 numerics (backend.h);
                         also on with the environment variable LR_EMULATE_BF16=1 */
    const char *device; /* "cpu", "cuda" or "auto"; NULL: the process-wide choice (model_set_device) */
} lr_model_opts;

/* A model (and its caches) serves one call at a time: calls on the same
 * model from several threads must be serialised by the caller. Internally
 * every call uses n_threads OpenMP threads (docs/model.md). */

/* Loads config.json, generation_config.json and the safetensors weights of
 * a model directory (bf16/f16/f32 on disk; in memory a bf16 checkpoint's
 * matrices stay bf16 unless opts->weights_f32, everything else is fp32;
 * results are bit-identical either way). NULL + lr_error
 * on a missing/misshapen tensor, unsupported model_type/rope type, etc. */
lr_model *model_load(const char *dir, const lr_model_opts *opts);
/* Once per process, on the job's first rank unless quiet: which device
 * computes (a CUDA build names the GPU, or says it found none and uses the
 * CPU). */
void model_announce_device(int quiet);
/* --device (args.c, for every command that computes; LR_DEVICE): "cpu",
 * "cuda" or "auto" (default: CUDA when compiled in and a GPU is usable,
 * else the CPU) for every model loaded from now on. Exits 2 naming `where`
 * on another name, and for "cuda" without a usable GPU or without CUDA
 * compiled in. The trainer's loads stay on the CPU (device.c). */
void model_set_device(const char *name, const char *where);
void model_free(lr_model *m);
/* A model with random weights (uniform, standard deviation std; norms 1)
 * for the shapes of config c, deterministic in seed; no files. For
 * benchmarks and large-shape tests. NULL + lr_error on inconsistent dims. */
lr_model *model_new_random(const lr_model_config *c, uint64_t seed, float std, const lr_model_opts *opts);
const lr_model_config *model_config(const lr_model *m);
const lr_generation_config *model_generation_config(const lr_model *m);
int model_vocab_size(const lr_model *m); /* logits row length (config vocab_size) */
const char *model_dir(const lr_model *m);
/* Threads used by the model's ops (OpenMP, and OpenBLAS, which the runtime
 * keeps consistent: see backend_cpu.c). <= 0: OMP_NUM_THREADS or all cores. */
int model_n_threads(const lr_model *m);
void model_set_threads(lr_model *m, int n_threads);
/* Tokens per decoder pass (default 4096): longer batches are processed in
 * several passes (whole sequences in model_forward, prompt pieces in
 * model_extend), bounding activation memory. <= 0 restores the default. */
void model_set_chunk_tokens(lr_model *m, int n_tokens);
/* Bytes of weights held: matrices in their dtype (bf16 or fp32), norms and
 * biases fp32 (tied embeddings counted once). */
size_t model_weight_bytes(const lr_model *m);

/* Teacher-forced forward of n_seq ragged sequences packed back to back in
 * tokens (sum(lens) ids, no padding). Writes logits (rows, vocab):
 *   all_positions = 1: one row per input token, in packed order;
 *   all_positions = 0: one row per sequence (its last token).
 * Returns 0, or -1 + lr_error (e.g. a sequence longer than the context). */
int model_forward(lr_model *m, const int32_t *tokens, const int *lens, int n_seq, int all_positions,
                  float *logits);
/* The same pass with logits only at the last n_last[s] positions of each
 * sequence s (0 <= n_last[s] <= lens[s]), packed in order: (sum n_last,
 * vocab); lm_head runs on those rows only (a scorer reading the expert
 * teacher-forced wants the generated positions, not the prompt's). On the
 * CPU each row has the bits of the same row of model_forward. */
int model_forward_last(lr_model *m, const int32_t *tokens, const int *lens, const int *n_last, int n_seq,
                       float *logits);

/* model_forward_last with the logits left in the model's backend memory:
 * *logits = (sum n_last, vocab) floats there, valid until the next call on
 * m (host memory on the CPU; on a GPU nothing is copied back: the scorer
 * hands them to the backend's contrast op). The work may still be queued:
 * model_sync(m) before another backend reads them. */
int model_forward_last_dev(lr_model *m, const int32_t *tokens, const int *lens, const int *n_last, int n_seq,
                           const float **logits);
/* Waits until m's queued device work has finished (nothing on the CPU). */
void model_sync(lr_model *m);

/* ---- The decoder's weights, read-only, for code that runs its own
 * passes over them with backend ops (the LoRA trainer's forward and
 * backward, src/trainer/train_net.c; op profiles in bench/). */

/* One decoder layer. All pointers are backend memory. Projection
 * matrices are lr_weight in the model's weight dtype (bf16 for a bf16
 * checkpoint unless lr_model_opts.weights_f32, else fp32); norms and
 * biases are fp32.
 * q_dim = n_heads*hd, kv_dim = n_kv_heads*hd, qkv_dim = q_dim + 2*kv_dim. */
typedef struct {
    float *attn_norm; /* (d) input_layernorm */
    lr_weight wqkv;   /* (qkv_dim, d) rows: q_proj | k_proj | v_proj */
    float *bqkv;      /* (qkv_dim) or NULL */
    lr_weight wo;     /* (d, q_dim) o_proj */
    float *bo;        /* (d) or NULL */
    float *mlp_norm;  /* (d) post_attention_layernorm */
    lr_weight wgu;    /* (2*I, d) rows: gate_proj | up_proj */
    float *bgu;       /* (2*I) or NULL */
    lr_weight wdown;  /* (d, I) down_proj */
    float *bdown;     /* (d) or NULL */
} lr_layer;

typedef struct {
    lr_backend *be;
    int n_layers, n_heads, n_kv_heads, max_len; /* max_len: max_position_embeddings */
    int d, q_dim, kv_dim, qkv_dim, inter, vocab, head_dim;
    float eps;              /* rms_norm_eps */
    float attn_scale;       /* head_dim^-0.5 */
    const float *inv_freq;  /* (head_dim / 2) host: RoPE frequencies */
    lr_weight embed;        /* (V, d) */
    const float *final_norm;/* (d) */
    lr_weight lm_head;      /* (V, d) */
    const lr_layer *layers; /* (n_layers) */
} lr_decoder_view;

/* m's dimensions and weights. Valid until model_free or model_add_lora
 * (which may widen a bf16 matrix to fp32 and so move it). */
void model_decoder_view(const lr_model *m, lr_decoder_view *v);
/* The backend m computes with. */
lr_backend *model_backend(const lr_model *m);
/* The dtype m's matrices were loaded in: LR_BF16 only when every weight of
 * the checkpoint is bf16 and weights_f32 was not asked for. */
lr_dtype model_weight_dtype(const lr_model *m);

/* ---- LoRA adapters applied to a loaded model (merged: the forward then
 * costs nothing extra per token; fp32 W + sBA differs from the unmerged
 * W x + sB(Ax) only by fp32 rounding, ~1e-7 relative). */

/* The decoder's linear layers (PyTorch Linear weights (out, in)). */
typedef enum {
    LR_LINEAR_Q = 0, /* self_attn.q_proj (q_dim, d) */
    LR_LINEAR_K,     /* self_attn.k_proj (kv_dim, d) */
    LR_LINEAR_V,     /* self_attn.v_proj (kv_dim, d) */
    LR_LINEAR_O,     /* self_attn.o_proj (d, q_dim) */
    LR_LINEAR_GATE,  /* mlp.gate_proj (I, d) */
    LR_LINEAR_UP,    /* mlp.up_proj (I, d) */
    LR_LINEAR_DOWN,  /* mlp.down_proj (d, I) */
    LR_N_LINEAR
} lr_linear_module;

/* W += scale · B (out, r) · A (r, in) for linear `which` of layer `layer`
 * (A, B host memory, fp32; the product in fp32 through the backend's gemm;
 * a bf16 matrix is widened to fp32 first). 0 ok; -1 + lr_error on a layer
 * or module out of range or in / out not the linear's shape. */
int model_add_lora(lr_model *m, int layer, int which, int r, int in, int out, float scale, const float *A,
                   const float *B);
/* --adapter: loads the PEFT LoRA adapter in adapter_dir (ours or peft's;
 * model/adapter.h, checked against m's shapes) and adds each of its deltas
 * into m's weights with model_add_lora. 0 ok; -1 + lr_error. */
int model_apply_adapter(lr_model *m, const char *adapter_dir);

/* ---- KV cache with per-sequence slots */
lr_kv_cache *kv_cache_new(const lr_model *m, int n_slots, int max_len);
void kv_cache_free(lr_kv_cache *c);
void kv_cache_clear_slot(lr_kv_cache *c, int slot);
int kv_cache_len(const lr_kv_cache *c, int slot);
int kv_cache_n_slots(const lr_kv_cache *c);
int kv_cache_max_len(const lr_kv_cache *c);
size_t kv_cache_bytes(const lr_kv_cache *c);

/* Appends n_new[i] tokens to slot slots[i] for i < n (prefill when many,
 * decode when one), attending to what the slot already holds. Writes the
 * logits of each slot's last appended token to last_logits (n, vocab), and
 * when all_logits != NULL the logits of every appended token in packed
 * order (sum n_new, vocab). -1 + lr_error when a slot would overflow. */
int model_extend(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new, int n,
                 float *last_logits, float *all_logits);
/* The same pass for greedy decoding: instead of the last logits rows,
 * next_ids[i] = lr_argmax of slot slots[i]'s last logits row and
 * finite[i] = lr_row_finite of it (n each, host). The logits stay where
 * they were computed: on a GPU only n ids and flags reach the host. The
 * ids equal lr_argmax of model_extend's rows, bit for bit on the CPU. */
int model_extend_greedy(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new,
                        int n, int32_t *next_ids, uint8_t *finite);
/* The same for temperature / top-p sampling, on a backend with a
 * sample_rows op (backend.h; model_can_sample_rows): next_ids[i] =
 * lr_sample_u(row, temperature, top_p, u[i]) of slot slots[i]'s last
 * logits row when it is finite, else lr_argmax of it. u[i] is the draw the
 * caller took from the sequence's own stream (sampling.h), so the ids equal
 * lr_sample of model_extend's rows, bit for bit on the CPU. */
int model_extend_sample(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new, int n,
                        double temperature, double top_p, const double *u, int32_t *next_ids, uint8_t *finite);
/* 1 when the model's backend samples rows where the logits are. */
int model_can_sample_rows(const lr_model *m);

/* ---- generation */
/* FINISH_NONFINITE: the last logits row held a NaN or an infinity (broken
 * weights or an overflow); the sequence stopped there and its last token
 * (lr_argmax of that row) is not meaningful. 3 is left to the sampler's
 * TRACE_AMATEUR_VOCAB (io/runfile.h), which extends these codes. */
typedef enum { FINISH_EOS = 0, FINISH_LENGTH = 1, FINISH_CONTEXT = 2, FINISH_NONFINITE = 4 } lr_finish_reason;

typedef struct {
    int max_new_tokens;   /* default 128 */
    double temperature;   /* 0 = greedy */
    double top_p;         /* 1 = off */
    uint64_t seed;        /* per-sequence streams: seq i uses (seed, i), so batching never changes samples */
    const int32_t *eos_ids;
    int n_eos;
    int batch;            /* concurrent sequences (slots); finished slots are refilled */
    int no_step_logits;   /* 1: on_step gets logits = NULL, and the ids are picked where the logits are
                           * (model_extend_greedy / model_extend_sample: a GPU sends only ids) */
} lr_gen_params;

/* Called once per generated token, in generation order for that sequence,
 * with the raw logits row (vocab floats) the token was chosen from (NULL
 * when the params ask for no_step_logits). */
typedef void (*lr_step_fn)(void *ctx, int seq, int step, int32_t token, const float *logits);

/* Generates for n prompts. out_tokens[i] (fresh array, generated ids only,
 * EOS included when hit), out_lens[i], finish[i]. 0 ok, -1 + lr_error (then
 * no arrays are left for the caller). A sequence never exceeds the context:
 * prompt + output <= max_position_embeddings (FINISH_CONTEXT when it hits
 * that); a prompt that leaves no room is an error. A sequence whose logits
 * row is not finite stops at once with FINISH_NONFINITE: that row's token
 * (lr_argmax, NaN ignored) is still passed to on_step and appended, so every
 * sequence has >= 1 token, and callers drop it as text. */
int model_generate(lr_model *m, const int32_t *const *prompts, const int *prompt_lens, int n, const lr_gen_params *p,
                   lr_step_fn on_step, void *ctx, int32_t **out_tokens, int *out_lens, lr_finish_reason *finish);

#endif
