/* Small HDF5 helpers for the run file and its shards: 1-D datasets that
 * grow by appending (chunked), scalar attributes, UTF-8 variable-length
 * strings, and checked reads that report a bad file as bad input.
 *
 * Writes go to files this program creates: a failure there is internal
 * (H5_CHECK, exit 1). Reads may meet a user's damaged file: they return -1
 * with lr_error "<file>: <what>" set. */
#ifndef LR_RUNFILE_H5_H
#define LR_RUNFILE_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Silences HDF5's automatic error-stack printing (we report our own). */
void h5u_quiet(void);

/* Types: H5T_NATIVE_* for memory; files use the same little-endian types.
 * The string type is a variable-length UTF-8 C string (h5py: str). */
hid_t h5u_str_type(void); /* cached, do not close */

/* ---- appendable 1-D dataset */
typedef struct {
    hid_t ds;
    hid_t mem_type; /* not owned */
    hsize_t n;      /* elements written to the file */
    size_t esz;     /* element size in memory */
    char *buf;      /* small appends are buffered (numeric types only) */
    size_t buf_n, buf_cap;
} h5u_app;

/* Creates `name` under loc with element type mem_type (file type = the
 * little-endian equivalent), optional "description"/"units" attributes. */
void h5u_app_create(h5u_app *a, hid_t loc, const char *name, hid_t mem_type, const char *description,
                    const char *units);
void h5u_app_write(h5u_app *a, const void *data, size_t n);
void h5u_app_flush(h5u_app *a);
void h5u_app_close(h5u_app *a); /* flushes */

/* Whole 1-D dataset in one call (contiguous, for small shard files). */
void h5u_write_1d(hid_t loc, const char *name, hid_t mem_type, const void *data, size_t n);

/* ---- attributes (overwrite when present) */
void h5u_attr_str(hid_t obj, const char *name, const char *value);
void h5u_attr_i64(hid_t obj, const char *name, int64_t value);
void h5u_attr_f64(hid_t obj, const char *name, double value);
/* Reads; -1 + lr_error(file) when missing or of the wrong kind. *value from
 * h5u_read_attr_str is malloc'd. */
int h5u_read_attr_str(hid_t obj, const char *name, const char *file, char **value);
int h5u_read_attr_i64(hid_t obj, const char *name, const char *file, int64_t *value);
int h5u_read_attr_f64(hid_t obj, const char *name, const char *file, double *value);
int h5u_has_attr(hid_t obj, const char *name);

/* ---- reads of 1-D datasets; -1 + lr_error(file) on a missing dataset,
 * wrong rank or a read failure. */
int h5u_len(hid_t loc, const char *name, const char *file, int64_t *n);
/* Reads [start, start+count) converted to mem_type into buf. */
int h5u_read_range(hid_t loc, const char *name, const char *file, hid_t mem_type, int64_t start, int64_t count,
                   void *buf);
/* The whole dataset into a fresh array, with its length checked == n
 * when n >= 0 (else *out_n receives it). Strings: char ** (each malloc'd). */
void *h5u_read_all(hid_t loc, const char *name, const char *file, hid_t mem_type, int64_t expect_n, int64_t *out_n);

/* fsync a closed file's bytes to disk (for temp-then-rename). 0 ok. */
int h5u_fsync_path(const char *path);

/* The start of a crash-safe rewrite: creates tmp with src's root
 * attributes and every top-level object except `skip` (the one the caller
 * rebuilds). Returns the new file, or -1 + lr_error(src_path) with tmp
 * removed. */
hid_t h5u_copy_except(hid_t src, const char *src_path, const char *tmp, const char *skip);

#endif
