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
#include "sampler/sample_stage.h"
#include "trainer/trainer.h"

/* The stages' own options plus what only `run` has. The job sets what it
 * owns in the stages' copies (roles, threads, resume, quiet, the trainers'
 * stream and paths); everything else goes to the stages as given. */
typedef struct {
    sample_opts sample; /* expert, amateur, problems, out, the sampling and contrast flags;
                         * system, chat_template, question_field: NULL = the stage's default */
    train_opts train;   /* the LoRA and optimiser flags (train.alpha <= 0: 2 x r) */
    const char *benchmark, *workdir;
    long eval_limit, eval_max_new_tokens;
    long batch;         /* sequences decoded together in sampling and eval (0: each stage's default) */
    long threads, trainers;
    int no_eval, resume, overwrite, quiet;
    const char *config_json, *command_line;
} run_opts;

/* The defaults of a full run: the stages' defaults (sample_opts_default,
 * train_opts_default), trainers drawing through a shuffle buffer of 256
 * that starts after 64 samples, eval with 1024 new tokens. */
run_opts run_opts_default(void);

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
