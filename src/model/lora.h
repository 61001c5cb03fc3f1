/* LoRA adapters on the decoder's linear layers (SPEC §2):
 *   h = W·x + b + s·B·A·dropout(x),  s = lora_alpha / r (use_rslora: alpha / sqrt r)
 * A (r, in) and B (out, r) per targeted module and layer, PyTorch Linear
 * layout (the layout peft saves). What an adapter is (shapes, module names,
 * peft's keys): the model reads one (model/adapter.h) and adds it into its
 * weights for --adapter; the trainer trains one (trainer/lora.h: its
 * initialisation) and never touches the base weights.
 *
 * All parameters live in one flat fp32 buffer (slot by slot: A then B, in
 * layer order, modules in lora_module order) so that gradients, AdamW
 * moments and the data-parallel allreduce are one contiguous array each. */
#ifndef LR_MODEL_LORA_H
#define LR_MODEL_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "io/model_config.h"
#include "model/model.h"

/* The adaptable modules: the decoder's linear layers (model.h lr_linear_module). */
typedef enum {
    LORA_Q = LR_LINEAR_Q,
    LORA_K = LR_LINEAR_K,
    LORA_V = LR_LINEAR_V,
    LORA_O = LR_LINEAR_O,
    LORA_GATE = LR_LINEAR_GATE,
    LORA_UP = LR_LINEAR_UP,
    LORA_DOWN = LR_LINEAR_DOWN,
    LORA_N_MODULES = LR_N_LINEAR
} lora_module;

#define LORA_DEFAULT_TARGETS ((1u << LORA_Q) | (1u << LORA_V))

typedef struct {
    int r;
    double alpha;
    double dropout;    /* probability of zeroing an input element (training only) */
    unsigned targets;  /* bit (1 << lora_module) per targeted module */
    int use_rslora;    /* peft use_rslora: s = alpha / sqrt(r) */
} lora_config;

typedef struct {
    int layer, module;
    int in, out; /* the Linear's shape (out, in) */
    size_t a;    /* A (r, in) at w + a */
    size_t b;    /* B (out, r) at w + b */
} lora_slot;

typedef struct {
    lora_config cfg;
    float scale;      /* s */
    int n_layers;
    int n_slots;
    lora_slot *slots; /* (n_slots) layer-major, modules in lora_module order */
    int *slot_of;     /* (n_layers * LORA_N_MODULES): slot index or -1 */
    size_t n_params;
    float *w;         /* (n_params) */
} lr_lora;

/* "q_proj" ... "down_proj" */
const char *lora_module_name(int module);
/* Module path inside a decoder layer: "self_attn.q_proj", "mlp.down_proj". */
const char *lora_module_path(int module);
/* "q_proj" -> LORA_Q; -1 when unknown. */
int lora_module_from_name(const char *name);
/* Comma-separated module names ("q_proj,v_proj"; "all" = every module).
 * 0 ok; -1 + lr_error(where) on an unknown or empty list. */
int lora_parse_targets(const char *csv, const char *where, unsigned *targets);
/* The targets as "q_proj,v_proj" into buf. */
void lora_targets_str(unsigned targets, char *buf, size_t cap);

/* Shapes for a model; parameters zero. NULL + lr_error for r < 1 or no target. */
lr_lora *lora_new(const lora_config *c, const lr_model_config *mc);
/* The same from the dimensions alone (n_layers, d, q_dim = heads·hd,
 * kv_dim = kv heads·hd, I), for checkpoints read without the model. */
lr_lora *lora_new_dims(const lora_config *c, int n_layers, int d, int q_dim, int kv_dim, int inter);
void lora_free(lr_lora *a);
static inline const lora_slot *lora_slot_at(const lr_lora *a, int layer, int module) {
    int i = a->slot_of[layer * LORA_N_MODULES + module];
    return i < 0 ? NULL : &a->slots[i];
}

/* peft's state-dict key of slot i's A (which = 0) or B (which = 1):
 * "base_model.model.model.layers.<l>.self_attn.q_proj.lora_A.weight". */
void lora_peft_name(const lr_lora *a, int slot, int which, char *buf, size_t cap);

#endif
