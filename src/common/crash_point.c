/* Crash points for tests (crash_point.h). */
#include "common/crash_point.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lr_crash_point_armed(const char *point, long k) {
    const char *v = getenv("LR_TEST_DIE_AT");
    const size_t n = strlen(point);
    if (!v || strncmp(v, point, n) != 0) return 0;
    if (k < 0) return v[n] == 0;
    return v[n] == ':' && atol(v + n + 1) == k;
}

void lr_crash_point(const char *point, long k) {
    if (!lr_crash_point_armed(point, k)) return;
    if (k < 0) fprintf(stderr, "lightreasoner: test hook: SIGKILL at %s\n", point);
    else fprintf(stderr, "lightreasoner: test hook: SIGKILL at %s %ld\n", point, k);
    fflush(stderr);
    raise(SIGKILL);
}
