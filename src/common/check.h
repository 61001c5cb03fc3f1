/* CHECK-style macros for failures that are the program's fault or the
 * system's, not the user's input: they name file and line and exit 1. */
#ifndef LR_CHECK_H
#define LR_CHECK_H

#include <stddef.h>
#include <stdlib.h>

#include "common/error.h"

#define LR_CHECK(cond, ...) \
    do { if (!(cond)) lr_die_internal(__FILE__, __LINE__, __VA_ARGS__); } while (0)

void *lr_xmalloc_at(size_t n, const char *file, int line);
void *lr_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *lr_xrealloc_at(void *p, size_t n, const char *file, int line);
char *lr_xstrdup_at(const char *s, const char *file, int line);

/* Allocation that never returns NULL: out of memory is an internal failure. */
#define xmalloc(n) lr_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) lr_xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) lr_xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) lr_xstrdup_at((s), __FILE__, __LINE__)

/* MPI: every call returns an error code; MPI_ERRORS_RETURN is set at init. */
#define MPI_CHECK(call) \
    do { int lr_rc_ = (call); \
         if (lr_rc_ != 0) lr_die_internal(__FILE__, __LINE__, "MPI call failed (%d): %s", lr_rc_, #call); \
    } while (0)

/* HDF5: negative return values are failures. */
#define H5_CHECK(call) \
    do { if ((long long)(call) < 0) lr_die_internal(__FILE__, __LINE__, "HDF5 call failed: %s", #call); } while (0)

#endif
