/* Writer of /samples shared by the join and by `select`: applies SPEC §2's
 * selection (KL >= beta) and labels (plausible set at alpha, contrast
 * softmax) to each step's stored candidates. Internal to src/io/runfile*. */
#ifndef LR_RUNFILE_SAMPLES_H
#define LR_RUNFILE_SAMPLES_H

#include <hdf5.h>
#include <stdint.h>

#include "io/runfile_h5.h"

typedef struct {
    hid_t group;
    h5u_app trace, step, problem, row, kl, label_offsets, label_ids, label_weights;
    double alpha, beta;
    int64_t n_samples, n_labels, n_steps;
    int32_t *ids;  /* scratch (cap) */
    float *w;
    size_t cap;
} lr_samples_writer;

/* Creates /samples in file (it must not exist). */
void samples_writer_open(lr_samples_writer *s, hid_t file, double alpha, double beta);
/* One step: its divergence row, trace, step index, problem, KL and the n
 * candidates (ids, expert and amateur log-probs). */
void samples_writer_step(lr_samples_writer *s, int64_t row, int64_t trace, int32_t step, int64_t problem, double kl,
                         const int32_t *ids, const float *lpe, const float *lpa, int n);
/* Writes the closing offset and the attributes; closes the group. */
void samples_writer_close(lr_samples_writer *s);

#endif
