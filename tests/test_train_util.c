#include "test_train_util.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "test_util.h"

void test_write_runfile(const char *path, const test_run_data *d) {
    h5u_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(1);
    }
    h5u_attr_str(f, "schema", LR_RUN_SCHEMA);
    h5u_attr_i64(f, "schema_version", LR_RUN_SCHEMA_VERSION);
    h5u_attr_str(f, "expert", d->expert ? d->expert : "");
    h5u_attr_i64(f, "vocab_expert", d->vocab);
    h5u_attr_i64(f, "complete", 1);
    hid_t gt = H5Gcreate2(f, "traces", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const int n = d->n_traces;
    int32_t *ngen = malloc((size_t)(n ? n : 1) * sizeof *ngen);
    for (int i = 0; i < n; i++) ngen[i] = (int32_t)(d->trace_offsets[i + 1] - d->trace_offsets[i] - d->prompt_len[i]);
    h5u_write_1d(gt, "token_offsets", H5T_NATIVE_INT64, d->trace_offsets, (size_t)n + 1);
    h5u_write_1d(gt, "tokens", H5T_NATIVE_INT32, d->tokens, (size_t)d->trace_offsets[n]);
    h5u_write_1d(gt, "prompt_len", H5T_NATIVE_INT32, d->prompt_len, (size_t)n);
    h5u_write_1d(gt, "n_generated", H5T_NATIVE_INT32, ngen, (size_t)n);
    free(ngen);
    H5Gclose(gt);
    if (d->with_samples) {
        hid_t gs = H5Gcreate2(f, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const int m = d->n_samples;
        double *kl = calloc((size_t)(m ? m : 1), sizeof *kl);
        h5u_write_1d(gs, "trace", H5T_NATIVE_INT64, d->trace, (size_t)m);
        h5u_write_1d(gs, "step", H5T_NATIVE_INT32, d->step, (size_t)m);
        h5u_write_1d(gs, "kl", H5T_NATIVE_DOUBLE, kl, (size_t)m);
        h5u_write_1d(gs, "label_offsets", H5T_NATIVE_INT64, d->lab_off, (size_t)m + 1);
        h5u_write_1d(gs, "label_ids", H5T_NATIVE_INT32, d->lab_ids, (size_t)d->lab_off[m]);
        h5u_write_1d(gs, "label_weights", H5T_NATIVE_FLOAT, d->lab_w, (size_t)d->lab_off[m]);
        h5u_attr_f64(gs, "alpha", 0.2);
        h5u_attr_f64(gs, "beta", 0.4);
        free(kl);
        H5Gclose(gs);
    }
    H5Fclose(f);
}

static const void *gdata(const st_set *g, const char *name, int64_t *n) {
    const st_tensor *t = st_find(g, name);
    if (!t) {
        fprintf(stderr, "golden tensor %s missing\n", name);
        exit(1);
    }
    if (n) *n = t->numel;
    return t->data;
}

void test_write_golden_runfile(const char *path) {
    st_set g;
    if (st_open_file(&g, test_data_path("train/goldens.safetensors")) != 0) {
        fprintf(stderr, "cannot open the train goldens\n");
        exit(1);
    }
    int64_t n_off, n_s;
    test_run_data d = {0};
    d.trace_offsets = gdata(&g, "adamw.trace_offsets", &n_off);
    d.n_traces = (int)n_off - 1;
    d.tokens = gdata(&g, "adamw.trace_tokens", NULL);
    d.prompt_len = gdata(&g, "adamw.prompt_len", NULL);
    d.step = gdata(&g, "adamw.step", &n_s);
    d.n_samples = (int)n_s;
    int64_t *trace = malloc((size_t)n_s * sizeof *trace);
    for (int64_t i = 0; i < n_s; i++) trace[i] = i; /* one sample per trace */
    d.trace = trace;
    d.lab_off = gdata(&g, "adamw.lab_off", NULL);
    d.lab_ids = gdata(&g, "adamw.lab_ids", NULL);
    d.lab_w = gdata(&g, "adamw.lab_w", NULL);
    d.expert = test_data_path("sample/expert");
    d.vocab = 408;
    d.with_samples = 1;
    test_write_runfile(path, &d);
    free(trace);
    st_close(&g);
}

long test_read_log(const char *path, const char *col, double **out) {
    h5u_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    char nm[128];
    snprintf(nm, sizeof nm, "train/log/%s", col);
    /* plain HDF5 (any numeric type converted to double) */
    long n = -1;
    *out = NULL;
    hid_t ds = H5Lexists(f, "train", H5P_DEFAULT) > 0 && H5Lexists(f, "train/log", H5P_DEFAULT) > 0 &&
                       H5Lexists(f, nm, H5P_DEFAULT) > 0
                   ? H5Dopen2(f, nm, H5P_DEFAULT)
                   : -1;
    if (ds >= 0) {
        hid_t sp = H5Dget_space(ds);
        hsize_t dim = 0;
        H5Sget_simple_extent_dims(sp, &dim, NULL);
        *out = calloc(dim ? dim : 1, sizeof(double));
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) >= 0) n = (long)dim;
        H5Sclose(sp);
        H5Dclose(ds);
    }
    H5Fclose(f);
    return n;
}

const char *test_fresh_dir(const char *name) {
    static char buf[8][1024];
    static int k = 0;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "rm -rf '%s' && mkdir -p '%s'", name, name);
    if (system(b) != 0) exit(1);
    snprintf(b, sizeof buf[0], "%s", name);
    return b;
}
