/* The training run behind `lightreasoner train` (and the trainer ranks of
 * `run`): data-parallel LoRA fine-tuning on the samples of a run file
 * (SPEC §2, §4).
 *
 * One optimizer step consumes a global batch of B = micro_batch ×
 * grad_accum samples from the data stream (train_data.h), whatever the
 * number of trainer ranks R: rank i takes the contiguous share
 * [i·B/R, (i+1)·B/R) of the batch and runs it in micro-batches of at most
 * micro_batch; gradients (already scaled by 1/B) are summed with one
 * MPI_Allreduce over the flat buffer. So the optimisation does not depend
 * on R (per-step losses agree to fp32 summation order), and with R = 1 it
 * is exactly the reference's per-device 8 × accumulation 2. */
#ifndef LR_TRAINER_H
#define LR_TRAINER_H

#include "common/mpi_env.h"
#include "trainer/train_data.h"

typedef struct {
    const char *run_path;
    const char *model_dir;    /* NULL: the run file's expert */
    const char *init_adapter; /* start from this PEFT adapter instead of a fresh init */
    const char *export_dir;   /* write the final adapter here (PEFT) */
    const char *targets;      /* "q_proj,v_proj" */
    long r;
    double alpha, dropout;
    int use_rslora;
    double lr, beta1, beta2, eps, weight_decay, max_grad_norm;
    long micro_batch, grad_accum, max_steps, seed, max_length, save_every, max_bad_steps, threads;
    int resume, overwrite, recompute, shuffle, quiet;
    const char *config_json, *command_line;
    long shuffle_buffer, start_after; /* first epoch through a shuffle buffer (train_data.h); 0 = none */
    int pack_traces;          /* --pack traces: one pass per trace, losses at its selected steps; batches of
                               * whole traces, also from a stream (train_pack.h) */
    const char *state_path;   /* where /train is saved and resumed from; NULL = run_path */
    tr_feed_fn feed;          /* streaming samples (`run`); NULL = read /samples of run_path */
    void *feed_ctx;
    const char *data_key;     /* streaming: what identifies the data for --resume (the sampling configuration) */
} train_opts;

/* SPEC §2's defaults for every option. */
train_opts train_opts_default(void);

/* The trainer's environment (LR_TRAIN_WEIGHTS, train_net.h): 0, or -1 with
 * lr_error_set, so that `train` and `run` refuse a bad value before any
 * work (trainer_run would, but `run` trains after sampling). */
int trainer_check_env(void);

/* Runs (or resumes) training. Returns the exit code: 0 ok, 2 bad input
 * (the message is printed once), 1 training stopped on non-finite steps. */
int trainer_run(const train_opts *o, const lr_mpi_env *tc);

#endif
