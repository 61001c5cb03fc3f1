/* /train in the run file (SPEC §4; docs/train.md): the per-step log,
 * checkpoints of the LoRA tensors under PEFT names, and the resume state
 * (AdamW moments, step, RNG state, data cursor).
 *
 * Crash safety: the run file is never modified in place. Each save writes
 * a complete new file (every other object copied unchanged, /train
 * rebuilt) under "<run>.train.tmp.<pid>", fsyncs it and renames it over the
 * run file, so a kill at any moment leaves either the previous or the new
 * file, both complete. Only the trainer's rank 0 saves. */
#ifndef LR_TRAIN_H5_H
#define LR_TRAIN_H5_H

#include <stdint.h>

#include "trainer/adamw.h"
#include "trainer/lora.h"

#define LR_TRAIN_SCHEMA "lightreasoner.train"
#define LR_TRAIN_SCHEMA_VERSION 1

/* Per optimizer step, rank-0 view of the global batch. */
typedef struct {
    int64_t n, cap;
    int64_t *step;       /* 1-based optimizer step */
    double *loss;        /* Σ KL / global batch */
    double *lr;          /* learning rate the step used */
    double *grad_norm;   /* global norm before clipping */
    int8_t *skipped;     /* 1: non-finite loss or gradient, no update */
    int64_t *samples;    /* samples in the global batch */
    int64_t *tokens;     /* input tokens in the global batch */
    double *seconds;     /* wall time of the step */
    double *tokens_per_s;
} tr_log;

void tr_log_push(tr_log *l, int64_t step, double loss, double lr, double gnorm, int skipped, int64_t samples,
                 int64_t tokens, double seconds);
void tr_log_free(tr_log *l);

/* Counters of a training run (the resume state besides tensors). */
typedef struct {
    int64_t step;    /* optimizer steps done */
    int64_t cursor;  /* data stream position: step · global batch */
    uint64_t seed;   /* RNG state = (seed, step): all draws are counter-based */
    int64_t n_bad;   /* steps skipped for non-finite values */
    int64_t bad_run; /* of them, consecutive at the end */
} tr_counters;

/* Descriptive attributes of /train. */
typedef struct {
    const char *config_json, *command_line, *resume_key, *base_model;
    const char *lr_schedule; /* JSON segments (trainer/lr_schedule.h); NULL = not written */
    int64_t n_samples, n_samples_file, n_skipped_long, max_length;
    int64_t global_batch, micro_batch, grad_accum, max_steps, world;
    int64_t shuffle_buffer, start_after; /* first-epoch buffer (train_data.h); 0 = none */
    int streamed;                        /* samples arrived while training ran (`run`) */
    const char *frozen_weights;          /* LR_TRAIN_WEIGHTS in effect: f32, bf16, bf16-round */
    int n_layers, d, q_dim, kv_dim, inter; /* model dimensions (checkpoints are read without the model) */
} tr_meta;

/* Rewrites run_path with /train = meta + log + state (a, opt, c), keeping
 * the earlier checkpoints up to c->step and adding one for c->step when
 * checkpoint. complete marks a finished run. 0 ok; -1 + lr_error. */
int train_h5_save(const char *run_path, const tr_meta *meta, const lr_lora *a, const adamw_state *opt,
                  const tr_counters *c, const tr_log *log, int checkpoint, int complete);

/* *has_train = 1 when the run file has /train; *complete its status. */
int train_h5_probe(const char *run_path, int *has_train, int *complete, int64_t *steps_done);

/* Restores the resume state into a (shapes as saved), opt, c and log.
 * Refuses (-1 + lr_error) when /train's resume key differs from
 * resume_key (the run's configuration changed). */
int train_h5_load_state(const char *run_path, const char *resume_key, lr_lora *a, adamw_state *opt, tr_counters *c,
                        tr_log *log);

/* The adapter of checkpoint `step` (< 0: the latest). *step_out, *base_model
 * (malloc'd) filled. NULL + lr_error when there is none. */
lr_lora *train_h5_load_checkpoint(const char *run_path, int64_t step, int64_t *step_out, char **base_model);

/* Creates (atomically) an empty run file at path that holds nothing but
 * the schema attributes: the trainer ranks of `run` save /train there
 * while the samples are still arriving; the join copies it into the run
 * file. 0 or -1 + lr_error. */
int train_h5_create_state(const char *path);

/* Removes "<run>.train.tmp.*" files a killed save left behind. */
void train_h5_clean_tmp(const char *run_path);

#endif
