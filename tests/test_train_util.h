/* Helpers of the trainer tests: a minimal run file (what `train` reads:
 * root attributes, /traces, /samples) from arrays, and small readers. */
#ifndef LR_TEST_TRAIN_UTIL_H
#define LR_TEST_TRAIN_UTIL_H

#include <stdint.h>

#include "io/safetensors.h"

typedef struct {
    int n_traces;
    const int32_t *tokens;       /* all traces back to back */
    const int64_t *trace_offsets; /* (n_traces + 1) */
    const int32_t *prompt_len;   /* (n_traces) */
    int n_samples;
    const int64_t *trace;        /* (n_samples) */
    const int32_t *step;         /* (n_samples) */
    const int64_t *lab_off;      /* (n_samples + 1) */
    const int32_t *lab_ids;
    const float *lab_w;
    const char *expert;          /* model directory recorded in the file */
    int vocab;
    int with_samples;            /* 0: no /samples group */
} test_run_data;

/* Writes the run file; exits on failure. */
void test_write_runfile(const char *path, const test_run_data *d);
/* The AdamW golden's data set (tests/data/train/goldens.safetensors) as a run file. */
void test_write_golden_runfile(const char *path);
/* /train/log/<col> (doubles) of a run file; returns count, *out malloc'd. -1 on failure. */
long test_read_log(const char *path, const char *col, double **out);
/* A fresh empty directory under the working directory ("<name>"), removed first. */
const char *test_fresh_dir(const char *name);

#endif
