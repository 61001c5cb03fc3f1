/* A hyperparameter sweep (docs/slurm.md): a JSON spec -> the list of tasks
 * (one Slurm array task each), their settings and the flags they pass to
 * `select` and `train`.
 *
 *   {"grid": {"beta": [0.2, 0.4, 0.8], "lr": [5e-5, 1e-4]}, "fixed": {"max_steps": 100}}
 *       -> 6 tasks, the last key varying fastest (as itertools.product)
 *   {"list": [{"beta": 0.2, "lr": 1e-4}, {"beta": 0.8, "seed": 7}]}   (or a bare array)
 *       -> one task per entry; a key an entry lacks keeps the command's default
 *
 * Keys: alpha, beta (select); lr, seed, max_steps, lora_r, lora_alpha,
 * dropout, weight_decay, micro_batch, grad_accum (train). */
#ifndef LR_SWEEP_SPEC_H
#define LR_SWEEP_SPEC_H

#include <stdio.h>

#define SWEEP_MAX_KEYS 16
#define SWEEP_MAX_TASKS 100000

typedef struct {
    int n_tasks, n_keys;
    const char *keys[SWEEP_MAX_KEYS]; /* static names from the key table */
    double *values;                   /* (n_tasks, n_keys); NaN = not set for that task */
    char *json;                       /* the spec as read (for the record) */
} sweep_spec;

/* Reads and validates path; -1 + lr_error(path) when malformed. */
int sweep_spec_load(const char *path, sweep_spec *s);
void sweep_spec_free(sweep_spec *s);
/* Prints task i as shell assignments: index=, one line per key, and
 * select_flags='...' / train_flags='...' (flags for the set keys). */
void sweep_spec_print_task(const sweep_spec *s, int i, FILE *out);
/* "beta=0.4 lr=0.0001" (the set keys of task i) into buf. */
void sweep_spec_label(const sweep_spec *s, int i, char *buf, size_t n);

#endif
