/* `lightreasoner select`: rebuild /samples of a run file for a new alpha
 * (>= the stored store-alpha) and beta from the stored candidates, without
 * a model. The file is rewritten under a temporary name and renamed, so an
 * interruption leaves the old file intact. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "io/runfile.h"
#include "method/method.h"

int cmd_select(int argc, char **argv) {
    const char *run = NULL;
    double alpha = 0.2, beta = 0.4;
    const char *select = NULL, *labels = NULL; /* NULL: the default rule (kl, contrast) */
    long select_seed = 42;
    int quiet = 0, sft = 0;
    const arg_def defs[] = {
        {"run", ARG_STR, &run, "FILE", "run file written by `sample`", 0, 0, 1},
        {"alpha", ARG_FLOAT, &alpha, "A", "plausible set: p_E(v) >= A * max p_E (A >= the run's store-alpha)", 1e-12, 1,
         0},
        {"beta", ARG_FLOAT, &beta, "B", "a step is selected when KL >= B (nats)", -1e9, 1e9, 0},
        {"select", ARG_STR, &select, "RULE",
         "kl (KL >= beta), random (per trace as many steps as kl, at random) or all (every finite step)", 0, 0, 0,
         "kl"},
        {"labels", ARG_STR, &labels, "RULE", "contrast (SPEC soft labels) or onehot (the expert's own token)", 0, 0, 0,
         "contrast"},
        {"sft", ARG_FLAG, &sft, NULL, "the SFT control: --select random --labels onehot", 0, 0, 0},
        {"select-seed", ARG_INT, &select_seed, "N", "seed of --select random (per problem)", 0, 9e18, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "print nothing on success", 0, 0, 0},
    };
    const arg_spec spec = {"select",
                           "Re-select the training samples of a run file: steps with KL >= beta, soft labels over "
                           "the plausible set at alpha, rebuilt from the stored candidates (no model needed).",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    lr_method m = method_make(alpha, beta);
    if (method_set_rules(&m, select, labels, sft, (uint64_t)select_seed, "select") != 0) lr_die_last();
    char *cmdline = args_command_line(argc, argv);
    int64_t n_samples = 0, n_steps = 0;
    int rc = runfile_select(run, &m, cmdline, &n_samples, &n_steps);
    free(cmdline);
    if (rc != 0) lr_die_last();
    if (!quiet)
        fprintf(stderr, "select: %s: %lld of %lld steps selected (%.2f%%) at alpha %g, beta %g (--select %s --labels %s)\n",
                run, (long long)n_samples, (long long)n_steps,
                n_steps ? 100.0 * (double)n_samples / (double)n_steps : 0.0, alpha, beta, method_select_name(&m),
                method_labels_name(&m));
    return 0;
}
