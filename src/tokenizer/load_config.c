/* tokenizer_config.json (+ added_tokens.json, special_tokens_map.json,
 * chat_template.jinja): the added tokens of the vocab.json source, the EOS
 * token and the chat template. All of these files are optional. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tok_internal.h"

#define MAX_CONFIG (64u << 20)

/* Parses dir/name; *root = NULL (and 0) when the file does not exist. */
static int read_json(const char *dir, const char *name, cJSON **root) {
    *root = NULL;
    char *path = lr_path_join(dir, name);
    if (!lr_file_exists(path)) {
        free(path);
        return 0;
    }
    size_t len;
    char *text = lr_read_file(path, MAX_CONFIG, &len);
    if (!text) {
        free(path);
        return -1;
    }
    *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(*root)) {
        lr_error_set(path, *root ? "not a JSON object" : "not valid JSON");
        cJSON_Delete(*root);
        *root = NULL;
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

/* A token field: "text" or {"content": "text", ...}. */
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int flag(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* Marks (or adds, with the next free id, as HF does) a special token. */
static void ensure_special(lr_tokenizer *t, const char *content) {
    if (!content || !*content) return;
    const lr_added_token *a = lr_added_by_content(&t->added, content, strlen(content));
    if (a) {
        if (!a->special)
            lr_added_add(&t->added, content, a->id, 1, a->lstrip, a->rstrip, a->single_word, a->normalized);
        return;
    }
    lr_added_add(&t->added, content, lr_added_next_id(t, content), 1, 0, 0, 0, 0);
}

static const char *const SPECIAL_FIELDS[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                             "pad_token", "cls_token", "mask_token"};

static void specials_of(lr_tokenizer *t, const cJSON *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < sizeof SPECIAL_FIELDS / sizeof *SPECIAL_FIELDS; i++)
        ensure_special(t, token_text(cJSON_GetObjectItemCaseSensitive(cfg, SPECIAL_FIELDS[i])));
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    for (const cJSON *e = cJSON_IsArray(extra) ? extra->child : NULL; e; e = e->next) ensure_special(t, token_text(e));
}

static int add_tokens_from(lr_tokenizer *t, const char *dir, const cJSON *cfg) {
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    char *cpath = lr_path_join(dir, "tokenizer_config.json");
    for (const cJSON *e = cJSON_IsObject(dec) ? dec->child : NULL; e; e = e->next) {
        char *end;
        long id = strtol(e->string, &end, 10);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (*end || end == e->string || id < 0 || id > 2147483646L || !cJSON_IsString(c)) {
            lr_error_set(cpath, "added_tokens_decoder entry \"%s\" needs an integer key and a string content", e->string);
            free(cpath);
            return -1;
        }
        int special = flag(e, "special", 0);
        lr_added_add(&t->added, c->valuestring, (int32_t)id, special, flag(e, "lstrip", 0), flag(e, "rstrip", 0),
                     flag(e, "single_word", 0), flag(e, "normalized", !special));
    }
    free(cpath);

    cJSON *at, *stm;
    if (read_json(dir, "added_tokens.json", &at) != 0) return -1;
    if (read_json(dir, "special_tokens_map.json", &stm) != 0) {
        cJSON_Delete(at);
        return -1;
    }
    /* Tokens only listed in added_tokens.json: special when a special-token
     * field names them (resolved below), otherwise plain added tokens. */
    for (const cJSON *e = at ? at->child : NULL; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2147483646.0) {
            char *p = lr_path_join(dir, "added_tokens.json");
            lr_error_set(p, "entry \"%s\" is not a valid token id", e->string);
            free(p);
            cJSON_Delete(at);
            cJSON_Delete(stm);
            return -1;
        }
        if (!lr_added_by_content(&t->added, e->string, strlen(e->string)))
            lr_added_add(&t->added, e->string, (int32_t)e->valuedouble, 0, 0, 0, 0, 1);
    }
    specials_of(t, cfg);
    specials_of(t, stm);
    cJSON_Delete(at);
    cJSON_Delete(stm);
    return 0;
}

static int load_template(lr_tokenizer *t, const char *dir, const cJSON *cfg) {
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *src = NULL;
    if (cJSON_IsString(ct)) src = ct->valuestring;
    for (const cJSON *e = cJSON_IsArray(ct) ? ct->child : NULL; e; e = e->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(e, "template");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, "default") && cJSON_IsString(tpl))
            src = tpl->valuestring;
    }
    if (src) {
        t->chat_template = xstrdup(src);
    } else { /* newer checkpoints keep it in its own file */
        char *p = lr_path_join(dir, "chat_template.jinja");
        if (lr_file_exists(p)) {
            size_t len;
            t->chat_template = lr_read_file(p, MAX_CONFIG, &len);
            if (!t->chat_template) {
                free(p);
                return -1;
            }
        }
        free(p);
    }
    if (t->chat_template) t->default_system = lr_chat_default_system(t->chat_template);
    static const char *const names[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    for (int i = 0; i < 4; i++) {
        const char *v = token_text(cJSON_GetObjectItemCaseSensitive(cfg, names[i]));
        free(t->special_text[i]);
        t->special_text[i] = v ? xstrdup(v) : NULL;
    }
    return 0;
}

/* Field types HF would choke on are input errors, not silent defaults:
 * special-token fields are null, a string or {"content": string}; the chat
 * template is null, a string or a list of {"name", "template"} objects. */
static int check_types(const char *dir, const cJSON *cfg) {
    char *path = lr_path_join(dir, "tokenizer_config.json");
    int rc = -1;
    for (size_t i = 0; i < sizeof SPECIAL_FIELDS / sizeof *SPECIAL_FIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, SPECIAL_FIELDS[i]);
        if (v && !cJSON_IsNull(v) && !token_text(v)) {
            lr_error_set(path, "%s is not a string or {\"content\": string}", SPECIAL_FIELDS[i]);
            goto out;
        }
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (ct && !cJSON_IsNull(ct) && !cJSON_IsString(ct)) {
        int ok = cJSON_IsArray(ct);
        for (const cJSON *e = ok ? ct->child : NULL; e && ok; e = e->next)
            ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "name")) &&
                 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "template"));
        if (!ok) {
            lr_error_set(path, "chat_template is not a string or a list of {\"name\", \"template\"} objects");
            goto out;
        }
    }
    rc = 0;
out:
    free(path);
    return rc;
}

int lr_load_tokenizer_config(lr_tokenizer *t, const char *dir, int add_tokens) {
    cJSON *cfg;
    if (read_json(dir, "tokenizer_config.json", &cfg) != 0) return -1;
    if (cfg && check_types(dir, cfg) != 0) {
        cJSON_Delete(cfg);
        return -1;
    }
    int rc = 0;
    if (add_tokens) rc = add_tokens_from(t, dir, cfg);
    if (rc == 0 && cfg) rc = load_template(t, dir, cfg);
    if (rc == 0 && !cfg) {
        cJSON *empty = cJSON_CreateObject();
        rc = load_template(t, dir, empty);
        cJSON_Delete(empty);
    }
    if (rc == 0 && cfg) {
        const char *eos = token_text(cJSON_GetObjectItemCaseSensitive(cfg, "eos_token"));
        if (eos) t->eos_id = tokenizer_token_id(t, eos);
        if (eos && t->eos_id < 0) { /* generation would never stop on it */
            char *path = lr_path_join(dir, "tokenizer_config.json");
            lr_error_set(path, "eos_token '%.200s' is not a token of the tokenizer", eos);
            free(path);
            rc = -1;
        }
    }
    cJSON_Delete(cfg);
    return rc;
}
