/* `lightreasoner run`: the whole pipeline as ONE MPI job (SPEC §1, §3).
 *
 * World ranks [0, S) are the sampling group (scorers, then samplers: the
 * sampling stage of src/sampler on its own communicator) and ranks [S, W)
 * the trainer group (data-parallel LoRA on its own communicator). Both
 * work at once: trainers read each scored chunk as soon as its shard is on
 * disk (run_feed.h) and draw batches through a shuffle buffer that starts
 * after a threshold (train_data.h), so the order is deterministic and the
 * result does not depend on timing or rank counts. A single process plays
 * every role in turn (sample, then train) and gets the same result.
 *
 * Then rank 0 joins the shards and the trainers' /train into the run file,
 * and every rank evaluates the expert before and after (with the adapter)
 * into /eval/before and /eval/after of the same file. docs/pipeline.md. */
#ifndef LR_RUN_JOB_H
#define LR_RUN_JOB_H

#include "common/mpi_env.h"

typedef struct {
    const char *expert, *amateur, *problems, *benchmark, *out, *workdir;
    long max_problems, eval_limit, max_new_tokens, eval_max_new_tokens, batch, threads;
    double alpha, beta, lr;
    long samplers, scorers, trainers;
    long max_steps, micro_batch, grad_accum, lora_r, seed, save_every;
    long shuffle_buffer, start_after;
    const char *target_modules;
    /* sampling (sample_stage.h) */
    const char *system, *chat_template, *question_field;
    double temperature, top_p, store_alpha;
    long sample_seed, score_rows;
    int skip_bad_lines;
    /* training (trainer.h) */
    double lora_alpha, dropout;
    long max_length;
    int recompute;
    int no_eval, resume, overwrite, quiet;
    const char *config_json, *command_line;
} run_opts;

/* The role split for a world of W ranks: returns the sampling group size
 * S (trainers = W - S; W = 1: 1, one process plays all roles) and the
 * samplers/scorers inside it; 0 counts mean defaults (W/3 trainers, at
 * least one). -1 + lr_error for impossible counts. */
int run_split_roles(int world, long *samplers, long *scorers, long *trainers);

/* Runs the job on every rank of world. Returns the agreed exit code. */
int run_job(const run_opts *o, const lr_mpi_env *world);

/* The bundled demo directory (data/demo next to the executable or under
 * $LR_DATA_DIR), malloc'd; NULL when not found. */
char *run_demo_dir(void);

#endif
