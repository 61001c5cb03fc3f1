/* Progress lines on stderr for long work (SPEC §3): on a terminal one line
 * redrawn in place (at most 5 times a second); otherwise (Slurm logs) a
 * plain line every `interval` seconds (10 s, or $LR_PROGRESS_INTERVAL),
 * prefixed with the local wall-clock time "YYYY-MM-DD HH:MM:SS".
 * Quiet silences everything. */
#ifndef LR_PROGRESS_H
#define LR_PROGRESS_H

#include "common/error.h"

typedef struct {
    const char *label;
    long total;
    int quiet, tty;
    double interval;
    double t0, last;
    long done0; /* done at start (resumed work), excluded from rates */
    int drawn;  /* a TTY line is on screen */
} lr_progress;

void progress_init(lr_progress *p, const char *label, long total, long already_done, int quiet);
/* Prints "<label>: done/total (pct) | <extra> | ETA ..." when due (or when
 * force). The rate for the ETA counts the work done since init. */
void progress_update(lr_progress *p, long done, int force, const char *fmt, ...) LR_PRINTF(4, 5);
/* Ends the TTY line. */
void progress_end(lr_progress *p);
/* Seconds since init. */
double progress_elapsed(const lr_progress *p);

#endif
