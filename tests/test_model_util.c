#include "test_model_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "common/error.h"
#include "test_util.h"

const char *const test_model_names[N_TEST_MODELS] = {"qwen2_tied", "qwen2_gqa_bf16", "llama3_scaled"};

const char *test_model_dir(const char *name) {
    static char bufs[4][4096];
    static int k = 0;
    char *b = bufs[k++ & 3];
    snprintf(b, sizeof bufs[0], "%s/model/%s", test_data_dir(), name);
    return b;
}

int golden_open(golden *g, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model/goldens/%s.safetensors", test_data_dir(), name);
    memset(g, 0, sizeof *g);
    int rc = st_open_file(&g->st, path);
    EXPECT(rc == 0, "cannot open golden %s: %s", path, lr_error_msg());
    g->open = rc == 0;
    return rc;
}

void golden_close(golden *g) {
    if (g->open) st_close(&g->st);
    g->open = 0;
}

static const st_tensor *need(golden *g, const char *key, st_dtype dt) {
    const st_tensor *t = st_find(&g->st, key);
    if (!t || t->dtype != dt) {
        fprintf(stderr, "FAIL: golden tensor '%s' missing or of the wrong dtype\n", key);
        exit(1);
    }
    return t;
}

float *golden_f32(golden *g, const char *key, long *n) {
    const st_tensor *t = need(g, key, ST_F32);
    float *out = malloc((size_t)t->numel * sizeof(float) + 1);
    memcpy(out, t->data, (size_t)t->numel * sizeof(float));
    if (n) *n = (long)t->numel;
    return out;
}

int32_t *golden_i32(golden *g, const char *key, long *n) {
    const st_tensor *t = need(g, key, ST_I32);
    int32_t *out = malloc((size_t)t->numel * sizeof(int32_t) + 1);
    memcpy(out, t->data, (size_t)t->numel * sizeof(int32_t));
    if (n) *n = (long)t->numel;
    return out;
}

long golden_dim(golden *g, const char *key, int i) {
    const st_tensor *t = st_find(&g->st, key);
    return t && i < t->ndim ? (long)t->shape[i] : -1;
}

double max_abs_diff(const float *a, const float *b, long n, long *where) {
    double m = 0;
    long w = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (d < 0) d = -d;
        if (d > m || d != d) {
            m = d;
            w = i;
            if (d != d) break;
        }
    }
    if (where) *where = w;
    return m;
}

double max_scaled_diff(const float *a, const float *b, long n, int V) {
    double m = 0;
    for (long r = 0; r * V < n; r++) {
        const float *ar = a + r * V, *br = b + r * V;
        double ss = 0;
        for (int i = 0; i < V; i++) ss += (double)br[i] * br[i];
        double scale = sqrt(ss / V);
        if (scale < 1) scale = 1;
        for (int i = 0; i < V; i++) {
            double d = fabs((double)ar[i] - (double)br[i]) / scale;
            if (d > m || d != d) m = d;
        }
    }
    return m;
}
