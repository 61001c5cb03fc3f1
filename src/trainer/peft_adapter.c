/* PEFT adapter directory writing (peft_adapter.h); the reader is
 * model/adapter.c. */
#include "trainer/peft_adapter.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/safetensors.h"
#include "version.h"

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
