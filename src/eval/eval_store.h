/* /eval/<name> in the run file (SPEC §4): one row per problem, ordered by
 * problem index, plus the accuracy and the provenance as attributes.
 * Written by one process (rank 0) after every chunk is done. */
#ifndef LR_EVAL_STORE_H
#define LR_EVAL_STORE_H

typedef struct {
    const char *question, *gold, *output, *extracted;
    long line; /* 1-based line in the benchmark file */
    int method, finish, n_tokens, prompt_tokens;
    int correct, gold_unparseable;
} eval_row;

typedef struct {
    const char *name, *benchmark, *benchmark_file, *model, *system_prompt, *chat_template, *compare;
    const char *prompt_type; /* "spec" or the toolkit's template name */
    long num_shots;
    long max_new_tokens, batch, chunk, n_ranks;
    long n_problems, n_correct, n_gold_unparseable, n_no_answer;
    double accuracy, ci_low, ci_high, wall_seconds;
    const char *config_json, *command_line;
} eval_summary;

#define EVAL_SCHEMA "lightreasoner.eval/1"

/* Whether /eval/<name> exists in the file (a missing file: 0). -1 +
 * lr_error when the file exists but is not a readable HDF5 file. */
int eval_store_probe(const char *path, const char *name, int *exists);

/* Adds /eval/<name> (replacing an existing one only when overwrite),
 * creating the file when absent. Other groups are left as they are. The
 * group is built under a hidden name and renamed when complete, so a crash
 * never leaves a half-written /eval/<name>. 0, or -1 + lr_error. */
int eval_store_write(const char *path, const eval_summary *s, const eval_row *rows, int overwrite);

/* Reads back the headline numbers of an existing group. */
int eval_store_read_summary(const char *path, const char *name, long *n_problems, long *n_correct, double *acc,
                            double *lo, double *hi);

#endif
