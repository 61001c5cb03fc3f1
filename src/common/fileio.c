#define _POSIX_C_SOURCE 200809L
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"

char *lr_read_file(const char *path, size_t max_bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        lr_error_set(path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                fclose(f);
                free(buf);
                lr_error_set(path, "file is larger than the %zu-byte limit", max_bytes);
                return NULL;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        lr_error_set(path, "read error");
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *lr_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

int lr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int lr_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lr_mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) goto fail;
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) goto fail;
    free(p);
    if (!lr_is_dir(path)) {
        lr_error_set(path, "exists and is not a directory");
        return -1;
    }
    return 0;
fail:
    lr_error_set(path, "cannot create directory: %s", strerror(errno));
    free(p);
    return -1;
}

int lr_copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) {
        lr_error_set(src, "cannot open: %s", strerror(errno));
        return -1;
    }
    lr_atomic_file af;
    if (lr_atomic_open(&af, dst) != 0) {
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, af.f) != n) {
            fclose(in);
            int err = errno;
            lr_atomic_abort(&af);
            lr_error_set(dst, "write error: %s", strerror(err));
            return -1;
        }
    }
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        lr_atomic_abort(&af);
        lr_error_set(src, "read error");
        return -1;
    }
    return lr_atomic_commit(&af);
}

int lr_atomic_open(lr_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    af->path = xstrdup(path);
    size_t n = strlen(path) + 32;
    af->tmp_path = xmalloc(n);
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        lr_error_set(path, "cannot create: %s", strerror(errno));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return -1;
    }
    return 0;
}

int lr_atomic_commit(lr_atomic_file *af) {
    int rc = 0;
    if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0) rc = -1;
    if (fclose(af->f) != 0) rc = -1;
    af->f = NULL;
    if (rc == 0 && rename(af->tmp_path, af->path) != 0) rc = -1;
    if (rc != 0) {
        lr_error_set(af->path, "cannot write: %s", strerror(errno));
        remove(af->tmp_path);
    }
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return rc;
}

void lr_atomic_abort(lr_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

/* A short list: a process writes one or two temporaries at a time. */
static struct {
    char *tmp, *final;
} g_tmps[16];

void lr_tmp_track(const char *tmp, const char *final) {
    for (size_t i = 0; i < sizeof g_tmps / sizeof g_tmps[0]; i++)
        if (!g_tmps[i].tmp) {
            g_tmps[i].tmp = xstrdup(tmp);
            g_tmps[i].final = xstrdup(final ? final : tmp);
            return;
        }
}

void lr_tmp_untrack(const char *tmp) {
    for (size_t i = 0; i < sizeof g_tmps / sizeof g_tmps[0]; i++)
        if (g_tmps[i].tmp && !strcmp(g_tmps[i].tmp, tmp)) {
            free(g_tmps[i].tmp);
            free(g_tmps[i].final);
            g_tmps[i].tmp = g_tmps[i].final = NULL;
        }
}

const char *lr_tmp_final(const char *tmp) {
    for (size_t i = 0; i < sizeof g_tmps / sizeof g_tmps[0]; i++)
        if (g_tmps[i].tmp && !strcmp(g_tmps[i].tmp, tmp)) return g_tmps[i].final;
    return NULL;
}

const char *lr_tmp_latest(void) {
    for (size_t i = sizeof g_tmps / sizeof g_tmps[0]; i-- > 0;)
        if (g_tmps[i].tmp) return g_tmps[i].tmp;
    return NULL;
}

void lr_tmp_remove_all(void) {
    for (size_t i = 0; i < sizeof g_tmps / sizeof g_tmps[0]; i++)
        if (g_tmps[i].tmp) remove(g_tmps[i].tmp);
}

int lr_fsync_parent_dir(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

int lr_lines_open(lr_line_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    if (strcmp(path, "-") == 0) {
        r->f = stdin;
        r->path = "<stdin>";
        return 0;
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        lr_error_set(path, "cannot open: %s", strerror(errno));
        return -1;
    }
    return 0;
}

long lr_lines_next(lr_line_reader *r, char **line) {
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) return -1;
    r->line_no++;
    if (n > 0 && r->buf[n - 1] == '\n') r->buf[--n] = 0;
    if (n > 0 && r->buf[n - 1] == '\r') r->buf[--n] = 0;
    *line = r->buf;
    return (long)n;
}

void lr_lines_close(lr_line_reader *r) {
    if (r->f && r->f != stdin) fclose(r->f);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* The install layout relative to the executable and this build's source
 * data/ (both set by cmake/install.cmake; defaults for other builds). */
#ifndef LR_INSTALL_DATA_REL
#define LR_INSTALL_DATA_REL "../share/lightreasoner/data"
#endif
#ifndef LR_SOURCE_DATA_DIR
#define LR_SOURCE_DATA_DIR ""
#endif

/* Candidate data directories (fresh strings), in order: explicit, then
 * $LR_DATA_DIR, then next to the executable (installed: <prefix>/bin ->
 * <prefix>/share/lightreasoner/data; build tree inside the source:
 * <src>/build/lightreasoner -> <src>/data), then the source tree the binary
 * was built from (a build directory anywhere else). */
int lr_data_dir_candidates(const char *explicit_dir, char **out, int max) {
    int n = 0;
    if (max <= 0) return 0;
    if (explicit_dir && *explicit_dir) {
        out[n++] = xstrdup(explicit_dir);
        return n; /* an explicit choice is not second-guessed */
    }
    const char *env = getenv("LR_DATA_DIR");
    if (env && *env) out[n++] = xstrdup(env);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *const rel[] = {LR_INSTALL_DATA_REL, "../data", "../share/lightreasoner/data", "data",
                                          "../../data"};
        for (size_t i = 0; i < sizeof rel / sizeof *rel && n < max; i++) {
            if (i > 0 && strcmp(rel[i], rel[0]) == 0) continue;
            out[n++] = lr_path_join(exe, rel[i]);
        }
    }
    if (n < max && LR_SOURCE_DATA_DIR[0]) out[n++] = xstrdup(LR_SOURCE_DATA_DIR);
    return n;
}
