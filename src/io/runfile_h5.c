#define _POSIX_C_SOURCE 200809L
#include "io/runfile_h5.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t h5u_str_type(void) {
    static hid_t t = -1;
    if (t < 0) {
        t = H5Tcopy(H5T_C_S1);
        H5_CHECK(t);
        H5_CHECK(H5Tset_size(t, H5T_VARIABLE));
        H5_CHECK(H5Tset_cset(t, H5T_CSET_UTF8));
    }
    return t;
}

/* Little-endian file type for a native memory type (strings unchanged). */
static hid_t file_type(hid_t mem) {
    if (H5Tequal(mem, H5T_NATIVE_INT64) > 0) return H5T_STD_I64LE;
    if (H5Tequal(mem, H5T_NATIVE_INT32) > 0) return H5T_STD_I32LE;
    if (H5Tequal(mem, H5T_NATIVE_INT8) > 0) return H5T_STD_I8LE;
    if (H5Tequal(mem, H5T_NATIVE_FLOAT) > 0) return H5T_IEEE_F32LE;
    if (H5Tequal(mem, H5T_NATIVE_DOUBLE) > 0) return H5T_IEEE_F64LE;
    return mem;
}

static void describe(hid_t ds, const char *description, const char *units) {
    if (description) h5u_attr_str(ds, "description", description);
    if (units) h5u_attr_str(ds, "units", units);
}

void h5u_app_create(h5u_app *a, hid_t loc, const char *name, hid_t mem_type, const char *description,
                    const char *units) {
    memset(a, 0, sizeof *a);
    int is_str = H5Tis_variable_str(mem_type) > 0;
    a->esz = is_str ? sizeof(char *) : H5Tget_size(mem_type);
    hsize_t dim = 0, maxdim = H5S_UNLIMITED;
    hsize_t chunk = (hsize_t)(1u << 18) / (is_str ? 16 : a->esz); /* ~256 KiB chunks */
    if (chunk < 1024) chunk = 1024;
    hid_t sp = H5Screate_simple(1, &dim, &maxdim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_CHECK(sp);
    H5_CHECK(dcpl);
    H5_CHECK(H5Pset_chunk(dcpl, 1, &chunk));
    a->ds = H5Dcreate2(loc, name, file_type(mem_type), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5_CHECK(a->ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    a->mem_type = mem_type;
    if (!is_str) {
        a->buf_cap = (1u << 16) / a->esz;
        a->buf = xmalloc(a->buf_cap * a->esz);
    }
    describe(a->ds, description, units);
}

static void app_write_direct(h5u_app *a, const void *data, size_t n) {
    if (n == 0) return;
    hsize_t newn = a->n + n, start = a->n, count = n;
    H5_CHECK(H5Dset_extent(a->ds, &newn));
    hid_t fs = H5Dget_space(a->ds);
    H5_CHECK(fs);
    H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL));
    hid_t ms = H5Screate_simple(1, &count, NULL);
    H5_CHECK(H5Dwrite(a->ds, a->mem_type, ms, fs, H5P_DEFAULT, data));
    H5Sclose(ms);
    H5Sclose(fs);
    a->n = newn;
}

void h5u_app_flush(h5u_app *a) {
    if (a->buf_n) app_write_direct(a, a->buf, a->buf_n);
    a->buf_n = 0;
}

void h5u_app_write(h5u_app *a, const void *data, size_t n) {
    if (!a->buf) {
        app_write_direct(a, data, n);
        return;
    }
    if (a->buf_n + n > a->buf_cap) h5u_app_flush(a);
    if (n > a->buf_cap) {
        app_write_direct(a, data, n);
        return;
    }
    memcpy(a->buf + a->buf_n * a->esz, data, n * a->esz);
    a->buf_n += n;
}

void h5u_app_close(h5u_app *a) {
    if (a->ds >= 0) {
        h5u_app_flush(a);
        H5Dclose(a->ds);
    }
    free(a->buf);
    a->buf = NULL;
    a->ds = -1;
}

void h5u_write_1d(hid_t loc, const char *name, hid_t mem_type, const void *data, size_t n) {
    hsize_t dim = n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    H5_CHECK(sp);
    hid_t ds = H5Dcreate2(loc, name, file_type(mem_type), sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5_CHECK(ds);
    if (n) H5_CHECK(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    H5Dclose(ds);
    H5Sclose(sp);
}

static hid_t attr_create(hid_t obj, const char *name, hid_t type) {
    if (H5Aexists(obj, name) > 0) H5_CHECK(H5Adelete(obj, name));
    hid_t sp = H5Screate(H5S_SCALAR);
    H5_CHECK(sp);
    hid_t at = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5_CHECK(at);
    H5Sclose(sp);
    return at;
}

void h5u_attr_str(hid_t obj, const char *name, const char *value) {
    hid_t at = attr_create(obj, name, h5u_str_type());
    H5_CHECK(H5Awrite(at, h5u_str_type(), &value));
    H5Aclose(at);
}

void h5u_attr_i64(hid_t obj, const char *name, int64_t value) {
    hid_t at = attr_create(obj, name, H5T_STD_I64LE);
    H5_CHECK(H5Awrite(at, H5T_NATIVE_INT64, &value));
    H5Aclose(at);
}

void h5u_attr_f64(hid_t obj, const char *name, double value) {
    hid_t at = attr_create(obj, name, H5T_IEEE_F64LE);
    H5_CHECK(H5Awrite(at, H5T_NATIVE_DOUBLE, &value));
    H5Aclose(at);
}

int h5u_has_attr(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

/* Opens a scalar attribute of the given class; -1 + lr_error otherwise. */
static hid_t attr_open(hid_t obj, const char *name, const char *file, H5T_class_t cls) {
    if (H5Aexists(obj, name) <= 0) {
        lr_error_set(file, "attribute '%s' is missing", name);
        return -1;
    }
    hid_t at = H5Aopen(obj, name, H5P_DEFAULT);
    if (at < 0) {
        lr_error_set(file, "cannot read attribute '%s'", name);
        return -1;
    }
    hid_t t = H5Aget_type(at), sp = H5Aget_space(at);
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(sp) == 1;
    if (ok && cls == H5T_STRING) ok = H5Tis_variable_str(t) > 0;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        H5Aclose(at);
        lr_error_set(file, "attribute '%s' has an unexpected type or shape", name);
        return -1;
    }
    return at;
}

int h5u_read_attr_str(hid_t obj, const char *name, const char *file, char **value) {
    hid_t at = attr_open(obj, name, file, H5T_STRING);
    if (at < 0) return -1;
    char *s = NULL;
    herr_t rc = H5Aread(at, h5u_str_type(), &s);
    H5Aclose(at);
    if (rc < 0 || !s) {
        lr_error_set(file, "cannot read attribute '%s'", name);
        return -1;
    }
    *value = xstrdup(s);
    H5free_memory(s);
    return 0;
}

int h5u_read_attr_i64(hid_t obj, const char *name, const char *file, int64_t *value) {
    hid_t at = attr_open(obj, name, file, H5T_INTEGER);
    if (at < 0) return -1;
    herr_t rc = H5Aread(at, H5T_NATIVE_INT64, value);
    H5Aclose(at);
    if (rc < 0) lr_error_set(file, "cannot read attribute '%s'", name);
    return rc < 0 ? -1 : 0;
}

int h5u_read_attr_f64(hid_t obj, const char *name, const char *file, double *value) {
    hid_t at = attr_open(obj, name, file, H5T_FLOAT);
    if (at < 0) return -1;
    herr_t rc = H5Aread(at, H5T_NATIVE_DOUBLE, value);
    H5Aclose(at);
    if (rc < 0) lr_error_set(file, "cannot read attribute '%s'", name);
    return rc < 0 ? -1 : 0;
}

/* Opens dataset `name`; -1 + lr_error when it is missing or unreadable. */
static hid_t ds_open_any(hid_t loc, const char *name, const char *file) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
        lr_error_set(file, "dataset '%s' is missing", name);
        return -1;
    }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) lr_error_set(file, "cannot open dataset '%s'", name);
    return ds;
}

/* Opens a 1-D dataset whose class matches mem_type's; -1 + lr_error. */
static hid_t ds_open(hid_t loc, const char *name, const char *file, hid_t mem_type, hsize_t *n) {
    hid_t ds = ds_open_any(loc, name, file);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    int ok = sp >= 0 && t >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Tget_class(t) == H5Tget_class(mem_type);
    if (ok && H5Tget_class(t) == H5T_STRING) ok = H5Tis_variable_str(t) > 0;
    if (ok) H5Sget_simple_extent_dims(sp, n, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (!ok) {
        H5Dclose(ds);
        lr_error_set(file, "dataset '%s' has an unexpected type or shape", name);
        return -1;
    }
    return ds;
}

int h5u_len(hid_t loc, const char *name, const char *file, int64_t *n) {
    hsize_t dim = 0;
    hid_t ds = ds_open_any(loc, name, file); /* any class */
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1;
    if (ok) H5Sget_simple_extent_dims(sp, &dim, NULL);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    if (!ok) {
        lr_error_set(file, "dataset '%s' is not one-dimensional", name);
        return -1;
    }
    *n = (int64_t)dim;
    return 0;
}

int h5u_read_range(hid_t loc, const char *name, const char *file, hid_t mem_type, int64_t start, int64_t count,
                   void *buf) {
    hsize_t n = 0;
    hid_t ds = ds_open(loc, name, file, mem_type, &n);
    if (ds < 0) return -1;
    if (start < 0 || count < 0 || (hsize_t)(start + count) > n) {
        H5Dclose(ds);
        lr_error_set(file, "dataset '%s': range [%lld, %lld) outside its %llu entries", name, (long long)start,
                     (long long)(start + count), (unsigned long long)n);
        return -1;
    }
    herr_t rc = 0;
    if (count > 0) {
        hsize_t st = (hsize_t)start, ct = (hsize_t)count;
        hid_t fs = H5Dget_space(ds);
        hid_t ms = H5Screate_simple(1, &ct, NULL);
        rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &st, NULL, &ct, NULL);
        if (rc >= 0) rc = H5Dread(ds, mem_type, ms, fs, H5P_DEFAULT, buf);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(ds);
    if (rc < 0) {
        lr_error_set(file, "cannot read dataset '%s' (damaged file?)", name);
        return -1;
    }
    return 0;
}

void *h5u_read_all(hid_t loc, const char *name, const char *file, hid_t mem_type, int64_t expect_n, int64_t *out_n) {
    hsize_t n = 0;
    hid_t ds = ds_open(loc, name, file, mem_type, &n);
    if (ds < 0) return NULL;
    if (expect_n >= 0 && (int64_t)n != expect_n) {
        H5Dclose(ds);
        lr_error_set(file, "dataset '%s' has %llu entries, expected %lld", name, (unsigned long long)n,
                     (long long)expect_n);
        return NULL;
    }
    int is_str = H5Tis_variable_str(mem_type) > 0;
    size_t esz = is_str ? sizeof(char *) : H5Tget_size(mem_type);
    void *buf = xcalloc(n ? n : 1, esz);
    herr_t rc = n ? H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    if (rc >= 0 && is_str && n) {
        /* own the strings with malloc so that callers free() them */
        char **s = buf;
        for (hsize_t i = 0; i < n; i++) {
            char *h = s[i];
            s[i] = xstrdup(h ? h : "");
            if (h) H5free_memory(h);
        }
    }
    H5Dclose(ds);
    if (rc < 0) {
        free(buf);
        lr_error_set(file, "cannot read dataset '%s' (damaged file?)", name);
        return NULL;
    }
    if (out_n) *out_n = (int64_t)n;
    return buf;
}

int h5u_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *dst_p) {
    (void)info;
    const hid_t dst = *(const hid_t *)dst_p;
    hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
    if (at < 0) return -1;
    hid_t ft = H5Aget_type(at), sp = H5Aget_space(at);
    hid_t mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
    const hssize_t n = H5Sget_simple_extent_npoints(sp);
    const size_t sz = H5Tget_size(mt);
    void *buf = xcalloc(n > 0 ? (size_t)n : 1, sz ? sz : 1);
    herr_t rc = H5Aread(at, mt, buf);
    if (rc >= 0) {
        if (H5Aexists(dst, name) > 0) H5Adelete(dst, name);
        hid_t na = H5Acreate2(dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = na < 0 ? -1 : H5Awrite(na, mt, buf);
        if (na >= 0) H5Aclose(na);
        if (H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
    }
    free(buf);
    H5Tclose(mt), H5Tclose(ft), H5Sclose(sp), H5Aclose(at);
    return rc < 0 ? -1 : 0;
}

typedef struct {
    hid_t dst;
    const char *skip;
} copy_ctx;

static herr_t copy_link_except(hid_t loc, const char *name, const H5L_info_t *info, void *ctx_p) {
    (void)info;
    const copy_ctx *c = ctx_p;
    if (!strcmp(name, c->skip)) return 0;
    return H5Ocopy(loc, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
}

hid_t h5u_copy_except(hid_t src, const char *src_path, const char *tmp, const char *skip) {
    hid_t dst = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (dst < 0) {
        lr_error_set(tmp, "cannot create");
        return -1;
    }
    copy_ctx c = {dst, skip};
    hsize_t idx = 0;
    int rc = H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, copy_attr, &dst) < 0 ? -1 : 0;
    idx = 0;
    if (rc == 0 && H5Literate(src, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, copy_link_except, &c) < 0) rc = -1;
    if (rc != 0) {
        lr_error_set(src_path, "cannot copy the run file's contents (damaged file?)");
        H5Fclose(dst);
        remove(tmp);
        return -1;
    }
    return dst;
}
