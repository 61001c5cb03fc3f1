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
    int32_t *ids;  /* scratch (cap) */
    float *w;
    size_t cap;
} lr_samples_writer;

/* Creates /samples in file (it must not exist). */
void samples_writer_open(lr_samples_writer *s, hid_t file, const lr_method *m);
/* One stored step: its row of /divergence, its row of /traces and the step
 * itself; a row of /samples when the method makes a sample of it. */
void samples_writer_step(lr_samples_writer *s, int64_t row, int64_t trace, const lr_scored_step *st);
/* Writes the closing offset and the attributes; closes the group. */
void samples_writer_close(lr_samples_writer *s);

#endif
