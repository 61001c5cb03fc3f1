/* Sweep specs (sweep_spec.h). */
#include "sweep/sweep_spec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

typedef struct {
    const char *key, *flag, *stage; /* stage: "select" or "train" */
    int integer;                    /* the flag takes an integer */
    double lo, hi;                  /* the flag's valid range */
} key_info;

static const key_info KEYS[] = {
    {"alpha", "--alpha", "select", 0, 1e-12, 1},   {"beta", "--beta", "select", 0, -1e9, 1e9},
    {"lr", "--lr", "train", 0, 0, 10},             {"seed", "--seed", "train", 1, 0, 9e15},
    {"max_steps", "--max-steps", "train", 1, 1, 1e12}, {"lora_r", "--lora-r", "train", 1, 1, 4096},
    {"lora_alpha", "--lora-alpha", "train", 0, 0, 1e6}, {"dropout", "--dropout", "train", 0, 0, 1},
    {"weight_decay", "--weight-decay", "train", 0, 0, 10}, {"micro_batch", "--micro-batch", "train", 1, 1, 1e6},
    {"grad_accum", "--grad-accum", "train", 1, 1, 1e6},
};
#define N_KEYS_KNOWN (int)(sizeof KEYS / sizeof KEYS[0])

static const key_info *find_key(const char *k) {
    for (int i = 0; i < N_KEYS_KNOWN; i++)
        if (!strcmp(KEYS[i].key, k)) return &KEYS[i];
    return NULL;
}

/* The column of key k (added when new). -1 + lr_error when unknown. */
static int column(sweep_spec *s, const char *path, const char *k) {
    const key_info *ki = find_key(k);
    if (!ki) {
        lr_error_set(path, "unknown sweep key '%s' (known: alpha, beta, lr, seed, max_steps, lora_r, lora_alpha, "
                           "dropout, weight_decay, micro_batch, grad_accum)", k);
        return -1;
    }
    for (int j = 0; j < s->n_keys; j++)
        if (s->keys[j] == ki->key) return j;
    if (s->n_keys == SWEEP_MAX_KEYS) {
        lr_error_set(path, "more than %d sweep keys", SWEEP_MAX_KEYS);
        return -1;
    }
    s->keys[s->n_keys] = ki->key;
    return s->n_keys++;
}

static int check_value(const char *path, const char *k, const cJSON *v, double *out) {
    const key_info *ki = find_key(k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < ki->lo || v->valuedouble > ki->hi ||
        (ki->integer && v->valuedouble != floor(v->valuedouble))) {
        lr_error_set(path, "sweep key '%s': %s value in [%g, %g] expected", k, ki->integer ? "an integer" : "a number",
                     ki->lo, ki->hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

/* Sets the keys of object o into row `row` (all tasks when row < 0). */
static int set_object(sweep_spec *s, const char *path, const cJSON *o, int row) {
    if (!cJSON_IsObject(o)) {
        lr_error_set(path, "sweep entries and \"fixed\" must be objects of key: number");
        return -1;
    }
    for (const cJSON *e = o->child; e; e = e->next) {
        const int j = column(s, path, e->string);
        double v;
        if (j < 0 || check_value(path, e->string, e, &v) != 0) return -1;
        for (int i = row < 0 ? 0 : row; i < (row < 0 ? s->n_tasks : row + 1); i++) s->values[i * SWEEP_MAX_KEYS + j] = v;
    }
    return 0;
}

static int build(sweep_spec *s, const char *path, const cJSON *root) {
    const cJSON *grid = cJSON_IsObject(root) ? cJSON_GetObjectItem(root, "grid") : NULL;
    const cJSON *list = cJSON_IsArray(root) ? root : cJSON_IsObject(root) ? cJSON_GetObjectItem(root, "list") : NULL;
    const cJSON *fixed = cJSON_IsObject(root) ? cJSON_GetObjectItem(root, "fixed") : NULL;
    if (!!grid == !!list) {
        lr_error_set(path, "a sweep spec is {\"grid\": {key: [values]}} or {\"list\": [{key: value}]} (or a bare list), "
                           "with optional \"fixed\": {key: value}");
        return -1;
    }
    if (grid) {
        if (!cJSON_IsObject(grid) || !grid->child) {
            lr_error_set(path, "\"grid\" must be a non-empty object of key: [values]");
            return -1;
        }
        double n = 1;
        for (const cJSON *e = grid->child; e; e = e->next) {
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) < 1) {
                lr_error_set(path, "grid key '%s': a non-empty list of values expected", e->string);
                return -1;
            }
            n *= cJSON_GetArraySize(e);
        }
        if (n > SWEEP_MAX_TASKS) {
            lr_error_set(path, "the grid has %.0f points (at most %d)", n, SWEEP_MAX_TASKS);
            return -1;
        }
        s->n_tasks = (int)n;
    } else {
        s->n_tasks = cJSON_GetArraySize(list);
        if (s->n_tasks < 1 || s->n_tasks > SWEEP_MAX_TASKS) {
            lr_error_set(path, "the list has %d entries (1 to %d)", s->n_tasks, SWEEP_MAX_TASKS);
            return -1;
        }
    }
    s->values = xmalloc((size_t)s->n_tasks * SWEEP_MAX_KEYS * sizeof *s->values);
    for (size_t i = 0; i < (size_t)s->n_tasks * SWEEP_MAX_KEYS; i++) s->values[i] = NAN;
    if (list) {
        if (fixed && set_object(s, path, fixed, -1) != 0) return -1; /* the entries override it */
        int i = 0;
        for (const cJSON *e = list->child; e; e = e->next, i++)
            if (set_object(s, path, e, i) != 0) return -1;
        return 0;
    }
    if (fixed)
        for (const cJSON *e = fixed->child; e; e = e->next)
            if (e->string && cJSON_GetObjectItem(grid, e->string)) {
                lr_error_set(path, "'%s' is both in \"grid\" and in \"fixed\"", e->string);
                return -1;
            }
    /* grid: task i in mixed radix, the last key fastest */
    int stride = s->n_tasks;
    for (const cJSON *e = grid->child; e; e = e->next) {
        const int j = column(s, path, e->string), m = cJSON_GetArraySize(e);
        if (j < 0) return -1;
        stride /= m;
        for (int i = 0; i < s->n_tasks; i++) {
            double v;
            if (check_value(path, e->string, cJSON_GetArrayItem(e, (i / stride) % m), &v) != 0) return -1;
            s->values[i * SWEEP_MAX_KEYS + j] = v;
        }
    }
    return fixed ? set_object(s, path, fixed, -1) : 0; /* after the grid: its keys come first in the table */
}

int sweep_spec_load(const char *path, sweep_spec *s) {
    memset(s, 0, sizeof *s);
    s->json = lr_read_file(path, 1 << 20, NULL);
    if (!s->json) return -1;
    cJSON *root = cJSON_Parse(s->json);
    if (!root) {
        lr_error_set(path, "not valid JSON (near: %.40s)", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
        sweep_spec_free(s);
        return -1;
    }
    int rc = build(s, path, root);
    cJSON_Delete(root);
    if (rc != 0) sweep_spec_free(s);
    return rc;
}

void sweep_spec_free(sweep_spec *s) {
    free(s->values);
    free(s->json);
    memset(s, 0, sizeof *s);
}

void sweep_spec_print_task(const sweep_spec *s, int i, FILE *out) {
    fprintf(out, "index=%d\n", i);
    for (int j = 0; j < s->n_keys; j++) {
        const double v = s->values[i * SWEEP_MAX_KEYS + j];
        if (!isnan(v)) fprintf(out, "%s=%.10g\n", s->keys[j], v);
    }
    static const char *const stages[] = {"select", "train"};
    for (int st = 0; st < 2; st++) {
        fprintf(out, "%s_flags='", stages[st]);
        int first = 1;
        for (int j = 0; j < s->n_keys; j++) {
            const key_info *ki = find_key(s->keys[j]);
            const double v = s->values[i * SWEEP_MAX_KEYS + j];
            if (isnan(v) || strcmp(ki->stage, stages[st]) != 0) continue;
            fprintf(out, "%s%s %.10g", first ? "" : " ", ki->flag, v);
            first = 0;
        }
        fprintf(out, "'\n");
    }
}

void sweep_spec_label(const sweep_spec *s, int i, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int j = 0; j < s->n_keys && o < n; j++) {
        const double v = s->values[i * SWEEP_MAX_KEYS + j];
        if (!isnan(v)) o += (size_t)snprintf(buf + o, n - o, "%s%s=%g", o ? " " : "", s->keys[j], v);
    }
}
