/* Benchmark jsonl reading with per-benchmark field conventions. */
#define _DEFAULT_SOURCE /* realpath */
#include "eval/benchmark.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

typedef struct {
    const char *name;
    const char *question_fields;
    const char *answer_field;
    answer_mode mode;
} bundled_info;

/* Field names as they appear in the vendored files (data/benchmarks/). */
static const bundled_info k_bundled[] = {
    {"gsm8k", "question", "answer", COMPARE_NUMERIC},
    {"svamp", "Body,Question", "Answer", COMPARE_NUMERIC},
    {"asdiv", "body,question", "answer", COMPARE_NUMERIC},
    {"math500", "problem", "answer", COMPARE_MATH},
};

static const bundled_info *find_bundled(const char *name) {
    for (size_t i = 0; i < sizeof k_bundled / sizeof *k_bundled; i++)
        if (!strcmp(k_bundled[i].name, name)) return &k_bundled[i];
    return NULL;
}

int eval_utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n;
        unsigned cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
        else return 0;
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

char *benchmark_bundled_path(const char *name, const char *data_dir) {
    char *cands[8];
    int n = lr_data_dir_candidates(data_dir, cands, 8);
    char *found = NULL;
    size_t tl = 1;
    for (int i = 0; i < n; i++) tl += strlen(cands[i]) + 2;
    char *tried = xcalloc(tl, 1);
    for (int i = 0; i < n; i++) {
        /* DIR may be the data directory or its benchmarks/ folder */
        static const char *const layouts[] = {"%s/benchmarks/%s/test.jsonl", "%s/%s/test.jsonl"};
        for (size_t l = 0; l < 2 && !found; l++) {
            size_t pl = strlen(cands[i]) + strlen(name) + 32;
            char *path = xmalloc(pl);
            snprintf(path, pl, layouts[l], cands[i], name);
            if (lr_file_exists(path)) {
                /* provenance: the absolute path, without "build/../" */
                char *real = realpath(path, NULL);
                found = real ? xstrdup(real) : path;
                if (real) {
                    free(real);
                    free(path);
                }
            } else free(path);
        }
        if (*tried) strcat(tried, ", ");
        strcat(tried, cands[i]);
    }
    if (!found)
        lr_error_set(name, "bundled benchmark not found (searched %s; set --data-dir or LR_DATA_DIR)",
                     *tried ? tried : "nothing");
    for (int i = 0; i < n; i++) free(cands[i]);
    free(tried);
    return found;
}

static char *trimmed_dup(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* The question: the named fields' strings joined by one space. */
static char *read_question(cJSON *obj, const char *fields, const char *where) {
    char *spec = xstrdup(fields), *save = NULL, *out = NULL;
    size_t len = 0;
    for (char *f = strtok_r(spec, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, f);
        if (!it) {
            lr_error_set(where, "missing field '%s'", f);
            goto fail;
        }
        if (!cJSON_IsString(it)) {
            lr_error_set(where, "field '%s' must be a string", f);
            goto fail;
        }
        char *part = trimmed_dup(it->valuestring);
        size_t pl = strlen(part);
        out = xrealloc(out, len + pl + 2);
        if (len) out[len++] = ' ';
        memcpy(out + len, part, pl + 1);
        len += pl;
        free(part);
    }
    free(spec);
    if (!out || !*out) {
        lr_error_set(where, "empty question");
        free(out);
        return NULL;
    }
    return out;
fail:
    free(spec);
    free(out);
    return NULL;
}

/* The gold answer text. Numbers are printed as the shortest round-trip
 * form ("145.0" in SVAMP's JSON -> "145"); a "####" marker (GSM8K) keeps
 * what follows it; a GSM8K-style answer without the marker yields "". */
static char *read_gold(cJSON *obj, const char *field, int hashes, const char *where) {
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!it) {
        lr_error_set(where, "missing field '%s'", field);
        return NULL;
    }
    if (cJSON_IsNumber(it)) {
        /* plain decimal, never "1e+02": answers are compared as written */
        double v = it->valuedouble;
        char buf[400];
        if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, sizeof buf, "%.0f", v);
        else {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, v);
                if (strtod(buf, NULL) == v) break;
            }
            if (strchr(buf, 'e')) {
                snprintf(buf, sizeof buf, "%.20f", v);
                size_t l = strlen(buf);
                while (l > 1 && buf[l - 1] == '0') buf[--l] = 0;
                if (buf[l - 1] == '.') buf[--l] = 0;
            }
        }
        return xstrdup(buf);
    }
    if (!cJSON_IsString(it)) {
        lr_error_set(where, "field '%s' must be a string or a number", field);
        return NULL;
    }
    const char *s = it->valuestring;
    const char *mark = strstr(s, "####");
    if (mark) {
        /* the last marker wins, should a solution quote one */
        for (const char *m = mark; m; m = strstr(m + 4, "####")) mark = m;
        return trimmed_dup(mark + 4);
    }
    return hashes ? xstrdup("") : trimmed_dup(s);
}

void benchmark_free(eval_benchmark *b) {
    for (long i = 0; i < b->n; i++) {
        free(b->items[i].question);
        free(b->items[i].gold);
    }
    free(b->items);
    free(b->name);
    free(b->path);
    free(b->question_fields);
    free(b->answer_field);
    memset(b, 0, sizeof *b);
}

/* "dir/foo.jsonl" -> "foo" */
static char *file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *s = xstrdup(base);
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    return s;
}

int benchmark_load(eval_benchmark *b, const eval_benchmark_opts *o) {
    memset(b, 0, sizeof *b);
    const bundled_info *info = find_bundled(o->benchmark);
    int hashes = 0;
    if (info) {
        b->path = benchmark_bundled_path(info->name, o->data_dir);
        if (!b->path) return -1;
        b->name = xstrdup(info->name);
        b->mode = info->mode;
        hashes = !strcmp(info->name, "gsm8k");
    } else {
        if (!strchr(o->benchmark, '/') && !strstr(o->benchmark, ".json") && !lr_file_exists(o->benchmark)) {
            lr_error_set(o->benchmark, "unknown benchmark (bundled: gsm8k, svamp, asdiv, math500; or a .jsonl file)");
            return -1;
        }
        b->path = xstrdup(o->benchmark);
        b->name = file_stem(o->benchmark);
        b->mode = COMPARE_NUMERIC;
    }
    b->question_fields = xstrdup(o->question_field ? o->question_field : info ? info->question_fields : "question");
    b->answer_field = xstrdup(o->answer_field ? o->answer_field : info ? info->answer_field : "answer");
    if (o->compare && strcmp(o->compare, "auto") != 0) {
        if (!strcmp(o->compare, "numeric")) b->mode = COMPARE_NUMERIC;
        else if (!strcmp(o->compare, "math")) b->mode = COMPARE_MATH;
        else {
            lr_error_set("--compare", "expected auto, numeric or math, got '%s'", o->compare);
            benchmark_free(b);
            return -1;
        }
    }

    lr_line_reader r;
    if (lr_lines_open(&r, b->path) != 0) {
        benchmark_free(b);
        return -1;
    }
    long cap = 0;
    char *line;
    long len;
    while ((len = lr_lines_next(&r, &line)) >= 0) {
        if (o->limit > 0 && b->n >= o->limit) break;
        int blank = 1;
        for (long i = 0; i < len && blank; i++) blank = isspace((unsigned char)line[i]) != 0;
        if (blank) continue;
        char where[1024];
        snprintf(where, sizeof where, "%.1000s:%ld", b->path, r.line_no);
        if (!eval_utf8_valid(line)) {
            lr_error_set(where, "invalid UTF-8");
            goto fail;
        }
        cJSON *obj = cJSON_ParseWithLength(line, (size_t)len);
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            lr_error_set(where, "not a JSON object");
            goto fail;
        }
        char *q = read_question(obj, b->question_fields, where);
        char *g = q ? read_gold(obj, b->answer_field, hashes, where) : NULL;
        cJSON_Delete(obj);
        if (!g) {
            free(q);
            goto fail;
        }
        if (b->n == cap) {
            cap = cap ? cap * 2 : 256;
            b->items = xrealloc(b->items, (size_t)cap * sizeof *b->items);
        }
        b->items[b->n++] = (eval_problem){q, g, r.line_no};
    }
    if (ferror(r.f)) {
        lr_error_set(b->path, "read error");
        goto fail;
    }
    lr_lines_close(&r);
    if (b->n == 0) {
        lr_error_set(b->path, "no problems in the file");
        benchmark_free(b);
        return -1;
    }
    return 0;
fail:
    lr_lines_close(&r);
    benchmark_free(b);
    return -1;
}
