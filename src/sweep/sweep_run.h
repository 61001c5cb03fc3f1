/* The files of a sweep (docs/slurm.md): a small per-task run file that
 * shares the base sampling run through HDF5 external links, and the
 * aggregation of all tasks into one table (CSV + a /sweep group) and an SVG
 * figure. */
#ifndef LR_SWEEP_RUN_H
#define LR_SWEEP_RUN_H

#include <hdf5.h>
#include <stdio.h>

#include "sweep/sweep_spec.h"

/* Creates out (atomically; refuses an existing file unless overwrite) with
 * the base run file's root attributes and an external link to each of its
 * top-level groups except /samples, /train, /eval and /sweep, which the
 * task makes itself (`select` rebuilds /samples from the linked
 * /divergence). The link names base by its absolute path. 0 or -1 + lr_error. */
int sweep_prepare(const char *base, const char *out, int overwrite);

typedef struct {
    const char *dir;       /* the task run files: dir/task-<i>.h5 */
    const char *eval_name; /* the /eval group to report (default "after") */
    const char *out;       /* the HDF5 file with /sweep (created or replaced) */
    const char *csv;       /* NULL: none */
    const char *svg;       /* NULL: none */
} sweep_agg_opts;

/* Reads every task's settings, samples selected, final loss (mean of the
 * last tenth of /train/log/loss) and accuracy with its Wilson interval;
 * writes the table and the figure. A task file that is missing or lacks a
 * part gives NaN there (and a warning). 0 or -1 + lr_error. */
int sweep_aggregate(const sweep_spec *s, const sweep_agg_opts *o);

/* The /sweep table of f for `inspect` (nothing when absent). */
void sweep_print(hid_t f, FILE *out);

#endif
