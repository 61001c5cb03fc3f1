#define _POSIX_C_SOURCE 200809L
#include "test_eval_util.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

const char *eval_test_model(void) { return test_data_path("sample/expert"); }

const char *eval_mpirun(int n) {
    /* Open MPI keeps process-lifetime allocations in components it unloads,
     * which LeakSanitizer cannot attribute (no suppression can name them):
     * leak checking is off for MPI launches, everything else stays on. */
    static char buf[512];
    snprintf(buf, sizeof buf,
             "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" mpirun --allow-run-as-root --oversubscribe -np %d "
             "-x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1",
             n);
    return buf;
}

const char *eval_scratch(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "eval_scratch_%s", name);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    test_run(cmd, NULL);
    return buf;
}


static hid_t open_ro(const char *file) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat st;
    if (stat(file, &st) != 0) return -1;
    return H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
}

int h5_has(const char *file, const char *path) {
    hid_t f = open_ro(file);
    if (f < 0) return 0;
    /* every component must exist for H5Lexists on the full path */
    char buf[512];
    int ok = 1;
    for (const char *p = path + 1;; p++) {
        if (*p == '/' || !*p) {
            snprintf(buf, sizeof buf, "%.*s", (int)(p - path), path);
            if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
                ok = 0;
                break;
            }
            if (!*p) break;
        }
    }
    H5Fclose(f);
    return ok;
}

char **h5_strings(const char *file, const char *dset, long *n) {
    *n = 0;
    if (!h5_has(file, dset)) return NULL;
    hid_t f = open_ro(file), d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char **v = calloc((size_t)cnt + 1, sizeof *v);
    if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        v = NULL;
    } else {
        /* copy out of HDF5's allocations so callers use plain free() */
        for (hssize_t i = 0; i < cnt; i++) {
            char *s = strdup(v[i] ? v[i] : "");
            H5free_memory(v[i]);
            v[i] = s;
        }
        *n = (long)cnt;
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

long *h5_longs(const char *file, const char *dset, long *n) {
    *n = 0;
    if (!h5_has(file, dset)) return NULL;
    hid_t f = open_ro(file), d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    long *v = calloc((size_t)cnt + 1, sizeof *v);
    if (H5Dread(d, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        v = NULL;
    } else *n = (long)cnt;
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

int h5_attr_num(const char *file, const char *obj, const char *attr, double *v) {
    hid_t f = open_ro(file);
    if (f < 0) return -1;
    int rc = -1;
    if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
        if (H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) rc = 0;
        H5Aclose(a);
    }
    H5Fclose(f);
    return rc;
}

void free_strings(char **s, long n) {
    if (!s) return;
    for (long i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* ---- group comparison */
static const char *const k_volatile[] = {"wall_seconds", "n_ranks", "created", "command_line", "config"};

typedef struct {
    hid_t other;
    char *why;
    size_t why_len;
    int equal;
    int n;
} cmp_ctx;

static int attr_text(hid_t obj, const char *name, char *buf, size_t len) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(t) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0) rc = -1;
        else snprintf(buf, len, "s:%s", s ? s : "");
        if (s) H5free_memory(s);
        H5Tclose(mt);
    } else {
        double v;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) rc = -1;
        else snprintf(buf, len, "n:%.17g", v);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static herr_t cmp_attr(hid_t obj, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    cmp_ctx *c = op;
    c->n++;
    for (size_t i = 0; i < sizeof k_volatile / sizeof *k_volatile; i++)
        if (!strcmp(name, k_volatile[i])) return 0;
    char a[4096], b[4096];
    if (attr_text(obj, name, a, sizeof a) != 0 || attr_text(c->other, name, b, sizeof b) != 0 || strcmp(a, b)) {
        snprintf(c->why, c->why_len, "attribute %s differs", name);
        c->equal = 0;
        return 1;
    }
    return 0;
}

static int cmp_attrs(hid_t x, hid_t y, char *why, size_t why_len) {
    cmp_ctx c = {y, why, why_len, 1, 0};
    H5Aiterate2(x, H5_INDEX_NAME, H5_ITER_INC, NULL, cmp_attr, &c);
    int nx = c.n;
    if (c.equal) {
        H5O_info_t oi;
        H5Oget_info(y, &oi);
        if ((int)oi.num_attrs != nx) {
            snprintf(why, why_len, "attribute counts differ (%d vs %d)", nx, (int)oi.num_attrs);
            return 0;
        }
    }
    return c.equal;
}

int eval_groups_equal(const char *f1, const char *g1, const char *f2, const char *g2, char *why, size_t why_len) {
    static const char *const strs[] = {"question", "gold", "output", "extracted"};
    static const char *const ints[] = {"correct",          "gold_unparseable", "extract_method", "finish_reason",
                                       "generated_tokens", "prompt_tokens",    "line"};
    char p1[512], p2[512];
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        snprintf(p1, sizeof p1, "%s/%s", g1, strs[i]);
        snprintf(p2, sizeof p2, "%s/%s", g2, strs[i]);
        long n1, n2;
        char **a = h5_strings(f1, p1, &n1), **b = h5_strings(f2, p2, &n2);
        int eq = a && b && n1 == n2;
        for (long k = 0; eq && k < n1; k++)
            if (strcmp(a[k], b[k])) {
                snprintf(why, why_len, "%s[%ld] differs: [%.80s] vs [%.80s]", strs[i], k, a[k], b[k]);
                eq = 0;
            }
        if (!eq && a && b && n1 != n2) snprintf(why, why_len, "%s: %ld vs %ld rows", strs[i], n1, n2);
        if (!a || !b) snprintf(why, why_len, "%s missing", strs[i]);
        free_strings(a, n1);
        free_strings(b, n2);
        if (!eq) return 0;
    }
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        snprintf(p1, sizeof p1, "%s/%s", g1, ints[i]);
        snprintf(p2, sizeof p2, "%s/%s", g2, ints[i]);
        long n1, n2;
        long *a = h5_longs(f1, p1, &n1), *b = h5_longs(f2, p2, &n2);
        int eq = a && b && n1 == n2 && !memcmp(a, b, (size_t)n1 * sizeof *a);
        if (!eq) snprintf(why, why_len, "%s differs", ints[i]);
        free(a);
        free(b);
        if (!eq) return 0;
    }
    hid_t x = open_ro(f1), y = open_ro(f2);
    hid_t gx = H5Gopen2(x, g1, H5P_DEFAULT), gy = H5Gopen2(y, g2, H5P_DEFAULT);
    int eq = gx >= 0 && gy >= 0 && cmp_attrs(gx, gy, why, why_len);
    if (gx >= 0) H5Gclose(gx);
    if (gy >= 0) H5Gclose(gy);
    H5Fclose(x);
    H5Fclose(y);
    return eq;
}

int files_identical(const char *a, const char *b) {
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    int same = x && y;
    while (same) {
        int c = fgetc(x), d = fgetc(y);
        if (c != d) same = 0;
        if (c == EOF || d == EOF) break;
    }
    if (x) fclose(x);
    if (y) fclose(y);
    return same;
}
