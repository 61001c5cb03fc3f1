#define _POSIX_C_SOURCE 200809L
#include "common/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/mpi_env.h"

void progress_init(lr_progress *p, const char *label, long total, long already_done, int quiet) {
    p->label = label;
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(2);
    const char *iv = getenv("LR_PROGRESS_INTERVAL");
    p->interval = iv && *iv ? atof(iv) : 10.0;
    if (p->tty) p->interval = 0.2;
    p->t0 = p->last = lr_now();
    p->done0 = already_done;
    p->drawn = 0;
}

double progress_elapsed(const lr_progress *p) { return lr_now() - p->t0; }

static void fmt_duration(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void progress_update(lr_progress *p, long done, int force, const char *fmt, ...) {
    if (p->quiet) return;
    double now = lr_now();
    if (!force && now - p->last < p->interval) return;
    p->last = now;
    char extra[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(extra, sizeof extra, fmt, ap);
        va_end(ap);
    }
    double el = now - p->t0;
    long fresh = done - p->done0;
    char eta[32], elapsed[32];
    if (fresh > 0 && done < p->total) fmt_duration(eta, sizeof eta, el / (double)fresh * (double)(p->total - done));
    else if (done >= p->total) snprintf(eta, sizeof eta, "0s");
    else snprintf(eta, sizeof eta, "?");
    fmt_duration(elapsed, sizeof elapsed, el);
    double pct = p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0;
    /* Plain lines (logs) start with the wall-clock time, so a Slurm log
     * says when each line was written; the redrawn TTY line does not. */
    char stamp[32] = "";
    if (!p->tty) {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S ", &tm);
    }
    fprintf(stderr, "%s%s%s: %ld/%ld (%.1f%%)%s%s | elapsed %s | ETA %s%s", p->tty ? "\r\033[K" : "", stamp, p->label,
            done, p->total, pct, extra[0] ? " | " : "", extra, elapsed, eta, p->tty ? "" : "\n");
    fflush(stderr);
    p->drawn = p->tty;
}

void progress_end(lr_progress *p) {
    if (p->quiet || !p->drawn) return;
    fputc('\n', stderr);
    fflush(stderr);
    p->drawn = 0;
}
