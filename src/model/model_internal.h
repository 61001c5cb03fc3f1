/* Internal structures of the decoder runtime, shared by the files of
 * src/model/ (weights.c, forward.c, kv_cache.c, generate.c). Not for other
 * stages: they use model.h (lr_layer and the read-only decoder view are
 * there). */
#ifndef LR_MODEL_INTERNAL_H
#define LR_MODEL_INTERNAL_H

#include <stdint.h>

#include "model/backend.h"
#include "model/model.h"

/* Activations for up to `cap` packed tokens, grown on demand (never shrunk,
 * so steady-state decode allocates nothing). Backend memory unless noted. */
typedef struct {
    int cap;          /* rows */
    float *x;         /* (cap, d) residual stream */
    float *h;         /* (cap, d) normed input of a sub-block */
    float *qkv;       /* (cap, qkv_dim) */
    float *att;       /* (cap, q_dim) attention output */
    float *gu;        /* (cap, 2*I) gate|up */
    float *act;       /* (cap, I) swiglu output */
    float *sel;       /* (cap, d) final-normed rows that go to lm_head */
    float *logits;    /* (logits_cap, V) device backends, and greedy ids on any (model_extend_greedy) */
    int logits_cap;
    /* host */
    int32_t *pos;     /* (cap) positions */
    int64_t *dst_row; /* (cap) KV-cache rows of new tokens */
    int *rows;        /* (cap) rows selected for lm_head */
    int *q_off;       /* (cap + 1) */
    int *n_past;      /* (cap) */
    int64_t *kv_row;  /* (cap) */
    int *piece;       /* (3, piece_cap) model_extend chunk pieces */
    int piece_cap;
} lr_workspace;

struct lr_model {
    lr_model_config cfg;
    lr_generation_config gen;
    char *dir;
    lr_backend *be;
    int d, q_dim, kv_dim, qkv_dim, inter, vocab, head_dim;
    float attn_scale; /* head_dim^-0.5 */
    int chunk_tokens; /* tokens per decoder pass (model_set_chunk_tokens) */
    lr_dtype wdtype;  /* dtype of the lr_weight matrices as loaded (weights.c) */
    int weights_f32;  /* lr_model_opts.weights_f32 */
    lr_weight embed;  /* (V, d) embed_tokens */
    float *final_norm;/* (d) model.norm */
    lr_weight lm_head;/* (V, d); == embed when tied */
    lr_layer *layers; /* (n_layers) */
    float *inv_freq;  /* (head_dim / 2) host */
    size_t n_nonfinite_weights; /* NaN + Inf values found at load (warned) */
    lr_workspace ws;
};

struct lr_kv_cache {
    lr_model *m;
    int n_slots, max_len, n_layers, kv_dim;
    /* Per layer, per slot, one contiguous (max_len, kv_dim) block: a decode
     * step streams each slot's keys and values linearly. */
    lr_dtype dtype; /* of the rows: the backend's kv_dtype */
    void *k;  /* (n_layers, n_slots, max_len, kv_dim) backend memory */
    void *v;  /* (n_layers, n_slots, max_len, kv_dim) */
    int *len;  /* (n_slots) host: tokens held */
    unsigned char *mark; /* (n_slots) host scratch: duplicate-slot check in model_extend */
};

/* The derived dimensions, RoPE frequencies (errors name `where`) and the
 * CPU backend of m from m->cfg (model.c). 0 or -1 + lr_error. */
int model_init_runtime(lr_model *m, const char *where, const lr_model_opts *opts);

/* Loads and checks every tensor of the model into m (weights.c). 0 or -1 + lr_error. */
int model_load_weights(lr_model *m);
void model_free_weights(lr_model *m);

/* fp32 view of a weight of `numel` elements, widening a bf16 one in place
 * first (the model then holds fp32 for that tensor): for code that writes
 * weights (merging a LoRA adapter) or reads them outside the backend ops
 * (the trainer's backward, which loads models with weights_f32 anyway). */
float *model_weight_f32(lr_model *m, lr_weight *w, size_t numel);

/* Grows the workspace to hold `rows` tokens and `logit_rows` logits rows
 * (forward.c): backend memory for the logits on a device backend, and on
 * any backend when logits_scratch (greedy ids chosen where the logits are). */
void model_workspace_reserve(lr_model *m, int rows, int logit_rows, int logits_scratch);
void model_workspace_free(lr_model *m);

#endif
