#include "io/problems.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/hash.h"

int lr_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int len;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return 0;
        if (end - p < len) return 0;
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        p += len;
    }
    return 1;
}

/* The field as text: strings as they are, numbers printed like JSON
 * integers when integral. NULL + *why on a missing or unusable field. */
static char *field_text(const cJSON *obj, const char *name, int numbers_ok, const char **why) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!f) {
        *why = "missing";
        return NULL;
    }
    if (cJSON_IsString(f) && f->valuestring) {
        if (!lr_utf8_valid(f->valuestring, strlen(f->valuestring))) {
            *why = "not valid UTF-8";
            return NULL;
        }
        return xstrdup(f->valuestring);
    }
    if (numbers_ok && cJSON_IsNumber(f) && isfinite(f->valuedouble)) {
        char buf[64];
        double v = f->valuedouble;
        if (v == floor(v) && fabs(v) < 9.0e15) snprintf(buf, sizeof buf, "%.0f", v);
        else snprintf(buf, sizeof buf, "%.17g", v);
        return xstrdup(buf);
    }
    *why = numbers_ok ? "not a string or number" : "not a string";
    return NULL;
}

static void free_problem(lr_problem *p) {
    free(p->id);
    free(p->question);
    free(p->answer);
}

/* A NUL would cut the C string cJSON hands back, silently shortening the
 * question: refuse a raw NUL byte and a \u0000 escape (a backslash run of
 * odd length before "u0000"). NULL when clean, else what was found. */
static const char *nul_in_line(const char *line, long len) {
    if (memchr(line, 0, (size_t)len)) return "a raw NUL byte";
    for (long i = 0; i < len; i++) {
        if (line[i] != '\\') continue;
        long j = i;
        while (j < len && line[j] == '\\') j++;
        if ((j - i) % 2 == 1 && j + 5 <= len && line[j] == 'u' && !memcmp(line + j + 1, "0000", 4))
            return "a \\u0000 (NUL) escape";
        i = j - 1;
    }
    return NULL;
}

/* Parses one line into *p. 0 ok; -1 with lr_error "<path>:<line>: ..." set. */
static int parse_line(const char *path, long line_no, const char *line, long len, const lr_problem_opts *o,
                      int index, lr_problem *p) {
    char where[4200];
    snprintf(where, sizeof where, "%s:%ld", path, line_no);
    memset(p, 0, sizeof *p);
    p->line = line_no;
    const char *nul = nul_in_line(line, len);
    if (nul) {
        lr_error_set(where, "line holds %s (a string would be cut short there)", nul);
        return -1;
    }
    cJSON *obj = cJSON_ParseWithLength(line, (size_t)len);
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        lr_error_set(where, "not a JSON object");
        return -1;
    }
    const char *why = NULL;
    p->question = field_text(obj, o->question_field, 0, &why);
    if (!p->question) {
        lr_error_set(where, "field '%s' is %s", o->question_field, why);
        goto fail;
    }
    if (o->answer_field && *o->answer_field) {
        p->answer = field_text(obj, o->answer_field, 1, &why);
        if (!p->answer) {
            lr_error_set(where, "field '%s' is %s", o->answer_field, why);
            goto fail;
        }
    } else {
        p->answer = xstrdup("");
    }
    if (o->id_field && *o->id_field) {
        p->id = field_text(obj, o->id_field, 1, &why);
        if (!p->id) {
            lr_error_set(where, "field '%s' is %s", o->id_field, why);
            goto fail;
        }
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", index);
        p->id = xstrdup(buf);
    }
    cJSON_Delete(obj);
    return 0;
fail:
    cJSON_Delete(obj);
    free_problem(p);
    return -1;
}

static int is_blank(const char *s, long n) {
    for (long i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int problems_load(const char *path, const lr_problem_opts *o, lr_problem_set *out) {
    memset(out, 0, sizeof *out);
    if (lr_is_dir(path)) {
        lr_error_set(path, "is a directory, not a jsonl file");
        return -1;
    }
    lr_line_reader r;
    if (lr_lines_open(&r, path) != 0) return -1;
    int cap = 0;
    uint64_t h = LR_FNV1A64_INIT;
    char *line;
    long len;
    while ((o->max_problems <= 0 || out->n < o->max_problems) && (len = lr_lines_next(&r, &line)) >= 0) {
        h = lr_fnv1a64(h, line, (size_t)len);
        h = lr_fnv1a64(h, "\n", 1);
        if (is_blank(line, len)) continue;
        lr_problem p;
        if (parse_line(path, r.line_no, line, len, o, out->n, &p) != 0) {
            if (!o->skip_bad_lines) {
                lr_lines_close(&r);
                problems_free(out);
                return -1;
            }
            out->n_bad_lines++;
            continue;
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->items = xrealloc(out->items, (size_t)cap * sizeof *out->items);
        }
        out->items[out->n++] = p;
    }
    lr_lines_close(&r);
    out->digest = h;
    return 0;
}

void problems_free(lr_problem_set *s) {
    for (int i = 0; i < s->n; i++) free_problem(&s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}
