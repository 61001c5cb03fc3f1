/* Reads the "slow" file pair vocab.json + merges.txt and sets up the
 * pipeline transformers builds for it (Qwen2Tokenizer: NFC, the Qwen2 split
 * regex, ByteLevel without its own regex; GPT2Tokenizer: ByteLevel with the
 * GPT-2 regex). Added tokens come from tokenizer_config.json (load_config.c). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tok_internal.h"

#define MAX_VOCAB_FILE (1u << 30)

const char *const LR_QWEN2_PATTERN =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

static int load_vocab_json(lr_tokenizer *t, const char *path) {
    size_t len;
    char *text = lr_read_file(path, MAX_VOCAB_FILE, &len);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        lr_error_set(path, root ? "not a JSON object" : "not valid JSON");
        cJSON_Delete(root);
        return -1;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2147483646.0 ||
            e->valuedouble != (double)(int32_t)e->valuedouble) {
            lr_error_set(path, "entry \"%s\" is not a valid token id", e->string);
            cJSON_Delete(root);
            return -1;
        }
        lr_tok_strmap_put(&t->bpe.vocab, e->string, strlen(e->string), (int32_t)e->valuedouble);
    }
    cJSON_Delete(root);
    return 0;
}

static int load_merges_txt(lr_tokenizer *t, const char *path) {
    lr_line_reader r;
    if (lr_lines_open(&r, path) != 0) return -1;
    char *line;
    long n;
    int32_t rank = 0;
    int rc = 0;
    char where[4200];
    while ((n = lr_lines_next(&r, &line)) >= 0) {
        /* As transformers reads it: a "#version" first line and blank lines
         * are skipped; every other line is two whitespace-separated tokens. */
        if (r.line_no == 1 && !strncmp(line, "#version", 8)) continue;
        char *p = line, *e = line + n;
        while (p < e && isspace((unsigned char)*p)) p++;
        while (e > p && isspace((unsigned char)e[-1])) e--;
        if (p == e) continue;
        char *a = p;
        while (p < e && !isspace((unsigned char)*p)) p++;
        size_t al = (size_t)(p - a);
        while (p < e && isspace((unsigned char)*p)) p++;
        char *b = p;
        while (p < e && !isspace((unsigned char)*p)) p++;
        size_t bl = (size_t)(p - b);
        if (!bl || p != e) {
            snprintf(where, sizeof where, "%s:%ld", path, r.line_no);
            lr_error_set(where, "expected two tokens separated by a space");
            rc = -1;
            break;
        }
        if ((rc = lr_bpe_add_merge(&t->bpe, a, al, b, bl, rank++, "%s:%ld", path, r.line_no)) != 0) break;
    }
    if (rc == 0 && ferror(r.f)) {
        lr_error_set(path, "read error");
        rc = -1;
    }
    lr_lines_close(&r);
    return rc;
}

/* tokenizer_class and add_prefix_space from tokenizer_config.json, if any. */
static int read_class(const char *dir, char *cls, size_t cap, int *add_prefix_space) {
    char *path = lr_path_join(dir, "tokenizer_config.json");
    snprintf(cls, cap, "Qwen2Tokenizer");
    *add_prefix_space = 0;
    if (!lr_file_exists(path)) {
        free(path);
        return 0;
    }
    size_t len;
    char *text = lr_read_file(path, 64u << 20, &len);
    if (!text) {
        free(path);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        lr_error_set(path, root ? "not a JSON object" : "not valid JSON");
        cJSON_Delete(root);
        free(path);
        return -1;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "tokenizer_class");
    if (cJSON_IsString(c)) snprintf(cls, cap, "%s", c->valuestring);
    *add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "add_prefix_space"));
    cJSON_Delete(root);
    free(path);
    return 0;
}

int lr_load_vocab_merges(lr_tokenizer *t, const char *dir) {
    char cls[128];
    int aps;
    if (read_class(dir, cls, sizeof cls, &aps) != 0) return -1;
    /* Transformers' fast classes may carry a "Fast" suffix. */
    size_t cl = strlen(cls);
    if (cl > 4 && !strcmp(cls + cl - 4, "Fast")) cls[cl - 4] = 0;
    int qwen = !strcmp(cls, "Qwen2Tokenizer"), gpt2 = !strcmp(cls, "GPT2Tokenizer");
    if (!qwen && !gpt2) {
        char *p = lr_path_join(dir, "tokenizer_config.json");
        lr_error_set(p, "tokenizer_class '%s' has no vocab.json + merges.txt recipe here (use tokenizer.json)", cls);
        free(p);
        return -1;
    }
    char *vp = lr_path_join(dir, "vocab.json"), *mp = lr_path_join(dir, "merges.txt");
    int rc = load_vocab_json(t, vp);
    if (rc == 0) rc = load_merges_txt(t, mp);
    free(vp);
    free(mp);
    if (rc != 0) return -1;
    if (qwen) {
        t->nfc = 1;
        if (lr_pretok_add_split(&t->pretok, LR_QWEN2_PATTERN, 0, LR_SPLIT_ISOLATED, 0, dir) != 0) return -1;
        return lr_pretok_add_bytelevel(&t->pretok, aps, 0, dir);
    }
    return lr_pretok_add_bytelevel(&t->pretok, aps, 1, dir);
}
