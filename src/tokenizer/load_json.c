/* Reads a Hugging Face tokenizer.json (BPE model, byte-level family). Any
 * component this project cannot reproduce exactly is refused with an error
 * naming it, rather than silently tokenizing differently from HF. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tok_internal.h"

#define MAX_TOKENIZER_JSON (1u << 30)

static int flag(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *type_of(const cJSON *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* An id in a JSON number: a non-negative integer that fits int32. */
static int id_of(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483646.0 ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    *id = (int32_t)v->valuedouble;
    return 0;
}

static int load_vocab(lr_tokenizer *t, const cJSON *vocab, const char *path) {
    if (!cJSON_IsObject(vocab)) {
        lr_error_set(path, "model.vocab is missing or not an object");
        return -1;
    }
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id;
        if (id_of(e, &id) != 0) {
            lr_error_set(path, "model.vocab[\"%s\"] is not a valid token id", e->string);
            return -1;
        }
        lr_tok_strmap_put(&t->bpe.vocab, e->string, strlen(e->string), id);
    }
    return 0;
}

static int load_merges(lr_tokenizer *t, const cJSON *merges, const char *path) {
    if (!cJSON_IsArray(merges)) {
        lr_error_set(path, "model.merges is missing or not an array");
        return -1;
    }
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(m)) { /* "a b" (older files) */
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) goto bad;
            a = m->valuestring, al = (size_t)(sp - a), b = sp + 1, bl = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) { /* ["a", "b"] */
            a = m->child->valuestring, al = strlen(a), b = m->child->next->valuestring, bl = strlen(b);
        } else goto bad;
        if (lr_bpe_add_merge(&t->bpe, a, al, b, bl, rank, "%s: model.merges[%ld]", path, (long)rank) != 0)
            return -1;
        continue;
    bad:
        lr_error_set(path, "model.merges[%ld] is neither \"a b\" nor [\"a\", \"b\"]", (long)rank);
        return -1;
    }
    return 0;
}

static int load_model(lr_tokenizer *t, const cJSON *model, const char *path) {
    if (!cJSON_IsObject(model)) {
        lr_error_set(path, "no \"model\" object");
        return -1;
    }
    const char *type = type_of(model);
    if (*type && strcmp(type, "BPE") != 0) {
        lr_error_set(path, "model type '%s' is not supported (only BPE)", type);
        return -1;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (v && !cJSON_IsNull(v)) {
        lr_error_set(path, "BPE dropout is not supported");
        return -1;
    }
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !*v->valuestring)) {
            lr_error_set(path, "BPE %s is not supported", affixes[i]);
            return -1;
        }
    }
    if (flag(model, "byte_fallback", 0)) {
        lr_error_set(path, "BPE byte_fallback is not supported (byte-level tokenizers only)");
        return -1;
    }
    t->bpe.ignore_merges = flag(model, "ignore_merges", 0);
    t->bpe.fuse_unk = flag(model, "fuse_unk", 0);
    if (load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), path) != 0) return -1;
    v = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(v)) t->bpe.unk_id = lr_tok_strmap_get(&t->bpe.vocab, v->valuestring, strlen(v->valuestring));
    return load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), path);
}

static int load_added(lr_tokenizer *t, const cJSON *added, const char *path) {
    if (!added || cJSON_IsNull(added)) return 0;
    if (!cJSON_IsArray(added)) {
        lr_error_set(path, "added_tokens is not an array");
        return -1;
    }
    int i = 0;
    for (const cJSON *a = added->child; a; a = a->next, i++) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        int32_t id;
        if (!cJSON_IsString(c) || id_of(cJSON_GetObjectItemCaseSensitive(a, "id"), &id) != 0) {
            lr_error_set(path, "added_tokens[%d] needs a string \"content\" and an integer \"id\"", i);
            return -1;
        }
        /* HF ignores the id written in the file: each token gets the id its
         * content already has (added or in the vocabulary), else the next
         * free one, and HF only warns when that differs. So do we. */
        int32_t hf_id = lr_added_next_id(t, c->valuestring);
        if (hf_id != id)
            lr_warn("%s: added token '%s' is listed with id %ld but gets id %ld (as in Hugging Face)", path,
                    c->valuestring, (long)id, (long)hf_id);
        int special = flag(a, "special", 0);
        lr_added_add(&t->added, c->valuestring, hf_id, special, flag(a, "lstrip", 0), flag(a, "rstrip", 0),
                     flag(a, "single_word", 0), flag(a, "normalized", !special));
    }
    return 0;
}

static int load_normalizer(lr_tokenizer *t, const cJSON *n, const char *path) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = type_of(n);
    if (!strcmp(type, "NFC")) {
        t->nfc = 1;
        return 0;
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next)
            if (load_normalizer(t, e, path) != 0) return -1;
        return 0;
    }
    lr_error_set(path, "normalizer '%s' is not supported (only NFC)", type);
    return -1;
}

static int load_pretok_one(lr_tokenizer *t, const cJSON *p, const char *path) {
    const char *type = type_of(p);
    if (!strcmp(type, "ByteLevel"))
        return lr_pretok_add_bytelevel(&t->pretok, flag(p, "add_prefix_space", 1), flag(p, "use_regex", 1), path);
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        static const char *const names[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext",
                                            "Contiguous"};
        int b = -1;
        for (int i = 0; i < 5 && cJSON_IsString(beh); i++)
            if (!strcmp(beh->valuestring, names[i])) b = i;
        if ((!cJSON_IsString(re) && !cJSON_IsString(lit)) || b < 0) {
            lr_error_set(path, "Split pre-tokenizer needs pattern.Regex or pattern.String and a known behavior");
            return -1;
        }
        return lr_pretok_add_split(&t->pretok, cJSON_IsString(re) ? re->valuestring : lit->valuestring,
                                   !cJSON_IsString(re), (lr_split_behavior)b, flag(p, "invert", 0), path);
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) {
            lr_error_set(path, "Sequence pre-tokenizer without a \"pretokenizers\" array");
            return -1;
        }
        for (const cJSON *e = list->child; e; e = e->next)
            if (load_pretok_one(t, e, path) != 0) return -1;
        return 0;
    }
    lr_error_set(path, "pre-tokenizer '%s' is not supported (Split, ByteLevel, Sequence)", type);
    return -1;
}

static int check_decoder(const cJSON *d, const char *path) {
    const char *type = type_of(d);
    if (!strcmp(type, "ByteLevel")) return 0;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (cJSON_GetArraySize(list) == 1) return check_decoder(list->child, path);
    }
    lr_error_set(path, "decoder '%s' is not supported (only ByteLevel)", d ? type : "null");
    return -1;
}

int lr_load_tokenizer_json(lr_tokenizer *t, const char *path) {
    size_t len;
    char *text = lr_read_file(path, MAX_TOKENIZER_JSON, &len);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        lr_error_set(path, "not valid JSON (error near byte %ld)", off);
        free(text);
        return -1;
    }
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        lr_error_set(path, "not a JSON object");
        goto out;
    }
    if (load_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), path) != 0) goto out;
    if (load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path) != 0) goto out;
    if (load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path) != 0) goto out;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre) && load_pretok_one(t, pre, path) != 0) goto out;
    /* BPE here works on bytes, which is what HF does only when ByteLevel is
     * the last pre-tokenizer (a Split after it would see mapped text). */
    if (t->pretok.bytelevel_at == 0 || t->pretok.bytelevel_at != t->pretok.n) {
        lr_error_set(path, "pre_tokenizer must end with ByteLevel (byte-level BPE tokenizers only)");
        goto out;
    }
    if (check_decoder(cJSON_GetObjectItemCaseSensitive(root, "decoder"), path) != 0) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}
