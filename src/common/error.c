#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_msg[2048];

void lr_error_vset(const char *where, const char *fmt, va_list ap) {
    size_t off = 0;
    if (where && *where) {
        int n = snprintf(g_msg, sizeof g_msg, "%s: ", where);
        off = n < 0 ? 0 : (size_t)n < sizeof g_msg ? (size_t)n : sizeof g_msg - 1;
    }
    vsnprintf(g_msg + off, sizeof g_msg - off, fmt, ap);
}

void lr_error_set(const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lr_error_vset(where, fmt, ap);
    va_end(ap);
}

const char *lr_error_msg(void) { return g_msg; }
void lr_error_clear(void) { g_msg[0] = 0; }

_Noreturn void lr_die_last(void) {
    fprintf(stderr, "lightreasoner: error: %s\n", g_msg[0] ? g_msg : "unknown error");
    exit(LR_EXIT_INPUT);
}

_Noreturn void lr_die_input(const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lr_error_vset(where, fmt, ap);
    va_end(ap);
    lr_die_last();
}

_Noreturn void lr_die_internal(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lightreasoner: internal error: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(LR_EXIT_INTERNAL);
}

static int warn_quiet;
void lr_warn_quiet(int quiet) { warn_quiet = quiet; }

void lr_warn(const char *fmt, ...) {
    if (warn_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("lightreasoner: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
