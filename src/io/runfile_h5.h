/* Small HDF5 helpers for the run file and its shards: 1-D datasets that
 * grow by appending (chunked), scalar attributes, UTF-8 variable-length
 * strings, and checked reads that report a bad file as bad input.
 *
 * Writes go to temporaries this program creates (h5u_create), renamed into
 * place by h5u_commit only after a successful flush, close and fsync. Every
 * HDF5 call of a write is checked: a failure (disk full, quota, I/O error)
 * ends the process through h5u_die_write with "lightreasoner: error:
 * <file>: cannot write ...: No space left on device" (the OS reason from
 * HDF5's error stack), exit 1, its temporaries removed, the previous
 * complete file untouched. Reads may meet a user's damaged file: they
 * return -1 with lr_error "<file>: <what>" set. */
#ifndef LR_RUNFILE_H5_H
#define LR_RUNFILE_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Silences HDF5's automatic error-stack printing (we report our own). */
void h5u_quiet(void);
/* The same for a while: push saves the current printer, pop restores it
 * (library code that must leave the caller's setting as it found it). */
typedef struct {
    H5E_auto2_t fn;
    void *data;
} h5u_quiet_state;
void h5u_quiet_push(h5u_quiet_state *q);
void h5u_quiet_pop(const h5u_quiet_state *q);

/* The OS reason of the HDF5 call that just failed ("No space left on
 * device"), from the errno HDF5's file driver records on its error stack;
 * else the stack's innermost message. Empty when there is neither. */
void h5u_fail_reason(char *buf, size_t n);
/* 1 when the failed call's error stack carries an OS errno (the storage
 * failed, not the file's contents). */
int h5u_fail_is_os(void);

/* A failed write to a file this program writes: prints "lightreasoner:
 * error: <final file>: cannot write <what> (<temporary>): <reason>",
 * removes the tracked temporaries and _exits 1 (HDF5's exit handler would
 * flush the failed file again and can crash). obj: any id in the file, or
 * -1 for the latest tracked temporary. */
_Noreturn void h5u_die_write(hid_t obj, const char *what);
/* Checks one call of a write. */
#define H5W(call, obj, what)                                       \
    do {                                                           \
        if ((long long)(call) < 0) h5u_die_write((obj), (what));   \
    } while (0)

/* Creates the temporary tmp that will become final (tracked: removed when
 * the process dies of a write failure). Dies (h5u_die_write) when it cannot. */
hid_t h5u_create(const char *tmp, const char *final);
/* Flush, close, fsync, rename tmp -> final, fsync of the directory: after
 * it returns, final is complete and durable. Dies on any failure (tmp
 * removed, final untouched). */
void h5u_commit(hid_t f, const char *tmp, const char *final);
/* Abandons a temporary (closes f when >= 0, removes tmp, untracks it). */
void h5u_abandon(hid_t f, const char *tmp);
/* "<path>.<tag>.<pid>" (malloc'd): the temporary name of a rewrite. */
char *h5u_tmp_name(const char *path, const char *tag);

/* Types: H5T_NATIVE_* for memory; files use the same little-endian types.
 * The string type is a variable-length UTF-8 C string (h5py: str). */
hid_t h5u_str_type(void); /* cached, do not close */

/* Code datasets are HDF5 enums (h5py: h5py.check_enum_dtype; the Python
 * reader gives categories). Pass the memory type below (int8 base, cached,
 * do not close) to h5u_app_create/h5u_write_1d: the dataset then uses the
 * file's one committed definition /types/<name>, created on first use.
 * Readers may read an enum dataset into any native integer type. */
typedef enum {
    H5U_ENUM_FINISH,         /* finish_reason: eos, max_new_tokens, context_full, amateur_vocab, nonfinite */
    H5U_ENUM_PROBLEM_STATUS, /* problem status: sampled, skipped_context */
} h5u_enum;
hid_t h5u_enum_type(h5u_enum e);

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
 * little-endian equivalent, or the committed enum), optional
 * "description"/"units" attributes. Chunks of 64 KiB (at least 512
 * elements), shuffle + gzip level 4: a run file holds mostly small integer
 * columns that compress 5-20x. */
void h5u_app_create(h5u_app *a, hid_t loc, const char *name, hid_t mem_type, const char *description,
                    const char *units);
void h5u_app_write(h5u_app *a, const void *data, size_t n);
void h5u_app_flush(h5u_app *a);
void h5u_app_close(h5u_app *a); /* flushes */

/* Whole 1-D dataset in one call: contiguous when under 4 KiB, else chunked
 * to its size (at most 64 KiB a chunk) with shuffle + gzip. */
void h5u_write_1d(hid_t loc, const char *name, hid_t mem_type, const void *data, size_t n);
/* Whole 1-D dataset, contiguous (no filters), of an explicit file type
 * (e.g. u8 flags from int64 values), "description"/"units" attributes
 * (NULL: none) written before the data (the /eval groups' layout). */
void h5u_write_1d_plain(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *data, size_t n,
                        const char *description, const char *units);

/* ---- appendable rows, uncompressed: a 1-D (cols == 0) or 2-D (n, cols)
 * dataset grown by whole rows, in chunks of about 64 Ki values (for
 * outputs of mostly incompressible floats: logprobs) */
typedef struct {
    hid_t ds;
    hid_t mem_type; /* not owned */
    int ndim;
    hsize_t cols; /* 2-D row length */
    hsize_t rows; /* written so far */
} h5u_rows;
void h5u_rows_create(h5u_rows *a, hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t cols,
                     const char *description, const char *units);
void h5u_rows_append(h5u_rows *a, const void *data, hsize_t rows);
void h5u_rows_close(h5u_rows *a);

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

/* Byte copy of src into dst (created/truncated; a reflink where the file
 * system has them). Failures to read src: -1 + lr_error(src); failures to
 * write dst: h5u_die_write. */
int h5u_copy_bytes(const char *src, const char *dst, const char *final);

/* Dies (h5u_die_write, "No space left on device") unless the file system
 * of tmp has `bytes` free: a check before an H5Ocopy, inside which HDF5
 * 1.10 crashes when a write fails. */
void h5u_need_space(hid_t f, const char *tmp, uint64_t bytes, const char *what);

/* The start of a crash-safe rewrite: tmp (tracked, to become src_path) =
 * a byte copy of src_path, opened read-write, with the top-level object
 * `skip` (the one the caller rebuilds; NULL: none) unlinked. Returns the
 * new file, or -1 + lr_error(src_path) with tmp removed when src cannot be
 * read; dies (h5u_die_write) when tmp cannot be written. */
hid_t h5u_copy_except(hid_t src, const char *src_path, const char *tmp, const char *skip);

#endif
