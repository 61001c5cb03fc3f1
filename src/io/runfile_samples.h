/* Writer of /samples shared by the join and by `select`: the samples the
 * method (method/method.h: selection, labels) makes of each stored step.
 * Internal to src/io/runfile*. */
#ifndef LR_RUNFILE_SAMPLES_H
#define LR_RUNFILE_SAMPLES_H

#include <hdf5.h>
#include <stdint.h>

#include "io/runfile_h5.h"
#include "method/method.h"

typedef struct {
    hid_t group;
    h5u_app trace, step, problem, row, kl, label_offsets, label_ids, label_weights;
    lr_method method;
    int64_t n_samples, n_labels, n_steps;
    int64_t n_selected_kl; /* steps with KL >= beta (what --select random matches) */
    int32_t *ids;  /* scratch (cap) */
    float *w;
    size_t cap;
    /* --select random decides a trace's samples once all its steps are in:
     * its steps are held here (copies of their candidates) until the trace
     * changes or the writer closes. The other rules write each step at once. */
    int64_t cur_trace;
    int n_held, cap_held;
    lr_scored_step *held;  /* (cap_held); candidate pointers set at the flush */
    int64_t *held_row;     /* (cap_held) row of /divergence */
    int64_t *held_cand;    /* (cap_held + 1) offsets into held_ids/lpe/lpa */
    double *held_kl;       /* (cap_held) */
    uint8_t *mask;         /* (cap_held) */
    int32_t *scratch;      /* (cap_held) */
    int32_t *held_ids;     /* (cap_cand) */
    float *held_lpe, *held_lpa;
    size_t cap_cand;
} lr_samples_writer;

/* Creates /samples in file (it must not exist). */
void samples_writer_open(lr_samples_writer *s, hid_t file, const lr_method *m);
/* One stored step: its row of /divergence, its row of /traces and the step
 * itself; a row of /samples when the method makes a sample of it. Steps
 * come trace by trace, in step order (a trace-level rule relies on it). */
void samples_writer_step(lr_samples_writer *s, int64_t row, int64_t trace, const lr_scored_step *st);
/* Writes the closing offset and the attributes; closes the group. */
void samples_writer_close(lr_samples_writer *s);

#endif
