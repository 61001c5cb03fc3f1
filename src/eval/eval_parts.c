#define _POSIX_C_SOURCE 200809L
#include "eval/eval_parts.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

void eval_item_free(eval_item *it) {
    free(it->output);
    free(it->extracted);
    it->output = it->extracted = NULL;
}

char *eval_parts_chunk_path(const char *dir, long chunk) {
    char name[64];
    snprintf(name, sizeof name, "chunk-%06ld.json", chunk);
    return lr_path_join(dir, name);
}

int eval_json_write_atomic(const char *path, const cJSON *obj) {
    char *text = cJSON_PrintUnformatted(obj);
    LR_CHECK(text, "cJSON_PrintUnformatted failed");
    lr_atomic_file af;
    if (lr_atomic_open(&af, path) != 0) {
        free(text);
        return -1;
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, af.f) == n && fputc('\n', af.f) != EOF;
    free(text);
    if (!ok) {
        lr_atomic_abort(&af);
        lr_error_set(path, "write error");
        return -1;
    }
    return lr_atomic_commit(&af);
}

cJSON *eval_json_read(const char *path) {
    size_t len;
    char *text = lr_read_file(path, 1u << 30, &len);
    if (!text) return NULL;
    cJSON *obj = cJSON_ParseWithLength(text, len);
    free(text);
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        lr_error_set(path, "not a JSON object");
        return NULL;
    }
    return obj;
}

int eval_parts_write_chunk(const char *dir, long chunk, long lo, long hi, const char *fingerprint,
                           const eval_item *items) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "chunk", (double)chunk);
    cJSON_AddNumberToObject(root, "lo", (double)lo);
    cJSON_AddNumberToObject(root, "hi", (double)hi);
    cJSON_AddStringToObject(root, "fingerprint", fingerprint);
    cJSON *arr = cJSON_AddArrayToObject(root, "items");
    for (long i = 0; i < hi - lo; i++) {
        const eval_item *it = &items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)it->index);
        cJSON_AddStringToObject(o, "output", it->output ? it->output : "");
        cJSON_AddStringToObject(o, "extracted", it->extracted ? it->extracted : "");
        cJSON_AddNumberToObject(o, "method", it->method);
        cJSON_AddNumberToObject(o, "finish", it->finish);
        cJSON_AddNumberToObject(o, "n_tokens", it->n_tokens);
        cJSON_AddNumberToObject(o, "prompt_tokens", it->prompt_tokens);
        cJSON_AddItemToArray(arr, o);
    }
    char *path = eval_parts_chunk_path(dir, chunk);
    int rc = eval_json_write_atomic(path, root);
    free(path);
    cJSON_Delete(root);
    return rc;
}

static int get_long(const cJSON *o, const char *key, long *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it)) return 0;
    *v = (long)it->valuedouble;
    return 1;
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int eval_parts_read_chunk(const char *dir, long chunk, long lo, long hi, const char *fingerprint, eval_item *items) {
    char *path = eval_parts_chunk_path(dir, chunk);
    if (access(path, F_OK) != 0) {
        free(path);
        return 0;
    }
    int rc = -1;
    cJSON *root = eval_json_read(path);
    long c, l, h;
    const cJSON *arr = root ? cJSON_GetObjectItemCaseSensitive(root, "items") : NULL;
    const char *fp = root ? get_str(root, "fingerprint") : NULL;
    if (!root) goto out;
    if (!get_long(root, "chunk", &c) || !get_long(root, "lo", &l) || !get_long(root, "hi", &h) || !fp ||
        !cJSON_IsArray(arr)) {
        lr_error_set(path, "not a chunk file");
        goto out;
    }
    if (c != chunk || l != lo || h != hi || strcmp(fp, fingerprint) != 0) {
        lr_error_set(path, "made with other settings");
        goto out;
    }
    if (cJSON_GetArraySize(arr) != hi - lo) {
        lr_error_set(path, "holds %d problems, expected %ld", cJSON_GetArraySize(arr), hi - lo);
        goto out;
    }
    long i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        eval_item *it = &items[i];
        long idx, m, f, nt, pt;
        const char *outp = get_str(o, "output"), *ex = get_str(o, "extracted");
        if (!get_long(o, "index", &idx) || idx != lo + i || !outp || !ex || !get_long(o, "method", &m) ||
            !get_long(o, "finish", &f) || !get_long(o, "n_tokens", &nt) || !get_long(o, "prompt_tokens", &pt)) {
            for (long j = 0; j < i; j++) eval_item_free(&items[j]);
            lr_error_set(path, "entry %ld is malformed", i);
            goto out;
        }
        *it = (eval_item){idx, xstrdup(outp), xstrdup(ex), (int)m, (int)f, (int)nt, (int)pt};
    }
    rc = 1;
out:
    cJSON_Delete(root);
    free(path);
    return rc;
}

void eval_parts_list(const char *dir, void (*fn)(void *ctx, long chunk), void *ctx) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* exact "chunk-NNNNNN.json": temporaries (".tmp.<pid>") don't count */
        const char *n = e->d_name;
        if (strlen(n) != 17 || strncmp(n, "chunk-", 6) != 0 || strcmp(n + 12, ".json") != 0) continue;
        long k = 0;
        int digits = 1;
        for (int i = 6; i < 12; i++) {
            digits &= n[i] >= '0' && n[i] <= '9';
            k = k * 10 + (n[i] - '0');
        }
        if (digits)
            fn(ctx, k);
    }
    closedir(d);
}

int eval_parts_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : (lr_error_set(dir, "cannot open: %s", strerror(errno)), -1);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        /* only what eval puts there */
        if (strncmp(e->d_name, "chunk-", 6) != 0 && strncmp(e->d_name, "manifest.json", 13) != 0) continue;
        char *p = lr_path_join(dir, e->d_name);
        if (unlink(p) != 0) rc = -1;
        free(p);
    }
    closedir(d);
    if (rmdir(dir) != 0) rc = -1;
    if (rc) lr_error_set(dir, "cannot remove: %s", strerror(errno));
    return rc;
}
