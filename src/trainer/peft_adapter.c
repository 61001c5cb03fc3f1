/* PEFT adapter directory reading and writing (peft_adapter.h). */
#include "trainer/peft_adapter.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/safetensors.h"
#include "version.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define KEY_PREFIX "base_model.model.model.layers."

/* ---------------------------------------------------------------- reading */

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

/* ---------------------------------------------------------------- writing */

/* The peft version whose adapter_config.json keys and defaults we write
 * (tests/reference/make_peft_keys.py checks them and loads the result). */
#define PEFT_VERSION "0.21.2"

/* A Hub-style id ("org/name") rather than a local path. */
static int hub_style(const char *s) {
    const char *slash = s ? strchr(s, '/') : NULL;
    return slash && slash != s && slash[1] && !strchr(slash + 1, '/') && s[0] != '.' && s[0] != '~' &&
           !strchr(s, ' ') && !lr_file_exists(s);
}

char *peft_base_model_name(const char *given) {
    if (!given) return xstrdup("");
    /* the Hugging Face cache: .../models--ORG--NAME/snapshots/<hash> */
    const char *m = strstr(given, "models--");
    const char *snap = m ? strstr(m, "/snapshots/") : NULL;
    if (m && snap) {
        const char *org = m + 8, *sep = strstr(org, "--");
        if (sep && sep < snap) {
            size_t no = (size_t)(sep - org), nn = (size_t)(snap - (sep + 2));
            char *id = xmalloc(no + nn + 2);
            snprintf(id, no + nn + 2, "%.*s/%.*s", (int)no, org, (int)nn, sep + 2);
            return id;
        }
    }
    /* a directory saved by transformers names its Hub model in config.json */
    char *cp = lr_path_join(given, "config.json");
    char *id = NULL;
    if (lr_file_exists(cp)) {
        size_t len;
        char *txt = lr_read_file(cp, 1u << 20, &len);
        cJSON *j = txt ? cJSON_ParseWithLength(txt, len) : NULL;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "_name_or_path");
        if (cJSON_IsString(n) && hub_style(n->valuestring)) id = xstrdup(n->valuestring);
        cJSON_Delete(j);
        free(txt);
    }
    lr_error_clear();
    free(cp);
    return id ? id : xstrdup(given);
}

static int write_text(const char *path, const char *text) {
    lr_atomic_file af;
    int rc = lr_atomic_open(&af, path);
    if (rc == 0) {
        fputs(text, af.f);
        rc = lr_atomic_commit(&af);
    }
    return rc;
}

static int write_config(const char *path, const lr_lora *a, const char *base_model) {
    cJSON *j = cJSON_CreateObject();
    /* every field peft 0.21.2 writes for a plain LoRA, with its defaults, in
     * its (sorted) order */
    cJSON_AddNullToObject(j, "alora_invocation_tokens");
    cJSON_AddItemToObject(j, "alpha_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(j, "arrow_config");
    cJSON_AddNullToObject(j, "auto_mapping");
    cJSON_AddStringToObject(j, "base_model_name_or_path", base_model ? base_model : "");
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddNullToObject(j, "corda_config");
    cJSON_AddFalseToObject(j, "ensure_weight_tying");
    cJSON_AddNullToObject(j, "eva_config");
    cJSON_AddNullToObject(j, "exclude_modules");
    cJSON_AddFalseToObject(j, "fan_in_fan_out");
    cJSON_AddTrueToObject(j, "inference_mode");
    cJSON_AddTrueToObject(j, "init_lora_weights");
    cJSON_AddNullToObject(j, "kasa_config");
    cJSON_AddNullToObject(j, "layer_replication");
    cJSON_AddNullToObject(j, "layers_pattern");
    cJSON_AddNullToObject(j, "layers_to_transform");
    cJSON_AddItemToObject(j, "loftq_config", cJSON_CreateObject());
    cJSON_AddNumberToObject(j, "lora_alpha", a->cfg.alpha); /* cJSON prints integral values as integers */
    cJSON_AddFalseToObject(j, "lora_bias");
    cJSON_AddNumberToObject(j, "lora_dropout", a->cfg.dropout);
    cJSON_AddNullToObject(j, "lora_ga_config");
    cJSON_AddNullToObject(j, "megatron_config");
    cJSON_AddStringToObject(j, "megatron_core", "megatron.core");
    cJSON_AddNullToObject(j, "modules_to_save");
    cJSON_AddNullToObject(j, "monteclora_config");
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "peft_version", PEFT_VERSION);
    cJSON_AddNumberToObject(j, "qalora_group_size", 16);
    cJSON_AddNumberToObject(j, "r", a->cfg.r);
    cJSON_AddItemToObject(j, "rank_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(j, "revision");
    cJSON *t = cJSON_AddArrayToObject(j, "target_modules");
    for (int m = 0; m < LORA_N_MODULES; m++)
        if (a->cfg.targets & (1u << m)) cJSON_AddItemToArray(t, cJSON_CreateString(lora_module_name(m)));
    cJSON_AddNullToObject(j, "target_parameters");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    cJSON_AddNullToObject(j, "trainable_token_indices");
    cJSON_AddNullToObject(j, "use_bdlora");
    cJSON_AddFalseToObject(j, "use_dora");
    cJSON_AddFalseToObject(j, "use_qalora");
    if (a->cfg.use_rslora) cJSON_AddTrueToObject(j, "use_rslora");
    else cJSON_AddFalseToObject(j, "use_rslora");
    cJSON_AddNullToObject(j, "velora_config");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    size_t n = strlen(text);
    char *line = xmalloc(n + 2);
    memcpy(line, text, n);
    line[n] = '\n', line[n + 1] = 0;
    int rc = write_text(path, line);
    free(line);
    free(text);
    return rc;
}

/* README.md as peft's save_pretrained writes it: the model-card front matter
 * (base_model, library_name peft, pipeline_tag, tags) and its "Framework
 * versions" line, with what this adapter is. An existing card is kept. */
static int write_card(const char *path, const lr_lora *a, const char *base_model) {
    if (lr_file_exists(path)) return 0;
    char targets[256] = "";
    for (int m = 0; m < LORA_N_MODULES; m++)
        if (a->cfg.targets & (1u << m))
            snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%s%s", targets[0] ? ", " : "",
                     lora_module_name(m));
    const char *b = base_model && *base_model ? base_model : "(unknown)";
    size_t cap = 4096 + 3 * strlen(b);
    char *card = xmalloc(cap);
    snprintf(card, cap,
             "---\n"
             "base_model: %s\n"
             "library_name: peft\n"
             "pipeline_tag: text-generation\n"
             "tags:\n"
             "- base_model:adapter:%s\n"
             "- lora\n"
             "- transformers\n"
             "- lightreasoner\n"
             "---\n\n"
             "# LoRA adapter for %s\n\n"
             "Trained with lightreasoner (LightReasoner: expert-amateur contrast, soft labels "
             "on the steps where the expert's and the amateur's next-token distributions diverge most).\n\n"
             "## How to use\n\n"
             "```python\n"
             "from transformers import AutoModelForCausalLM\n"
             "from peft import PeftModel\n\n"
             "base = AutoModelForCausalLM.from_pretrained(\"%s\")\n"
             "model = PeftModel.from_pretrained(base, \"path/to/this/directory\")\n"
             "```\n\n"
             "## Training details\n\n"
             "- LoRA rank r = %d, lora_alpha = %g%s, lora_dropout = %g\n"
             "- target modules: %s\n"
             "- weights: float32 (`adapter_model.safetensors`)\n\n"
             "### Framework versions\n\n"
             "- PEFT %s\n"
             "- lightreasoner %s\n",
             b, b, b, b, a->cfg.r, a->cfg.alpha, a->cfg.use_rslora ? " (rsLoRA: scale alpha / sqrt(r))" : "",
             a->cfg.dropout, targets, PEFT_VERSION, LR_VERSION);
    int rc = write_text(path, card);
    free(card);
    return rc;
}

int peft_adapter_save(const char *dir, const lr_lora *a, const char *base_model) {
    if (lr_mkdir_p(dir) != 0) return -1;
    st_write_tensor *ts = xcalloc((size_t)a->n_slots * 2, sizeof *ts);
    char (*names)[256] = xmalloc((size_t)a->n_slots * 2 * sizeof *names);
    for (int s = 0; s < a->n_slots; s++) {
        const lora_slot *sl = &a->slots[s];
        for (int w = 0; w < 2; w++) {
            st_write_tensor *t = &ts[2 * s + w];
            lora_peft_name(a, s, w, names[2 * s + w], sizeof names[0]);
            t->name = names[2 * s + w];
            t->dtype = ST_F32;
            t->ndim = 2;
            t->shape[0] = w ? sl->out : a->cfg.r;
            t->shape[1] = w ? a->cfg.r : sl->in;
            t->data = a->w + (w ? sl->b : sl->a);
        }
    }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    char *st_path = lr_path_join(dir, "adapter_model.safetensors");
    char *cfg_path = lr_path_join(dir, "adapter_config.json"), *card_path = lr_path_join(dir, "README.md");
    char *name = peft_base_model_name(base_model);
    int rc = st_write_file(st_path, ts, a->n_slots * 2, mk, mv, 1);
    if (rc == 0) rc = write_config(cfg_path, a, name);
    if (rc == 0) rc = write_card(card_path, a, name);
    free(name);
    free(st_path);
    free(cfg_path);
    free(card_path);
    free(ts);
    free(names);
    return rc;
}
