#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/check.h"

int test_failures = 0;
int test_checks = 0;

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *test_data_dir(void) { return env_or("LR_TEST_DATA", "tests/data"); }
const char *test_repo_data_dir(void) { return env_or("LR_REPO_DATA", "data"); }
const char *test_bin(void) { return env_or("LR_BIN", "lightreasoner"); }

const char *test_data_path(const char *rel) {
    static char bufs[8][4096];
    static int k = 0;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", test_data_dir(), rel);
    return b;
}

int test_run(const char *cmd, char **out) {
    size_t n = strlen(cmd) + 16;
    char *full = malloc(n);
    snprintf(full, n, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) {
        if (out) *out = strdup(""); /* callers print *out in their messages */
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) buf = xrealloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, test_failures, test_checks);
        return 1;
    }
    if (test_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, test_checks);
    return 0;
}

int test_sh(char **out, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *o = NULL;
    int rc = test_run(cmd, &o);
    if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "$ %s\n[rc %d]\n%s", cmd, rc, o ? o : "");
    if (out) *out = o;
    else free(o);
    return rc;
}
