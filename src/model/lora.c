/* LoRA adapter shapes and names (lora.h). */
#include "model/lora.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

static const char *const NAMES[LORA_N_MODULES] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};
static const char *const PATHS[LORA_N_MODULES] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                  "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                  "mlp.down_proj"};

const char *lora_module_name(int m) { return m >= 0 && m < LORA_N_MODULES ? NAMES[m] : "?"; }
const char *lora_module_path(int m) { return m >= 0 && m < LORA_N_MODULES ? PATHS[m] : "?"; }

int lora_module_from_name(const char *name) {
    for (int i = 0; i < LORA_N_MODULES; i++)
        if (!strcmp(name, NAMES[i])) return i;
    return -1;
}

int lora_parse_targets(const char *csv, const char *where, unsigned *targets) {
    unsigned t = 0;
    if (!strcmp(csv, "all") || !strcmp(csv, "all-linear")) {
        *targets = (1u << LORA_N_MODULES) - 1;
        return 0;
    }
    const char *p = csv;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char tok[32];
        if (n == 0 || n >= sizeof tok) {
            lr_error_set(where, "bad target module list '%s'", csv);
            return -1;
        }
        memcpy(tok, p, n);
        tok[n] = 0;
        int m = lora_module_from_name(tok);
        if (m < 0) {
            lr_error_set(where, "unknown target module '%s' (known: q_proj, k_proj, v_proj, o_proj, gate_proj, "
                                "up_proj, down_proj, or all)", tok);
            return -1;
        }
        t |= 1u << m;
        p += n + (e ? 1 : 0);
    }
    if (!t) {
        lr_error_set(where, "no target modules given");
        return -1;
    }
    *targets = t;
    return 0;
}

void lora_targets_str(unsigned targets, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int m = 0; m < LORA_N_MODULES; m++)
        if (targets & (1u << m)) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", NAMES[m]);
}

lr_lora *lora_new(const lora_config *c, const lr_model_config *mc) {
    return lora_new_dims(c, mc->n_layers, mc->hidden_size, mc->n_heads * mc->head_dim, mc->n_kv_heads * mc->head_dim,
                         mc->intermediate_size);
}

lr_lora *lora_new_dims(const lora_config *c, int n_layers, int d, int q, int kv, int I) {
    if (c->r < 1) {
        lr_error_set("lora", "rank r must be >= 1 (got %d)", c->r);
        return NULL;
    }
    if (!(c->targets & ((1u << LORA_N_MODULES) - 1))) {
        lr_error_set("lora", "no target modules");
        return NULL;
    }
    lr_lora *a = xcalloc(1, sizeof *a);
    a->cfg = *c;
    a->scale = (float)(c->use_rslora ? c->alpha / sqrt((double)c->r) : c->alpha / c->r);
    a->n_layers = n_layers;
    /* (in, out) of each module */
    const int io[LORA_N_MODULES][2] = {{d, q}, {d, kv}, {d, kv}, {q, d}, {d, I}, {d, I}, {I, d}};
    int per_layer = 0;
    for (int m = 0; m < LORA_N_MODULES; m++) per_layer += (c->targets >> m) & 1;
    a->n_slots = per_layer * n_layers;
    a->slots = xcalloc((size_t)a->n_slots, sizeof *a->slots);
    a->slot_of = xmalloc((size_t)n_layers * LORA_N_MODULES * sizeof *a->slot_of);
    size_t off = 0;
    int s = 0;
    for (int l = 0; l < n_layers; l++)
        for (int m = 0; m < LORA_N_MODULES; m++) {
            if (!((c->targets >> m) & 1)) {
                a->slot_of[l * LORA_N_MODULES + m] = -1;
                continue;
            }
            lora_slot *sl = &a->slots[s];
            sl->layer = l, sl->module = m, sl->in = io[m][0], sl->out = io[m][1];
            sl->a = off;
            off += (size_t)c->r * sl->in;
            sl->b = off;
            off += (size_t)sl->out * c->r;
            a->slot_of[l * LORA_N_MODULES + m] = s++;
        }
    a->n_params = off;
    a->w = xcalloc(off, sizeof *a->w);
    return a;
}

void lora_free(lr_lora *a) {
    if (!a) return;
    free(a->slots);
    free(a->slot_of);
    free(a->w);
    free(a);
}

void lora_peft_name(const lr_lora *a, int slot, int which, char *buf, size_t cap) {
    const lora_slot *sl = &a->slots[slot];
    snprintf(buf, cap, "base_model.model.model.layers.%d.%s.lora_%s.weight", sl->layer, PATHS[sl->module],
             which ? "B" : "A");
}
