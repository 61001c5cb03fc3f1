/* `lightreasoner run`: the pipeline as one job — sample → eval (before) →
 * train → merge → eval (after) — each stage a child process of this
 * binary (under --launcher when given), all results in one run file.
 * docs/pipeline.md explains why the stages run in sequence. */
#ifndef LR_RUN_CHAIN_H
#define LR_RUN_CHAIN_H

typedef struct {
    const char *expert, *amateur, *problems, *benchmark, *out, *workdir, *launcher;
    long max_problems, eval_limit, max_new_tokens, eval_max_new_tokens, batch, threads;
    double alpha, beta, lr;
    long samplers, scorers, trainers;
    long max_steps, micro_batch, grad_accum, lora_r, seed, save_every;
    const char *target_modules;
    int no_eval, resume, overwrite, quiet;
} run_chain_opts;

/* Runs the chain. Returns the exit code (0, 2 bad input, 1 internal, or a
 * failing stage's code) with the failing stage named on stderr. */
int run_chain(const run_chain_opts *o);

/* The bundled demo directory (data/demo next to the executable or under
 * $LR_DATA_DIR), malloc'd; NULL when not found. */
char *run_chain_demo_dir(void);

#endif
