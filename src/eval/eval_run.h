/* The `eval` stage: greedy decoding of a benchmark with the SPEC §2
 * evaluation prompt, MPI data-parallel over problems, crash-safe chunks,
 * results and accuracy to /eval/<name> in the run file. */
#ifndef LR_EVAL_RUN_H
#define LR_EVAL_RUN_H

#include "common/mpi_env.h"

#define EVAL_SYSTEM_PROMPT "Please reason step by step, and put your final answer within \\boxed{}."

typedef struct {
    const char *model_dir;
    const char *adapter;   /* PEFT LoRA adapter applied to the model, NULL = none (docs/train.md) */
    const char *benchmark;      /* bundled name or jsonl path */
    const char *question_field; /* NULL = benchmark default */
    const char *answer_field;
    const char *compare;        /* auto | numeric | math */
    const char *data_dir;       /* NULL = automatic */
    const char *system_prompt;
    const char *chat_template;  /* auto | chatml | plain (prompt type spec) */
    const char *prompt_type;    /* NULL/"spec" | qwen25-math-cot | direct | cot (the Qwen2.5-Math toolkit's) */
    long num_shots;             /* -1 = the toolkit's per benchmark (5 for mmlu_stem, else 0) */
    const char *name;           /* NULL = benchmark name */
    const char *out;            /* run file */
    long limit, max_new_tokens, batch, chunk, threads;
    int resume, overwrite, quiet;
    int overlong_wrong; /* a prompt longer than the context: scored wrong instead of an input error */
    const char *config_json, *command_line; /* provenance */
} eval_opts;

/* benchmark "paper": the seven benchmarks of the paper's Table 1 in turn
 * (one model load), groups /eval/<bench> (or /eval/<name>.<bench>), and the
 * table printed by rank 0. Default prompt type there: qwen25-math-cot. */
#define EVAL_PAPER "paper"

/* Runs the evaluation on every rank of the world (collective; one process
 * without MPI when env->use_mpi is 0). Returns the process exit code (0, 1
 * internal, 2 bad input); errors are printed once, by the lowest failing
 * rank. */
int eval_run(const eval_opts *o, const lr_mpi_env *env);

#endif
