#include <string.h>

#include "common/check.h"

void *lr_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) lr_die_internal(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *lr_xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lr_die_internal(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *lr_xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) lr_die_internal(file, line, "out of memory reallocating %zu bytes", n);
    return q;
}

char *lr_xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = lr_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}
