/* SIGTERM / SIGUSR1 -> graceful stop at the next unit boundary (signals.h). */
#define _POSIX_C_SOURCE 200809L
#include "common/signals.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/check.h"

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
    if (!g_stop) g_stop = sig;
}

void lr_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* blocking reads/writes and MPI's polls carry on */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int lr_stop_requested(void) { return (int)g_stop; }

void lr_stop_note(int sig) {
    if (!g_stop) g_stop = sig;
}

const char *lr_stop_signal_name(void) {
    switch (g_stop) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
    }
}

int lr_stop_any(int use_mpi, MPI_Comm comm) {
    int mine = (int)g_stop, any = mine;
    if (use_mpi) MPI_CHECK(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm));
    if (any && !g_stop) g_stop = any; /* this rank stops for the others' signal */
    return any;
}

void lr_signal_test_hook(const char *unit, long k) {
    const char *v = getenv("LR_TEST_SIGNAL_AT");
    size_t n = strlen(unit);
    if (v && !strncmp(v, unit, n) && v[n] == ':' && atol(v + n + 1) == k) {
        fprintf(stderr, "lightreasoner: test hook: SIGTERM after %s %ld\n", unit, k);
        fflush(stderr);
        raise(SIGTERM);
    }
}

int lr_resume_drop_empty(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) return 0;
    return remove(path) == 0;
}
