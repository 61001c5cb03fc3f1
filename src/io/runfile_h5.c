#define _POSIX_C_SOURCE 200809L
#include "io/runfile_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#endif

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void h5u_quiet_push(h5u_quiet_state *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5u_quiet_pop(const h5u_quiet_state *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

/* ---- write failures */

typedef struct {
    int os_errno;     /* "errno = N" of the file driver, 0 when none */
    char inner[256];  /* innermost message */
} fail_info;

static herr_t walk_fail(unsigned n, const H5E_error2_t *e, void *p) {
    fail_info *fi = p;
    const char *d = e->desc ? e->desc : "";
    if (n == 0) snprintf(fi->inner, sizeof fi->inner, "%s", d);
    const char *s = strstr(d, "errno = ");
    if (s && !fi->os_errno) fi->os_errno = atoi(s + 8);
    return 0;
}

static fail_info fail_now(void) {
    fail_info fi = {0, ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_fail, &fi);
    return fi;
}

void h5u_fail_reason(char *buf, size_t n) {
    fail_info fi = fail_now();
    if (fi.os_errno > 0) snprintf(buf, n, "%s", strerror(fi.os_errno));
    else if (fi.inner[0]) snprintf(buf, n, "HDF5: %s", fi.inner);
    else if (n) buf[0] = 0;
}

int h5u_fail_is_os(void) { return fail_now().os_errno > 0; }

/* Prints the message, removes the temporaries, leaves without running
 * HDF5's exit handler. reason: the OS or HDF5 cause. */
static _Noreturn void die_write_msg(const char *file, const char *what, const char *reason) {
    const char *final = file ? lr_tmp_final(file) : NULL;
    if (final && strcmp(final, file) != 0)
        fprintf(stderr, "lightreasoner: error: %s: cannot write %s (%s): %s\n", final, what, file, reason);
    else
        fprintf(stderr, "lightreasoner: error: %s: cannot write %s: %s\n", file ? file : "?", what, reason);
    fprintf(stderr, "lightreasoner: the previous complete file is unchanged; free space, then run the command "
                    "again (with --resume where it has one)\n");
    lr_tmp_remove_all();
    fflush(NULL);
    _exit(LR_EXIT_INTERNAL);
}

_Noreturn void h5u_die_write(hid_t obj, const char *what) {
    char reason[300];
    int err = errno;
    h5u_fail_reason(reason, sizeof reason);
    if (!reason[0]) snprintf(reason, sizeof reason, "%s", err ? strerror(err) : "HDF5 call failed");
    char name[4096] = "";
    if (obj >= 0 && H5Iis_valid(obj) > 0 && H5Fget_name(obj, name, sizeof name) <= 0) name[0] = 0;
    const char *file = name[0] ? name : lr_tmp_latest();
    die_write_msg(file, what, reason);
}

char *h5u_tmp_name(const char *path, const char *tag) {
    size_t n = strlen(path) + strlen(tag) + 32;
    char *t = xmalloc(n);
    snprintf(t, n, "%s.%s.%ld", path, tag, (long)getpid());
    return t;
}

hid_t h5u_create(const char *tmp, const char *final) {
    h5u_quiet();
    lr_tmp_track(tmp, final);
    errno = 0;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        char reason[300];
        int err = errno;
        h5u_fail_reason(reason, sizeof reason);
        if (!strncmp(reason, "HDF5:", 5) && err) snprintf(reason, sizeof reason, "%s", strerror(err));
        die_write_msg(tmp, "(create)", reason[0] ? reason : "cannot create");
    }
    return f;
}

void h5u_commit(hid_t f, const char *tmp, const char *final) {
    H5W(H5Fflush(f, H5F_SCOPE_GLOBAL), f, "(flush)");
    errno = 0;
    if (H5Fclose(f) < 0) h5u_die_write(-1, "(close)");
    if (h5u_fsync_path(tmp) != 0) die_write_msg(tmp, "(fsync)", strerror(errno));
    if (rename(tmp, final) != 0) die_write_msg(tmp, "(rename)", strerror(errno));
    lr_tmp_untrack(tmp);
    /* the new name is durable too; a failure here loses nothing complete */
    (void)lr_fsync_parent_dir(final);
}

void h5u_abandon(hid_t f, const char *tmp) {
    if (f >= 0) H5Fclose(f);
    remove(tmp);
    lr_tmp_untrack(tmp);
}

void h5u_need_space(hid_t f, const char *tmp, uint64_t bytes, const char *what) {
    struct statvfs vs;
    if (statvfs(tmp, &vs) != 0) return; /* unknown: let the writes tell */
    const uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
    if (avail >= bytes) return;
    (void)f;
    char reason[300];
    snprintf(reason, sizeof reason, "%s (%llu bytes needed, %llu free)", strerror(ENOSPC), (unsigned long long)bytes,
             (unsigned long long)avail);
    die_write_msg(tmp, what, reason);
}

int h5u_copy_bytes(const char *src, const char *dst, const char *final) {
    int in = open(src, O_RDONLY);
    if (in < 0) {
        lr_error_set(src, "cannot open: %s", strerror(errno));
        return -1;
    }
    lr_tmp_track(dst, final);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (out < 0) {
        int err = errno;
        close(in);
        die_write_msg(dst, "(create)", strerror(err));
    }
#ifdef FICLONE
    if (ioctl(out, FICLONE, in) == 0) { /* copy-on-write clone: no bytes copied */
        close(in);
        if (close(out) != 0) die_write_msg(dst, "(close)", strerror(errno));
        return 0;
    }
#endif
    enum { BUF = 1 << 20 };
    char *buf = xmalloc(BUF);
    for (;;) {
        ssize_t n = read(in, buf, BUF);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            close(in);
            close(out);
            lr_error_set(src, "read error: %s", strerror(err));
            remove(dst);
            lr_tmp_untrack(dst);
            return -1;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int err = w < 0 ? errno : ENOSPC;
                close(in);
                close(out);
                die_write_msg(dst, "(copy)", strerror(err));
            }
            off += w;
        }
    }
    free(buf);
    close(in);
    if (close(out) != 0) die_write_msg(dst, "(close)", strerror(errno));
    return 0;
}

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

hid_t h5u_enum_type(h5u_enum e) {
    static hid_t t[2] = {-1, -1};
    static const char *const finish[] = {"eos", "max_new_tokens", "context_full", "amateur_vocab", "nonfinite", NULL};
    static const char *const status[] = {"sampled", "skipped_context", NULL};
    if (t[e] < 0) {
        const char *const *names = e == H5U_ENUM_FINISH ? finish : status;
        hid_t et = H5Tenum_create(H5T_NATIVE_INT8);
        H5_CHECK(et);
        for (signed char v = 0; names[v]; v++) H5_CHECK(H5Tenum_insert(et, names[v], &v));
        t[e] = et;
    }
    return t[e];
}

static const char *enum_name(hid_t mem) {
    if (H5Tequal(mem, h5u_enum_type(H5U_ENUM_FINISH)) > 0) return "finish_reason";
    if (H5Tequal(mem, h5u_enum_type(H5U_ENUM_PROBLEM_STATUS)) > 0) return "problem_status";
    return NULL;
}

/* The file's committed /types/<name> for an h5u_enum memory type (created
 * on first use, as little-endian int8); the caller closes it. */
static hid_t committed_enum(hid_t loc, hid_t mem, const char *what) {
    const char *name = enum_name(mem);
    LR_CHECK(name, "enum type without a name");
    hid_t f = H5Iget_file_id(loc);
    H5W(f, loc, what);
    char path[64];
    snprintf(path, sizeof path, "/types/%s", name);
    hid_t t;
    if (H5Lexists(f, "/types", H5P_DEFAULT) > 0 && H5Lexists(f, path, H5P_DEFAULT) > 0) {
        t = H5Topen2(f, path, H5P_DEFAULT);
        H5W(t, loc, what);
    } else {
        if (H5Lexists(f, "/types", H5P_DEFAULT) <= 0) {
            hid_t g = H5Gcreate2(f, "/types", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5W(g, loc, what);
            h5u_attr_str(g, "description", "named HDF5 types shared by the datasets (enums of codes)");
            H5W(H5Gclose(g), loc, what);
        }
        t = H5Tenum_create(H5T_STD_I8LE);
        H5W(t, loc, what);
        int n = H5Tget_nmembers(mem);
        for (int i = 0; i < n; i++) {
            signed char v;
            char *mn = H5Tget_member_name(mem, (unsigned)i);
            H5W(H5Tget_member_value(mem, (unsigned)i, &v), loc, what);
            H5W(H5Tenum_insert(t, mn, &v), loc, what);
            H5free_memory(mn);
        }
        H5W(H5Tcommit2(f, path, t, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), loc, what);
    }
    H5Fclose(f);
    return t;
}

/* Dataset creation properties: chunks of `chunk` elements, shuffle + gzip. */
static hid_t compressed_dcpl(hsize_t chunk, hid_t loc, const char *what) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5W(dcpl, loc, what);
    H5W(H5Pset_chunk(dcpl, 1, &chunk), loc, what);
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        H5W(H5Pset_shuffle(dcpl), loc, what);
        H5W(H5Pset_deflate(dcpl, 4), loc, what);
    }
    return dcpl;
}

#define CHUNK_BYTES ((hsize_t)1 << 16)

/* Little-endian file type for a native memory type (strings unchanged). */
static hid_t file_type(hid_t mem) {
    if (H5Tequal(mem, H5T_NATIVE_INT64) > 0) return H5T_STD_I64LE;
    if (H5Tequal(mem, H5T_NATIVE_INT32) > 0) return H5T_STD_I32LE;
    if (H5Tequal(mem, H5T_NATIVE_INT8) > 0) return H5T_STD_I8LE;
    if (H5Tequal(mem, H5T_NATIVE_FLOAT) > 0) return H5T_IEEE_F32LE;
    if (H5Tequal(mem, H5T_NATIVE_DOUBLE) > 0) return H5T_IEEE_F64LE;
    return mem;
}

/* The dataset's name for messages ("dataset '/x/y'"). */
static void ds_what(hid_t obj, const char *name, char *buf, size_t n) {
    char path[512] = "";
    if (H5Iget_name(obj, path, sizeof path) <= 0) path[0] = 0;
    snprintf(buf, n, "'%s%s%s'", path, path[0] && strcmp(path, "/") ? "/" : "", name ? name : "");
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
    hsize_t chunk = CHUNK_BYTES / (is_str ? 16 : a->esz);
    if (chunk < 512) chunk = 512;
    char what[600];
    ds_what(loc, name, what, sizeof what);
    hid_t sp = H5Screate_simple(1, &dim, &maxdim);
    H5W(sp, loc, what);
    hid_t dcpl = compressed_dcpl(chunk, loc, what);
    int is_enum = H5Tget_class(mem_type) == H5T_ENUM;
    hid_t ft = is_enum ? committed_enum(loc, mem_type, what) : file_type(mem_type);
    a->ds = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5W(a->ds, loc, what);
    if (is_enum) H5Tclose(ft);
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
    H5W(H5Dset_extent(a->ds, &newn), a->ds, "(extend)");
    hid_t fs = H5Dget_space(a->ds);
    H5W(fs, a->ds, "(dataspace)");
    H5W(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL), a->ds, "(select)");
    hid_t ms = H5Screate_simple(1, &count, NULL);
    H5W(ms, a->ds, "(dataspace)");
    if (H5Dwrite(a->ds, a->mem_type, ms, fs, H5P_DEFAULT, data) < 0) {
        char what[600];
        ds_what(a->ds, NULL, what, sizeof what);
        h5u_die_write(a->ds, what);
    }
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
        H5W(H5Dclose(a->ds), a->ds, "(close a dataset)");
    }
    free(a->buf);
    a->buf = NULL;
    a->ds = -1;
}

void h5u_write_1d(hid_t loc, const char *name, hid_t mem_type, const void *data, size_t n) {
    char what[600];
    ds_what(loc, name, what, sizeof what);
    hsize_t dim = n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    H5W(sp, loc, what);
    int is_str = H5Tis_variable_str(mem_type) > 0;
    size_t esz = is_str ? 16 : H5Tget_size(mem_type);
    hsize_t chunk = CHUNK_BYTES / esz;
    if (chunk > n) chunk = n;
    hid_t dcpl = n * esz >= 4096 ? compressed_dcpl(chunk, loc, what) : H5P_DEFAULT;
    int is_enum = H5Tget_class(mem_type) == H5T_ENUM;
    hid_t ft = is_enum ? committed_enum(loc, mem_type, what) : file_type(mem_type);
    hid_t ds = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5W(ds, loc, what);
    if (is_enum) H5Tclose(ft);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    if (n) H5W(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), loc, what);
    /* the close writes what HDF5 still buffers (the sieve buffer): checked */
    H5W(H5Dclose(ds), loc, what);
    H5Sclose(sp);
}

void h5u_write_1d_plain(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *data, size_t n,
                        const char *description, const char *units) {
    char what[600];
    ds_what(loc, name, what, sizeof what);
    hsize_t dim = n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    H5W(sp, loc, what);
    hid_t ds = H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(ds, loc, what);
    H5Sclose(sp);
    describe(ds, description, units);
    if (n) H5W(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), loc, what);
    H5W(H5Dclose(ds), loc, what);
}

void h5u_rows_create(h5u_rows *a, hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t cols,
                     const char *description, const char *units) {
    char what[600];
    ds_what(loc, name, what, sizeof what);
    *a = (h5u_rows){.mem_type = mem_type, .ndim = cols ? 2 : 1, .cols = cols};
    hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols};
    hsize_t chunk[2] = {cols ? (cols >= 65536 ? 4 : (65536 + cols - 1) / cols) : 65536, cols};
    hid_t sp = H5Screate_simple(a->ndim, dims, maxd);
    H5W(sp, loc, what);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5W(pl, loc, what);
    H5W(H5Pset_chunk(pl, a->ndim, chunk), loc, what);
    a->ds = H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5W(a->ds, loc, what);
    H5Pclose(pl);
    H5Sclose(sp);
    describe(a->ds, description, units);
}

void h5u_rows_append(h5u_rows *a, const void *data, hsize_t rows) {
    if (!rows) return;
    char what[600];
    ds_what(a->ds, NULL, what, sizeof what);
    hsize_t nd[2] = {a->rows + rows, a->cols};
    H5W(H5Dset_extent(a->ds, nd), a->ds, what);
    hid_t fs = H5Dget_space(a->ds);
    H5W(fs, a->ds, what);
    hsize_t start[2] = {a->rows, 0}, count[2] = {rows, a->cols};
    H5W(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), a->ds, what);
    hid_t ms = H5Screate_simple(a->ndim, count, NULL);
    H5W(ms, a->ds, what);
    H5W(H5Dwrite(a->ds, a->mem_type, ms, fs, H5P_DEFAULT, data), a->ds, what);
    H5Sclose(ms);
    H5Sclose(fs);
    a->rows += rows;
}

void h5u_rows_close(h5u_rows *a) {
    if (a->ds > 0) H5W(H5Dclose(a->ds), a->ds, "(close a dataset)");
    a->ds = -1;
}

static hid_t attr_create(hid_t obj, const char *name, hid_t type, const char *what) {
    if (H5Aexists(obj, name) > 0) H5W(H5Adelete(obj, name), obj, what);
    hid_t sp = H5Screate(H5S_SCALAR);
    H5W(sp, obj, what);
    hid_t at = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5W(at, obj, what);
    H5Sclose(sp);
    return at;
}

static void attr_write(hid_t obj, const char *name, hid_t file_t, hid_t mem_t, const void *value) {
    char what[600];
    snprintf(what, sizeof what, "attribute '%s'", name);
    hid_t at = attr_create(obj, name, file_t, what);
    H5W(H5Awrite(at, mem_t, value), obj, what);
    H5W(H5Aclose(at), obj, what);
}

void h5u_attr_str(hid_t obj, const char *name, const char *value) {
    attr_write(obj, name, h5u_str_type(), h5u_str_type(), &value);
}

void h5u_attr_i64(hid_t obj, const char *name, int64_t value) {
    attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void h5u_attr_f64(hid_t obj, const char *name, double value) {
    attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
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
    H5T_class_t fc = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS, mc = H5Tget_class(mem_type);
    int ok = sp >= 0 && t >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
             (fc == mc || (fc == H5T_ENUM && mc == H5T_INTEGER)); /* enum codes read as integers */
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

/* H5Dread, also of an enum dataset into an integer memory type (HDF5 has no
 * enum -> integer conversion: read the enum's native form, then convert its
 * base integer type). */
static herr_t read_codes(hid_t ds, hid_t mem_type, hid_t ms, hid_t fs, size_t n, void *buf) {
    hid_t ft = H5Dget_type(ds);
    if (ft < 0) return -1;
    if (H5Tget_class(ft) != H5T_ENUM || H5Tget_class(mem_type) != H5T_INTEGER) {
        H5Tclose(ft);
        return H5Dread(ds, mem_type, ms, fs, H5P_DEFAULT, buf);
    }
    hid_t nt = H5Tget_native_type(ft, H5T_DIR_ASCEND), base = nt >= 0 ? H5Tget_super(nt) : -1;
    size_t sz = H5Tget_size(nt) > H5Tget_size(mem_type) ? H5Tget_size(nt) : H5Tget_size(mem_type);
    void *tmp = xcalloc(n ? n : 1, sz);
    herr_t rc = base >= 0 ? H5Dread(ds, nt, ms, fs, H5P_DEFAULT, tmp) : -1;
    if (rc >= 0 && n) rc = H5Tconvert(base, mem_type, n, tmp, NULL, H5P_DEFAULT);
    if (rc >= 0) memcpy(buf, tmp, n * H5Tget_size(mem_type));
    free(tmp);
    if (base >= 0) H5Tclose(base);
    if (nt >= 0) H5Tclose(nt);
    H5Tclose(ft);
    return rc;
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
        if (rc >= 0) rc = read_codes(ds, mem_type, ms, fs, (size_t)count, buf);
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
    herr_t rc = n ? read_codes(ds, mem_type, H5S_ALL, H5S_ALL, (size_t)n, buf) : 0;
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

hid_t h5u_copy_except(hid_t src, const char *src_path, const char *tmp, const char *skip) {
    (void)src; /* opened (and validated) by the caller; the copy is of its bytes */
    /* A byte copy, then the skipped object unlinked: H5Ocopy is not used
     * because HDF5 1.10 crashes inside it when a write fails (disk full),
     * and a byte copy (a reflink where possible) is faster anyway. The
     * space of the unlinked object is reused by what the caller rebuilds
     * in the same session. */
    if (h5u_copy_bytes(src_path, tmp, src_path) != 0) return -1;
    hid_t dst = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (dst < 0) {
        if (h5u_fail_is_os()) h5u_die_write(-1, "(open of the copy)");
        lr_error_set(src_path, "cannot copy the run file's contents (damaged file?)");
        h5u_abandon(-1, tmp);
        return -1;
    }
    if (skip && H5Lexists(dst, skip, H5P_DEFAULT) > 0) {
        char what[300];
        snprintf(what, sizeof what, "(unlink of '/%s' in the copy)", skip);
        H5W(H5Ldelete(dst, skip, H5P_DEFAULT), dst, what);
    }
    return dst;
}
