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
#include "eval/tk_bench.h"

typedef struct {
    const char *name;
    const char *question_fields;
    const char *answer_field;
    answer_mode mode;
    tk_data tk;
    int toolkit_only; /* read the toolkit's way whatever the prompt type */
    int shots;        /* the toolkit's sh/eval.sh: --num_shots 5 for the multiple-choice sets */
} bundled_info;

/* Field names as they appear in the vendored files (data/benchmarks/).
 * MATH-500 is read as the toolkit reads MATH (gold: the solution's last
 * \boxed{}). */
static const bundled_info k_bundled[] = {
    {"gsm8k", "question", "answer", COMPARE_NUMERIC, TK_GSM8K, 0, 0},
    {"svamp", "Body,Question", "Answer", COMPARE_NUMERIC, TK_SVAMP, 0, 0},
    {"asdiv", "body,question", "answer", COMPARE_NUMERIC, TK_ASDIV, 0, 0},
    {"math500", "problem", "answer", COMPARE_MATH, TK_MATH, 0, 0},
    {"minerva_math", "problem", "solution", COMPARE_TOOLKIT, TK_MINERVA, 1, 0},
    {"olympiadbench", "question", "final_answer", COMPARE_TOOLKIT, TK_OLYMPIAD, 1, 0},
    {"mmlu_stem", "question", "answer", COMPARE_TOOLKIT, TK_MMLU, 1, 5},
};

const char *const eval_paper_benchmarks[EVAL_PAPER_N] = {"gsm8k",        "math500",       "svamp",    "asdiv",
                                                         "minerva_math", "olympiadbench", "mmlu_stem"};
const char *const eval_paper_titles[EVAL_PAPER_N] = {"GSM8K",        "MATH",          "SVAMP",    "ASDiv",
                                                     "Minerva Math", "OlympiadBench", "MMLU-STEM"};

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
    for (int i = 0; i < b->n_demos; i++) {
        free(b->demo_q[i]);
        free(b->demo_a[i]);
    }
    free(b->demo_q);
    free(b->demo_a);
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

/* The toolkit's few-shot demonstrations: fewshot.jsonl next to the
 * benchmark file, {"question", "answer"} per line, the first n used. */
static int load_demos(eval_benchmark *b, int n) {
    const char *slash = strrchr(b->path, '/');
    size_t dl = slash ? (size_t)(slash - b->path) : 1;
    char *path = xmalloc(dl + 32);
    snprintf(path, dl + 32, "%.*s/fewshot.jsonl", (int)dl, slash ? b->path : ".");
    lr_line_reader r;
    if (!lr_file_exists(path)) {
        lr_error_set(path, "%d demonstrations asked for (--num-shots) but this benchmark has none", n);
        free(path);
        return -1;
    }
    if (lr_lines_open(&r, path) != 0) {
        free(path);
        return -1;
    }
    b->demo_q = xcalloc((size_t)n, sizeof *b->demo_q);
    b->demo_a = xcalloc((size_t)n, sizeof *b->demo_a);
    char *line;
    long len;
    int rc = 0;
    while (b->n_demos < n && (len = lr_lines_next(&r, &line)) >= 0) {
        if (len == 0) continue;
        cJSON *obj = cJSON_ParseWithLength(line, (size_t)len);
        cJSON *q = cJSON_GetObjectItemCaseSensitive(obj, "question"), *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
        if (!cJSON_IsString(q) || !cJSON_IsString(a)) {
            lr_error_set(path, "line %ld: expected {\"question\": ..., \"answer\": ...}", r.line_no);
            cJSON_Delete(obj);
            rc = -1;
            break;
        }
        b->demo_q[b->n_demos] = xstrdup(q->valuestring);
        b->demo_a[b->n_demos++] = xstrdup(a->valuestring);
        cJSON_Delete(obj);
    }
    lr_lines_close(&r);
    if (rc == 0 && b->n_demos < n) {
        lr_error_set(path, "%d demonstrations asked for, the file has %d", n, b->n_demos);
        rc = -1;
    }
    free(path);
    return rc;
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
        b->tk = info->tk;
        b->toolkit = o->toolkit || info->toolkit_only;
        hashes = !strcmp(info->name, "gsm8k");
    } else {
        if (!strchr(o->benchmark, '/') && !strstr(o->benchmark, ".json") && !lr_file_exists(o->benchmark)) {
            lr_error_set(o->benchmark, "unknown benchmark (bundled: gsm8k, svamp, asdiv, math500, minerva_math, "
                                       "olympiadbench, mmlu_stem, or 'paper' for all seven; or a .jsonl file)");
            return -1;
        }
        b->path = xstrdup(o->benchmark);
        b->name = file_stem(o->benchmark);
        b->mode = COMPARE_NUMERIC;
        b->tk = TK_OTHER;
        b->toolkit = o->toolkit;
    }
    if (b->toolkit) b->mode = COMPARE_TOOLKIT;
    b->question_fields = xstrdup(o->question_field ? o->question_field : info ? info->question_fields : "question");
    b->answer_field = xstrdup(o->answer_field ? o->answer_field : info ? info->answer_field : "answer");
    if (o->compare && strcmp(o->compare, "auto") != 0) {
        if (!strcmp(o->compare, "numeric")) b->mode = COMPARE_NUMERIC;
        else if (!strcmp(o->compare, "math")) b->mode = COMPARE_MATH;
        else if (!strcmp(o->compare, "toolkit")) b->mode = COMPARE_TOOLKIT;
        else {
            lr_error_set("--compare", "expected auto, numeric, math or toolkit, got '%s'", o->compare);
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
        char *q, *g;
        if (b->toolkit) {
            /* parse_ground_truth first: the question may get " (Yes or No)" */
            g = tk_gold(obj, b->tk, b->answer_field, where);
            q = g ? tk_question(obj, b->tk, b->question_fields, g, where) : NULL;
            if (!q) {
                free(g);
                g = NULL;
            }
        } else {
            q = read_question(obj, b->question_fields, where);
            g = q ? read_gold(obj, b->answer_field, hashes, where) : NULL;
        }
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
    /* demonstrations only go into the toolkit's prompt types */
    int shots = !o->toolkit ? 0 : o->num_shots >= 0 ? o->num_shots : (info ? info->shots : 0);
    if (shots > 0 && load_demos(b, shots) != 0) {
        benchmark_free(b);
        return -1;
    }
    return 0;
fail:
    lr_lines_close(&r);
    benchmark_free(b);
    return -1;
}
