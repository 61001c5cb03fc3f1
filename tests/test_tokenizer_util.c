#define _POSIX_C_SOURCE 200809L
#include "test_tokenizer_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "test_util.h"

const char *tk_parse_ids(const char *s, tk_ids *out) {
    out->n = 0;
    for (;;) {
        while (*s == ' ') s++;
        if (*s < '0' || *s > '9') return s;
        char *end;
        long v = strtol(s, &end, 10);
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 256;
            out->v = realloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] = (int32_t)v;
        s = end;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

char *tk_parse_text(const char *s, size_t *len, const char **end) {
    if (!strncmp(s, "hex:", 4)) {
        s += 4;
        size_t n = 0;
        while (hexval(s[n]) >= 0) n++;
        if (n % 2) return NULL;
        char *b = malloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) b[i] = (char)(hexval(s[2 * i]) * 16 + hexval(s[2 * i + 1]));
        b[n / 2] = 0;
        *len = n / 2;
        *end = s + n;
        return b;
    }
    const char *stop = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &stop, 0);
    if (!cJSON_IsString(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    char *r = strdup(j->valuestring);
    *len = strlen(r);
    *end = stop;
    cJSON_Delete(j);
    return r;
}

char *tk_read_golden(const char *name, size_t *len) {
    char rel[512];
    snprintf(rel, sizeof rel, "tokenizer/%s", name);
    char *buf = lr_read_file(test_data_path(rel), 1u << 30, len);
    if (!buf) {
        fprintf(stderr, "cannot read golden %s\n", test_data_path(rel));
        exit(1);
    }
    return buf;
}

const char *tk_qwen2_dir(void) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tokenizers/qwen2", test_repo_data_dir());
    return buf;
}

void tk_print_text(const char *label, const char *s, size_t n) {
    fprintf(stderr, "    %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 120; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\r') fputs("\\r", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fputs(n > 120 ? "\"...\n" : "\"\n", stderr);
}

void tk_print_ids(const char *label, const int32_t *v, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", v[i]);
    fputs(n > 40 ? " ...\n" : "\n", stderr);
}

long tk_first_diff(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i == na && i == nb ? -1 : (long)i;
}

char *tk_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/lr_tok_XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup(d);
}

void tk_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

int tk_write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) != 0 || w != n ? -1 : 0;
}
