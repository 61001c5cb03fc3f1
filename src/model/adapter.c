/* Reading PEFT adapter directories (adapter.h). The writer is the
 * trainer's (trainer/peft_adapter.c); both name tensors with lora.h's
 * lora_peft_name. */
#include "model/adapter.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/safetensors.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define KEY_PREFIX "base_model.model.model.layers."

typedef struct {
    int r;
    double alpha, dropout;
    int use_rslora;
    int partial_layers; /* layers_to_transform / layers_pattern given: absent layers are allowed */
} adapter_cfg;

static int is_false_or_null(const cJSON *v) { return !v || cJSON_IsNull(v) || cJSON_IsFalse(v); }
static int is_empty(const cJSON *v) {
    return !v || cJSON_IsNull(v) || ((cJSON_IsObject(v) || cJSON_IsArray(v)) && cJSON_GetArraySize(v) == 0);
}

static int read_config(const char *path, adapter_cfg *c) {
    size_t len = 0;
    char *text = lr_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) return -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    if (!j || !cJSON_IsObject(j)) {
        lr_error_set(path, "not a JSON object");
        goto out;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "LORA") != 0)) {
        lr_error_set(path, "peft_type is not \"LORA\"");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "r");
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > 65536) {
        lr_error_set(path, "\"r\" must be a positive integer");
        goto out;
    }
    c->r = (int)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
    if (v && !cJSON_IsNumber(v)) {
        lr_error_set(path, "\"lora_alpha\" must be a number");
        goto out;
    }
    c->alpha = v ? v->valuedouble : 8.0; /* peft's default */
    v = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout");
    c->dropout = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
    if (!(c->dropout >= 0.0 && c->dropout < 1.0)) {
        lr_error_set(path, "\"lora_dropout\" must be in [0, 1)");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "use_rslora");
    c->use_rslora = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(j, "bias");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !strcmp(v->valuestring, "none"))) {
        lr_error_set(path, "bias other than \"none\" is not supported");
        goto out;
    }
    static const char *const unsupported_true[] = {"use_dora", "fan_in_fan_out", "lora_bias", "use_qalora"};
    for (size_t i = 0; i < sizeof unsupported_true / sizeof *unsupported_true; i++)
        if (!is_false_or_null(cJSON_GetObjectItemCaseSensitive(j, unsupported_true[i]))) {
            lr_error_set(path, "\"%s\" is set: this adapter kind is not supported", unsupported_true[i]);
            goto out;
        }
    static const char *const must_be_empty[] = {"rank_pattern", "alpha_pattern", "modules_to_save",
                                                "trainable_token_indices", "layer_replication", "target_parameters"};
    for (size_t i = 0; i < sizeof must_be_empty / sizeof *must_be_empty; i++)
        if (!is_empty(cJSON_GetObjectItemCaseSensitive(j, must_be_empty[i]))) {
            lr_error_set(path, "\"%s\" is set: not supported", must_be_empty[i]);
            goto out;
        }
    c->partial_layers = !is_empty(cJSON_GetObjectItemCaseSensitive(j, "layers_to_transform"));
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* Parses a key into (layer, module, which = 0 A / 1 B). -1 when it is not a
 * decoder-layer LoRA A/B weight. */
static int parse_key(const char *k, int *layer, int *module, int *which) {
    if (strncmp(k, KEY_PREFIX, strlen(KEY_PREFIX)) != 0) return -1;
    const char *p = k + strlen(KEY_PREFIX);
    char *end = NULL;
    long l = strtol(p, &end, 10);
    if (end == p || *end != '.' || l < 0 || l > 100000) return -1;
    p = end + 1;
    for (int m = 0; m < LORA_N_MODULES; m++) {
        const char *path = lora_module_path(m);
        size_t n = strlen(path);
        if (strncmp(p, path, n) != 0 || p[n] != '.') continue;
        const char *q = p + n + 1;
        int w;
        if (!strncmp(q, "lora_A.", 7)) w = 0;
        else if (!strncmp(q, "lora_B.", 7)) w = 1;
        else return -1;
        q += 7;
        if (strcmp(q, "weight") != 0) { /* "<adapter name>.weight" */
            const char *dot = strchr(q, '.');
            if (!dot || dot == q || strcmp(dot, ".weight") != 0) return -1;
        }
        *layer = (int)l, *module = m, *which = w;
        return 0;
    }
    return -1;
}

lr_lora *peft_adapter_load(const char *dir, const lr_model_config *mc, const char *model_dir) {
    if (!lr_is_dir(dir)) {
        lr_error_set(dir, "not an adapter directory (expected adapter_config.json and adapter_model.safetensors)");
        return NULL;
    }
    char *cfg_path = lr_path_join(dir, "adapter_config.json");
    char *st_path = lr_path_join(dir, "adapter_model.safetensors");
    adapter_cfg c = {0};
    lr_lora *a = NULL;
    st_set st;
    int st_open = 0;
    int *found = NULL;
    if (read_config(cfg_path, &c) != 0) goto fail;
    if (!lr_file_exists(st_path)) {
        lr_error_set(st_path, "missing (adapters saved as adapter_model.bin are not supported: re-save with "
                              "safe_serialization=True)");
        goto fail;
    }
    if (st_open_file(&st, st_path) != 0) goto fail;
    st_open = 1;
    /* targets from the tensors present */
    unsigned targets = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        int l, m, w;
        if (parse_key(st.tensors[i].name, &l, &m, &w) != 0) {
            lr_error_set(st_path, "tensor '%s' is not a LoRA A/B weight of a decoder layer projection (embedding, "
                                  "lm_head or other adapter kinds are not supported)", st.tensors[i].name);
            goto fail;
        }
        if (l >= mc->n_layers) {
            lr_error_set(st_path, "tensor '%s' is for layer %d, but the model %s has %d layers", st.tensors[i].name,
                         l, model_dir, mc->n_layers);
            goto fail;
        }
        targets |= 1u << m;
    }
    if (!targets) {
        lr_error_set(st_path, "holds no LoRA tensors");
        goto fail;
    }
    lora_config lc = {.r = c.r, .alpha = c.alpha, .dropout = c.dropout, .targets = targets, .use_rslora = c.use_rslora};
    a = lora_new(&lc, mc);
    if (!a) goto fail;
    found = xcalloc((size_t)a->n_slots * 2, sizeof *found);
    for (int i = 0; i < st.n_tensors; i++) {
        const st_tensor *t = &st.tensors[i];
        int l, m, w;
        parse_key(t->name, &l, &m, &w);
        const int s = a->slot_of[l * LORA_N_MODULES + m];
        const lora_slot *sl = &a->slots[s];
        const int64_t want0 = w ? sl->out : c.r, want1 = w ? c.r : sl->in;
        if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1) {
            lr_error_set(st_path, "tensor '%s' has shape [%lld%s%lld], expected [%lld, %lld] for r = %d and the "
                                  "model %s (an adapter for another model?)", t->name,
                         (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL,
                         (long long)want0, (long long)want1, c.r, model_dir);
            goto fail;
        }
        if (found[2 * s + w]++) {
            lr_error_set(st_path, "tensor '%s' appears twice (under two adapter names?)", t->name);
            goto fail;
        }
        if (st_to_f32(t, a->w + (w ? sl->b : sl->a)) != 0) {
            lr_error_set(st_path, "tensor '%s' has dtype %s, not a floating-point type", t->name,
                         st_dtype_name(t->dtype));
            goto fail;
        }
        const size_t n = (size_t)t->numel;
        const float *p = a->w + (w ? sl->b : sl->a);
        for (size_t k = 0; k < n; k++)
            if (!isfinite(p[k])) {
                lr_error_set(st_path, "tensor '%s' holds NaN or Inf", t->name);
                goto fail;
            }
    }
    for (int s = 0; s < a->n_slots; s++) {
        if (found[2 * s] && found[2 * s + 1]) continue;
        if (!found[2 * s] && !found[2 * s + 1] && c.partial_layers) continue; /* layer not transformed: zeros */
        char nm[256];
        lora_peft_name(a, s, found[2 * s] ? 1 : 0, nm, sizeof nm);
        lr_error_set(st_path, "missing tensor '%s'", nm);
        goto fail;
    }
    free(found);
    st_close(&st);
    free(cfg_path);
    free(st_path);
    return a;
fail:
    free(found);
    lora_free(a);
    if (st_open) st_close(&st);
    free(cfg_path);
    free(st_path);
    return NULL;
}
