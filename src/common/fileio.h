/* Small file helpers. Everything that reads untrusted files goes through
 * here so that size limits and error messages are uniform. */
#ifndef LR_FILEIO_H
#define LR_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Reads a whole file into a NUL-terminated buffer (the NUL is not counted
 * in *len). Refuses files larger than max_bytes. NULL + lr_error on failure. */
char *lr_read_file(const char *path, size_t max_bytes, size_t *len);

/* "dir/name" into a fresh allocation. */
char *lr_path_join(const char *dir, const char *name);
int lr_file_exists(const char *path);
int lr_is_dir(const char *path);
/* mkdir -p; 0 on success, else lr_error set. */
int lr_mkdir_p(const char *path);
/* Copies a file byte for byte (0 ok, else lr_error set). */
int lr_copy_file(const char *src, const char *dst);

/* Atomic output: write to "<path>.tmp.<pid>", then rename over path on
 * commit, so a crash never leaves a half-written file that looks complete. */
typedef struct {
    FILE *f;
    char *path;
    char *tmp_path;
} lr_atomic_file;
int lr_atomic_open(lr_atomic_file *af, const char *path);
int lr_atomic_commit(lr_atomic_file *af); /* fsync + rename; 0 ok */
void lr_atomic_abort(lr_atomic_file *af); /* removes the temporary */

/* Temporaries of a write in progress: a process that dies of a write
 * failure (disk full) removes them on its way out (lr_tmp_remove_all), so
 * a failed write leaves the previous complete file and no debris. final is
 * the path the temporary becomes (named in messages). */
void lr_tmp_track(const char *tmp, const char *final);
void lr_tmp_untrack(const char *tmp);
/* The final path of a tracked temporary, or NULL. */
const char *lr_tmp_final(const char *tmp);
/* The most recently tracked temporary, or NULL. */
const char *lr_tmp_latest(void);
void lr_tmp_remove_all(void);
/* fsync of the directory holding path (after a rename: the new name is
 * durable). 0 ok, else -1 with errno set. */
int lr_fsync_parent_dir(const char *path);

/* Line reader for text inputs (jsonl, raw lines). Lines may be any length. */
typedef struct {
    FILE *f;
    const char *path;
    char *buf;
    size_t cap;
    long line_no;
} lr_line_reader;
int lr_lines_open(lr_line_reader *r, const char *path); /* "-" = stdin */
/* Returns the line length (without '\n' and a trailing '\r'), or -1 at end. */
long lr_lines_next(lr_line_reader *r, char **line);
void lr_lines_close(lr_line_reader *r);

/* Where the bundled data/ may be (fresh strings, at most max; 7 always
 * suffice), in order: explicit_dir (alone), $LR_DATA_DIR, then next to the
 * executable (installed <prefix>/bin -> <prefix>/share/lightreasoner/data;
 * build tree <src>/build/lightreasoner -> <src>/data), then the source
 * tree's data/ the binary was built from. Returns the count. */
int lr_data_dir_candidates(const char *explicit_dir, char **out, int max);

#endif
