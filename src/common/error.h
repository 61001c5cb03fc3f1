/* Error reporting shared by every stage.
 *
 * Two kinds of failure, two exit codes (SPEC §3):
 *   - bad input (a file, a flag, a jsonl line): library code records the
 *     problem with lr_error_set() and returns nonzero; the CLI prints
 *     "lightreasoner: error: <file>: <what>" and exits 2;
 *   - internal failure (allocation, MPI, HDF5, CUDA): CHECK-style macros in
 *     check.h print file:line and exit 1.
 */
#ifndef LR_ERROR_H
#define LR_ERROR_H

#include <stdarg.h>

#define LR_EXIT_OK 0
#define LR_EXIT_INTERNAL 1
#define LR_EXIT_INPUT 2

#if defined(__GNUC__)
#define LR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LR_PRINTF(a, b)
#endif

/* Records "<where>: <what>" as the current error (thread-local). `where` is
 * usually a file path, or "file:line" for text formats; NULL for none. */
void lr_error_set(const char *where, const char *fmt, ...) LR_PRINTF(2, 3);
void lr_error_vset(const char *where, const char *fmt, va_list ap);
/* The recorded message, "" when none. */
const char *lr_error_msg(void);
void lr_error_clear(void);

/* Print "lightreasoner: error: <recorded message>" and exit 2. */
_Noreturn void lr_die_last(void);
/* Print "lightreasoner: error: <where>: <what>" and exit 2. */
_Noreturn void lr_die_input(const char *where, const char *fmt, ...) LR_PRINTF(2, 3);
/* Print "lightreasoner: internal error: <file>:<line>: <what>" and exit 1. */
_Noreturn void lr_die_internal(const char *file, int line, const char *fmt, ...) LR_PRINTF(3, 4);
/* "lightreasoner: warning: ..." on stderr, unless the command's --quiet
 * switched warnings off (lr_warn_quiet, set by args_parse). */
void lr_warn(const char *fmt, ...) LR_PRINTF(1, 2);
void lr_warn_quiet(int quiet);

#endif
