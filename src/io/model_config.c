/* config.json / generation_config.json of a Hugging Face model directory.
 *
 * Accepts what transformers 4.x and 5.x write: rope settings either as the
 * legacy top-level rope_theta + rope_scaling or as 5.x's rope_parameters,
 * dtype as torch_dtype or dtype, token ids as int, list or null. Anything we
 * would silently compute differently from transformers (another rope type,
 * activation, sliding-window attention) is refused with the key named. */
#include "io/model_config.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

#define CONFIG_MAX_BYTES (16u << 20)

/* ------------------------------------------------------------- helpers */

/* A key that is absent or JSON null counts as not given. */
static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return it && !cJSON_IsNull(it) ? it : NULL;
}

/* A short rendering of a bad value for error messages. */
static void show(const cJSON *it, char *buf, size_t cap) {
    char *s = cJSON_PrintUnformatted(it);
    snprintf(buf, cap, "%s", s ? s : "?");
    if (s && strlen(s) >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    free(s);
}

static int bad(const char *path, const char *key, const cJSON *it, const char *want) {
    char v[64];
    show(it, v, sizeof v);
    lr_error_set(path, "'%s' must be %s (got %s)", key, want, v);
    return -1;
}

static int is_int(const cJSON *it) {
    return cJSON_IsNumber(it) && isfinite(it->valuedouble) && it->valuedouble == floor(it->valuedouble) &&
           it->valuedouble >= INT_MIN && it->valuedouble <= INT_MAX;
}

/* A key that is not there: an error when required, else 0 (the default applies). */
static int absent(const char *path, const char *key, int required) {
    if (!required) return 0;
    lr_error_set(path, "missing required key '%s'", key);
    return -1;
}

/* Positive integer; `dflt` when absent unless required. */
static int get_pos_int(const char *path, const cJSON *o, const char *key, int required, int dflt, int *out) {
    const cJSON *it = get(o, key);
    if (!it) {
        *out = dflt;
        return absent(path, key, required);
    }
    if (!is_int(it) || it->valuedouble <= 0) return bad(path, key, it, "a positive integer");
    *out = (int)it->valuedouble;
    return 0;
}

/* Finite number > 0 (or >= 0 when allow_zero); `dflt` when absent. */
static int get_pos_num(const char *path, const cJSON *o, const char *key, int required, double dflt, int allow_zero,
                       double *out) {
    const cJSON *it = get(o, key);
    if (!it) {
        *out = dflt;
        return absent(path, key, required);
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0 ||
        (!allow_zero && it->valuedouble == 0))
        return bad(path, key, it, allow_zero ? "a non-negative number" : "a positive number");
    *out = it->valuedouble;
    return 0;
}

static int get_bool(const char *path, const cJSON *o, const char *key, int dflt, int *out) {
    const cJSON *it = get(o, key);
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(it)) return bad(path, key, it, "true or false");
    *out = cJSON_IsTrue(it);
    return 0;
}

/* Optional string into a fixed buffer; `dflt` when absent. */
static int get_str(const char *path, const cJSON *o, const char *key, const char *dflt, char *out, size_t cap) {
    const cJSON *it = get(o, key);
    if (!it) {
        snprintf(out, cap, "%s", dflt);
        return 0;
    }
    if (!cJSON_IsString(it)) return bad(path, key, it, "a string");
    if (strlen(it->valuestring) >= cap) return bad(path, key, it, "a known short name");
    snprintf(out, cap, "%s", it->valuestring);
    return 0;
}

/* A token id: non-negative integer below vocab (vocab <= 0: unchecked). */
static int token_id(const char *path, const char *key, const cJSON *it, int vocab, int *out) {
    if (!is_int(it) || it->valuedouble < 0) return bad(path, key, it, "a non-negative token id, a list of them or null");
    if (vocab > 0 && it->valuedouble >= vocab) {
        lr_error_set(path, "'%s' token id %d is outside the vocabulary (vocab_size %d)", key, (int)it->valuedouble,
                     vocab);
        return -1;
    }
    *out = (int)it->valuedouble;
    return 0;
}

/* Single id or null -> -1. */
static int get_single_id(const char *path, const cJSON *o, const char *key, int vocab, int *out) {
    const cJSON *it = get(o, key);
    *out = -1;
    return it ? token_id(path, key, it, vocab, out) : 0;
}

/* eos_token_id: an id, a list of ids, or null. */
static int get_id_list(const char *path, const cJSON *o, const char *key, int vocab, int *ids, int *n) {
    const cJSON *it = get(o, key);
    *n = 0;
    if (!it) return 0;
    if (!cJSON_IsArray(it)) {
        if (token_id(path, key, it, vocab, &ids[0]) != 0) return -1;
        *n = 1;
        return 0;
    }
    if (cJSON_GetArraySize(it) > LR_MAX_EOS) {
        lr_error_set(path, "'%s' lists %d ids, at most %d are supported", key, cJSON_GetArraySize(it), LR_MAX_EOS);
        return -1;
    }
    for (const cJSON *e = it->child; e; e = e->next) {
        int id;
        if (token_id(path, key, e, vocab, &id) != 0) return -1;
        int dup = 0;
        for (int k = 0; k < *n; k++) dup |= ids[k] == id;
        if (!dup) ids[(*n)++] = id;
    }
    return 0;
}

static cJSON *load_json_object(const char *path) {
    size_t len;
    char *text = lr_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        /* report a line number: config files are edited by hand */
        int line = 1;
        for (const char *p = text; end && p < end && p < text + len; p++) line += *p == '\n';
        lr_error_set(path, "not valid JSON (error near line %d)", line);
    } else if (!cJSON_IsObject(root)) {
        lr_error_set(path, "not a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    return root;
}

/* ---------------------------------------------------------------- rope */

/* A required positive number inside the rope dict, named "dict.key" in errors. */
static int rope_num(const char *path, const cJSON *dict, const char *dict_key, const char *name, double *out) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", dict_key, name);
    const cJSON *it = get(dict, name);
    if (!it) {
        lr_error_set(path, "missing required key '%s' for this rope type", key);
        return -1;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble <= 0)
        return bad(path, key, it, "a positive number");
    *out = it->valuedouble;
    return 0;
}

static int parse_rope(const char *path, const cJSON *root, lr_model_config *c) {
    /* transformers 5 folds rope_theta into rope_parameters; 4.x keeps it at
     * the top level next to an optional rope_scaling dict. */
    const cJSON *rp = get(root, "rope_parameters");
    const char *dict_key = rp ? "rope_parameters" : "rope_scaling";
    const cJSON *dict = rp ? rp : get(root, "rope_scaling");
    if (dict && !cJSON_IsObject(dict)) return bad(path, dict_key, dict, "an object or null");
    if (get_pos_num(path, root, "rope_theta", 0, 10000.0, 0, &c->rope_theta) != 0) return -1;
    if (rp && get_pos_num(path, rp, "rope_theta", 0, c->rope_theta, 0, &c->rope_theta) != 0) return -1;
    c->rope_type = ROPE_DEFAULT;
    c->rope_factor = 1.0;
    c->rope_low_freq_factor = c->rope_high_freq_factor = 0;
    c->rope_original_max_position = 0;
    if (!dict) return 0;
    const cJSON *ty = get(dict, "rope_type");
    if (!ty) ty = get(dict, "type"); /* older spelling */
    if (!ty) return 0;
    if (!cJSON_IsString(ty)) return bad(path, "rope_type", ty, "a string");
    const char *t = ty->valuestring;
    if (!strcmp(t, "default")) return 0;
    if (!strcmp(t, "linear")) {
        c->rope_type = ROPE_LINEAR;
        return rope_num(path, dict, dict_key, "factor", &c->rope_factor);
    }
    if (!strcmp(t, "llama3")) {
        c->rope_type = ROPE_LLAMA3;
        if (rope_num(path, dict, dict_key, "factor", &c->rope_factor) ||
            rope_num(path, dict, dict_key, "low_freq_factor", &c->rope_low_freq_factor) ||
            rope_num(path, dict, dict_key, "high_freq_factor", &c->rope_high_freq_factor))
            return -1;
        char key[64];
        snprintf(key, sizeof key, "%s.original_max_position_embeddings", dict_key);
        const cJSON *it = get(dict, "original_max_position_embeddings");
        if (!it) {
            lr_error_set(path, "missing required key '%s' for %s rope", key, t);
            return -1;
        }
        if (!is_int(it) || it->valuedouble <= 0) return bad(path, key, it, "a positive integer");
        c->rope_original_max_position = (int)it->valuedouble;
        /* the llama3 ramp divides by (high - low) */
        if (c->rope_high_freq_factor <= c->rope_low_freq_factor) {
            lr_error_set(path, "'%s.high_freq_factor' (%g) must exceed low_freq_factor (%g)", dict_key,
                         c->rope_high_freq_factor, c->rope_low_freq_factor);
            return -1;
        }
        return 0;
    }
    lr_error_set(path, "'%s' rope type '%.40s' is not supported (supported: default, linear, llama3)", dict_key, t);
    return -1;
}

/* -------------------------------------------------------------- config */

static int parse_config(const char *path, const cJSON *root, lr_model_config *c) {
    memset(c, 0, sizeof *c);
    const cJSON *mt = get(root, "model_type");
    if (!mt) {
        lr_error_set(path, "missing required key 'model_type'");
        return -1;
    }
    if (!cJSON_IsString(mt)) return bad(path, "model_type", mt, "a string");
    int qwen2 = !strcmp(mt->valuestring, "qwen2"), llama = !strcmp(mt->valuestring, "llama");
    if (!qwen2 && !llama) {
        lr_error_set(path, "model_type '%.40s' is not supported (supported: qwen2, llama)", mt->valuestring);
        return -1;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);

    if (get_pos_int(path, root, "hidden_size", 1, 0, &c->hidden_size) ||
        get_pos_int(path, root, "num_hidden_layers", 1, 0, &c->n_layers) ||
        get_pos_int(path, root, "num_attention_heads", 1, 0, &c->n_heads) ||
        get_pos_int(path, root, "num_key_value_heads", 0, c->n_heads, &c->n_kv_heads) ||
        get_pos_int(path, root, "intermediate_size", 1, 0, &c->intermediate_size) ||
        get_pos_int(path, root, "vocab_size", 1, 0, &c->vocab_size) ||
        /* transformers' defaults when the key is absent */
        get_pos_int(path, root, "max_position_embeddings", 0, qwen2 ? 32768 : 2048, &c->max_position_embeddings))
        return -1;
    if (c->n_heads % c->n_kv_heads != 0) {
        lr_error_set(path, "'num_attention_heads' (%d) is not a multiple of 'num_key_value_heads' (%d)", c->n_heads,
                     c->n_kv_heads);
        return -1;
    }
    if (get(root, "head_dim")) {
        if (get_pos_int(path, root, "head_dim", 1, 0, &c->head_dim) != 0) return -1;
    } else {
        if (c->hidden_size % c->n_heads != 0) {
            lr_error_set(path, "'hidden_size' (%d) is not divisible by 'num_attention_heads' (%d) and no 'head_dim' is given",
                         c->hidden_size, c->n_heads);
            return -1;
        }
        c->head_dim = c->hidden_size / c->n_heads;
    }
    if (c->head_dim % 2 != 0) { /* rotary embedding rotates pairs */
        lr_error_set(path, "head dimension %d must be even for rotary embeddings", c->head_dim);
        return -1;
    }
    if (get_pos_num(path, root, "rms_norm_eps", 0, 1e-6, 0, &c->rms_norm_eps) != 0) return -1;
    if (parse_rope(path, root, c) != 0) return -1;
    if (get_bool(path, root, "tie_word_embeddings", 0, &c->tie_word_embeddings) != 0) return -1;
    if (qwen2) {
        /* Qwen2Attention: q/k/v always carry a bias, o_proj never; MLP none. */
        c->attention_bias = 1;
        c->o_proj_bias = 0;
        c->mlp_bias = 0;
    } else {
        if (get_bool(path, root, "attention_bias", 0, &c->attention_bias) != 0 ||
            get_bool(path, root, "mlp_bias", 0, &c->mlp_bias) != 0)
            return -1;
        c->o_proj_bias = c->attention_bias;
    }
    if (get_str(path, root, "hidden_act", "silu", c->hidden_act, sizeof c->hidden_act) != 0) return -1;
    if (strcmp(c->hidden_act, "silu") != 0) {
        lr_error_set(path, "'hidden_act' '%s' is not supported (only silu)", c->hidden_act);
        return -1;
    }
    /* transformers 5 writes "dtype", 4.x "torch_dtype"; empty when neither */
    const char *dkey = get(root, "dtype") ? "dtype" : "torch_dtype";
    if (get_str(path, root, dkey, "", c->torch_dtype, sizeof c->torch_dtype) != 0) return -1;

    /* Sliding-window attention changes the result; refuse rather than
     * compute something transformers would not. */
    int sw = 0;
    if (get_bool(path, root, "use_sliding_window", 0, &sw) != 0) return -1;
    if (sw) {
        lr_error_set(path, "'use_sliding_window' is true: sliding-window attention is not supported");
        return -1;
    }
    const cJSON *lt = get(root, "layer_types");
    if (lt) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
            return bad(path, "layer_types", lt, "a list with one entry per layer");
        for (const cJSON *e = lt->child; e; e = e->next)
            if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention") != 0) {
                lr_error_set(path, "'layer_types' entry %s is not supported (only \"full_attention\")",
                             cJSON_IsString(e) ? e->valuestring : "(not a string)");
                return -1;
            }
    }
    if (get_single_id(path, root, "bos_token_id", c->vocab_size, &c->bos_token_id) != 0 ||
        get_id_list(path, root, "eos_token_id", c->vocab_size, c->eos_token_ids, &c->n_eos) != 0)
        return -1;
    return 0;
}

int model_config_load(lr_model_config *c, const char *path) {
    cJSON *root = load_json_object(path);
    if (!root) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    int rc = parse_config(path, root, c);
    cJSON_Delete(root);
    return rc;
}

/* --------------------------------------------------- generation config */

static void generation_defaults(lr_generation_config *g) {
    memset(g, 0, sizeof *g);
    g->bos_token_id = g->pad_token_id = -1;
    g->temperature = 1.0; /* transformers GenerationConfig defaults */
    g->top_p = 1.0;
    g->top_k = 50;
    g->repetition_penalty = 1.0;
    g->max_new_tokens = -1;
}

static int parse_generation(const char *path, const cJSON *root, lr_generation_config *g, int vocab) {
    if (get_single_id(path, root, "bos_token_id", vocab, &g->bos_token_id) != 0 ||
        get_single_id(path, root, "pad_token_id", vocab, &g->pad_token_id) != 0 ||
        get_id_list(path, root, "eos_token_id", vocab, g->eos_token_ids, &g->n_eos) != 0 ||
        get_bool(path, root, "do_sample", 0, &g->do_sample) != 0 ||
        get_pos_num(path, root, "temperature", 0, 1.0, 1, &g->temperature) != 0 ||
        get_pos_num(path, root, "top_p", 0, 1.0, 0, &g->top_p) != 0 ||
        get_pos_num(path, root, "repetition_penalty", 0, 1.0, 0, &g->repetition_penalty) != 0)
        return -1;
    if (g->top_p > 1.0) return bad(path, "top_p", get(root, "top_p"), "in (0, 1]");
    const cJSON *it = get(root, "top_k");
    if (it) {
        if (!is_int(it) || it->valuedouble < 0) return bad(path, "top_k", it, "a non-negative integer");
        g->top_k = (int)it->valuedouble;
    }
    it = get(root, "max_new_tokens");
    if (it) {
        if (!is_int(it) || it->valuedouble < 0) return bad(path, "max_new_tokens", it, "a non-negative integer");
        g->max_new_tokens = (int)it->valuedouble;
    }
    return 0;
}

static int generation_load_vocab(lr_generation_config *g, const char *path, int vocab) {
    generation_defaults(g);
    if (!lr_file_exists(path)) {
        if (lr_is_dir(path)) {
            lr_error_set(path, "is a directory, expected generation_config.json");
            return -1;
        }
        return 0;
    }
    cJSON *root = load_json_object(path);
    if (!root) return -1;
    g->present = 1;
    int rc = parse_generation(path, root, g, vocab);
    cJSON_Delete(root);
    return rc;
}

int generation_config_load(lr_generation_config *g, const char *path) { return generation_load_vocab(g, path, 0); }

int model_config_load_dir(lr_model_config *c, lr_generation_config *g, const char *dir) {
    char *cp = lr_path_join(dir, "config.json"), *gp = lr_path_join(dir, "generation_config.json");
    int rc = -1;
    if (model_config_load(c, cp) != 0 || generation_load_vocab(g, gp, c->vocab_size) != 0) goto out;
    /* Generation stops at any EOS either file names; generation_config's
     * come first because transformers' generate() reads that file. */
    int ids[2 * LR_MAX_EOS], n = 0;
    for (int k = 0; k < g->n_eos; k++) ids[n++] = g->eos_token_ids[k];
    for (int k = 0; k < c->n_eos; k++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= ids[j] == c->eos_token_ids[k];
        if (!dup) ids[n++] = c->eos_token_ids[k];
    }
    if (n > LR_MAX_EOS) {
        lr_error_set(dir, "config.json and generation_config.json together name %d EOS ids, at most %d are supported", n,
                     LR_MAX_EOS);
        goto out;
    }
    memcpy(c->eos_token_ids, ids, (size_t)n * sizeof(int));
    memcpy(g->eos_token_ids, ids, (size_t)n * sizeof(int));
    c->n_eos = g->n_eos = n;
    if (c->bos_token_id < 0) c->bos_token_id = g->bos_token_id;
    rc = 0;
out:
    free(cp);
    free(gp);
    return rc;
}

/* ---------------------------------------------------------------- print */

static const char *rope_name(lr_rope_type t) {
    return t == ROPE_LLAMA3 ? "llama3" : t == ROPE_LINEAR ? "linear" : "default";
}

static void print_ids(FILE *f, const int *ids, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fputc(']', f);
}

void model_config_print(FILE *f, const lr_model_config *c, const lr_generation_config *g) {
    fprintf(f, "model_type: %s\n", c->model_type);
    fprintf(f, "hidden_size: %d\n", c->hidden_size);
    fprintf(f, "num_hidden_layers: %d\n", c->n_layers);
    fprintf(f, "num_attention_heads: %d\n", c->n_heads);
    fprintf(f, "num_key_value_heads: %d\n", c->n_kv_heads);
    fprintf(f, "head_dim: %d\n", c->head_dim);
    fprintf(f, "intermediate_size: %d\n", c->intermediate_size);
    fprintf(f, "vocab_size: %d\n", c->vocab_size);
    fprintf(f, "max_position_embeddings: %d\n", c->max_position_embeddings);
    fprintf(f, "rms_norm_eps: %g\n", c->rms_norm_eps);
    fprintf(f, "rope_theta: %g\n", c->rope_theta);
    fprintf(f, "rope_type: %s\n", rope_name(c->rope_type));
    if (c->rope_type != ROPE_DEFAULT) fprintf(f, "rope_factor: %g\n", c->rope_factor);
    if (c->rope_type == ROPE_LLAMA3)
        fprintf(f, "rope_low_freq_factor: %g\nrope_high_freq_factor: %g\nrope_original_max_position_embeddings: %d\n",
                c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max_position);
    fprintf(f, "tie_word_embeddings: %s\n", c->tie_word_embeddings ? "true" : "false");
    fprintf(f, "qkv_bias: %s\n", c->attention_bias ? "true" : "false");
    fprintf(f, "o_proj_bias: %s\n", c->o_proj_bias ? "true" : "false");
    fprintf(f, "mlp_bias: %s\n", c->mlp_bias ? "true" : "false");
    fprintf(f, "hidden_act: %s\n", c->hidden_act);
    fprintf(f, "dtype: %s\n", c->torch_dtype[0] ? c->torch_dtype : "(unset)");
    fprintf(f, "bos_token_id: %d\n", c->bos_token_id);
    fprintf(f, "eos_token_ids: ");
    print_ids(f, c->eos_token_ids, c->n_eos);
    fputc('\n', f);
    if (!g) return;
    if (!g->present) {
        fprintf(f, "generation_config: absent (defaults)\n");
        return;
    }
    fprintf(f, "generation.bos_token_id: %d\n", g->bos_token_id);
    fprintf(f, "generation.pad_token_id: %d\n", g->pad_token_id);
    fprintf(f, "generation.do_sample: %s\n", g->do_sample ? "true" : "false");
    fprintf(f, "generation.temperature: %g\n", g->temperature);
    fprintf(f, "generation.top_p: %g\n", g->top_p);
    fprintf(f, "generation.top_k: %d\n", g->top_k);
    fprintf(f, "generation.repetition_penalty: %g\n", g->repetition_penalty);
    fprintf(f, "generation.max_new_tokens: %d\n", g->max_new_tokens);
}
