/* Read-only HDF5 helpers for `inspect` (see h5peek.h). */
#include "inspect/h5peek.h"

#include <stdlib.h>
#include <string.h>

int h5peek_exists(hid_t f, const char *path) {
    /* H5Lexists needs every intermediate group to exist: walk the path. */
    char buf[512];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(f, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) return 0;
    }
    return 1;
}

double *h5peek_doubles(hid_t f, const char *path, int64_t *n) {
    *n = 0;
    if (!h5peek_exists(f, path)) return NULL;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    double *out = NULL;
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(t);
    if (s >= 0 && H5Sget_simple_extent_ndims(s) == 1 && (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_ENUM)) {
        hsize_t dim = 0;
        H5Sget_simple_extent_dims(s, &dim, NULL);
        out = malloc((dim ? dim : 1) * sizeof *out);
        /* an enum of codes: its base integers (no enum -> double conversion in HDF5) */
        hid_t nt = cls == H5T_ENUM ? H5Tget_native_type(t, H5T_DIR_ASCEND) : -1, base = nt >= 0 ? H5Tget_super(nt) : -1;
        herr_t rc = -1;
        if (out && cls == H5T_ENUM && base >= 0) {
            rc = H5Dread(d, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
            if (rc >= 0 && dim) rc = H5Tconvert(base, H5T_NATIVE_DOUBLE, dim, out, NULL, H5P_DEFAULT);
        } else if (out && cls != H5T_ENUM)
            rc = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
        if (base >= 0) H5Tclose(base);
        if (nt >= 0) H5Tclose(nt);
        if (rc >= 0) {
            *n = (int64_t)dim;
        } else {
            free(out);
            out = NULL;
        }
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    H5Dclose(d);
    return out;
}

static hid_t open_attr(hid_t f, const char *obj, const char *name) {
    if (strcmp(obj, "/") != 0 && !h5peek_exists(f, obj)) return -1;
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) <= 0) return -1;
    return H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

int h5peek_attr_double(hid_t f, const char *obj, const char *name, double *out) {
    hid_t a = open_attr(f, obj, name);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    int rc = -1;
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Sget_simple_extent_npoints(s) == 1)
        rc = H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0 ? 0 : -1;
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

char *h5peek_attr_str(hid_t f, const char *obj, const char *name) {
    hid_t a = open_attr(f, obj, name);
    if (a < 0) return NULL;
    char *out = NULL;
    hid_t t = H5Aget_type(a);
    if (H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            out = calloc(sz + 1, 1);
            hid_t mt = H5Tcopy(t);
            if (!out || H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

char *h5peek_string_at(hid_t f, const char *path, int64_t i) {
    if (!h5peek_exists(f, path)) return NULL;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    char *out = NULL;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    hsize_t dim = 0;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 && H5Sget_simple_extent_ndims(s) == 1 &&
        H5Sget_simple_extent_dims(s, &dim, NULL) == 1 && i >= 0 && (hsize_t)i < dim) {
        hsize_t start = (hsize_t)i, count = 1;
        H5Sselect_hyperslab(s, H5S_SELECT_SET, &start, NULL, &count, NULL);
        hid_t ms = H5Screate_simple(1, &count, NULL);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char *v = NULL;
        if (H5Dread(d, mt, ms, s, H5P_DEFAULT, &v) >= 0 && v) {
            out = strdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
        H5Sclose(ms);
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return out;
}
