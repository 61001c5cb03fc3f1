/* Stage child processes (see stage.h). */
#include "pipeline/stage.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"

void stage_argv_add(stage_argv *a, const char *s) {
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        a->v = realloc(a->v, (size_t)a->cap * sizeof *a->v);
        if (!a->v) lr_die_internal(__FILE__, __LINE__, "out of memory");
    }
    a->v[a->n] = strdup(s);
    if (!a->v[a->n]) lr_die_internal(__FILE__, __LINE__, "out of memory");
    a->v[++a->n] = NULL;
}

void stage_argv_addf(stage_argv *a, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    stage_argv_add(a, buf);
}

void stage_argv_free(stage_argv *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

char *stage_self_exe(void) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return strdup("lightreasoner");
    buf[n] = 0;
    return strdup(buf);
}

int stage_run(const char *launcher, const stage_argv *args, int quiet) {
    stage_argv full = {0};
    int has_launcher = launcher && *launcher;
    if (has_launcher) { /* split on blanks: "mpirun -np 4 --oversubscribe" */
        char *copy = strdup(launcher), *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) stage_argv_add(&full, w);
        free(copy);
    }
    char *exe = stage_self_exe();
    stage_argv_add(&full, exe);
    free(exe);
    for (int i = 0; i < args->n; i++) stage_argv_add(&full, args->v[i]);
    if (!quiet) {
        fprintf(stderr, "run: $");
        for (int i = 0; i < full.n; i++) fprintf(stderr, " %s", full.v[i]);
        fprintf(stderr, "\n");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) lr_die_internal(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (!has_launcher) setenv("LR_MPI", "0", 1);
        execvp(full.v[0], full.v);
        fprintf(stderr, "lightreasoner: error: %s: cannot start: %s\n", full.v[0], strerror(errno));
        _exit(2);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) lr_die_internal(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
    stage_argv_free(&full);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}
