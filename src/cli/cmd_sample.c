/* `lightreasoner sample`: the sampling stage (SPEC §2-4, issue 4) as a
 * command: flags, then src/sampler/sample_stage.h on every rank. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "sampler/sample_stage.h"

int cmd_sample(int argc, char **argv) {
    sample_opts o = sample_opts_default();
    const arg_def defs[] = {
        {"expert", ARG_STR, &o.expert, "DIR", "expert model directory (Hugging Face layout)", 0, 0, 1},
        {"amateur", ARG_STR, &o.amateur, "DIR", "amateur model directory (same tokenizer on the shared ids)", 0, 0, 1},
        {"problems", ARG_STR, &o.problems, "FILE", "problems, one JSON object per line (e.g. GSM8K train.jsonl)", 0, 0, 1},
        {"question-field", ARG_STR, &o.question_field, "F", "field holding the question", 0, 0, 0},
        {"answer-field", ARG_STR, &o.answer_field, "F", "field holding the gold answer ('' = none)", 0, 0, 0},
        {"id-field", ARG_STR, &o.id_field, "F", "field holding the problem id (default: the problem index)", 0, 0, 0},
        {"max-problems", ARG_INT, &o.max_problems, "N", "use the first N problems (0 = all)", 0, 1e9, 0},
        {"skip-bad-lines", ARG_FLAG, &o.skip_bad_lines, NULL, "skip and count bad jsonl lines instead of failing", 0, 0, 0},
        {"alpha", ARG_FLOAT, &o.alpha, "A", "plausible set: p_E(v) >= A * max p_E", 1e-12, 1, 0},
        {"beta", ARG_FLOAT, &o.beta, "B", "a step is selected when KL >= B (nats)", -1e9, 1e9, 0},
        {"store-alpha", ARG_FLOAT, &o.store_alpha, "A", "candidates kept per step for `select` (alpha >= this)", 1e-12, 1, 0},
        {"select", ARG_STR, &o.select, "RULE",
         "kl (KL >= beta), random (per trace as many steps as kl, at random) or all (every finite step)", 0, 0, 0,
         "kl"},
        {"labels", ARG_STR, &o.labels, "RULE", "contrast (SPEC soft labels) or onehot (the expert's own token)", 0, 0, 0,
         "contrast"},
        {"sft", ARG_FLAG, &o.sft, NULL, "the SFT control: --select random --labels onehot", 0, 0, 0},
        {"select-seed", ARG_INT, &o.select_seed, "N", "seed of --select random (per problem)", 0, 9e18, 0},
        {"max-new-tokens", ARG_INT, &o.max_new_tokens, "N", "expert tokens per trace", 1, 1e7, 0},
        {"system", ARG_STR, &o.system, "S", "system prompt", 0, 0, 0},
        {"chat-template", ARG_STR, &o.chat_template, "NAME", "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"temperature", ARG_FLOAT, &o.temperature, "T", "0 = greedy", 0, 1e4, 0},
        {"top-p", ARG_FLOAT, &o.top_p, "P", "nucleus sampling (with --temperature > 0)", 1e-9, 1, 0},
        {"sample-seed", ARG_INT, &o.seed, "N", "sampling seed (per chunk and sequence streams)", 0, 9e18, 0},
        {"seed", ARG_INT, &o.seed, "N", "sampling seed", 0, 9e18, 0, NULL, "sample-seed"},
        {"batch", ARG_INT, &o.batch, "B", "problems per chunk = sequences generated together", 1, 1e6, 0},
        {"out", ARG_STR, &o.out, "FILE", "run file to write (shards go to FILE.shards/ meanwhile)", 0, 0, 0},
        {"resume", ARG_FLAG, &o.resume, NULL, "continue an interrupted run (or finish a complete one)", 0, 0, 0},
        {"overwrite", ARG_FLAG, &o.overwrite, NULL, "replace an existing run file / interrupted run", 0, 0, 0},
        {"samplers", ARG_INT, &o.samplers, "N", "sampler ranks (0 = half the world, rounded up)", 0, 1e7, 0},
        {"scorers", ARG_INT, &o.scorers, "N", "scorer ranks (0 = half the world, rounded down)", 0, 1e7, 0},
        {"threads", ARG_INT, &o.threads, "N", "threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"score-rows", ARG_INT, &o.score_rows, "N", "amateur positions per forward (memory: N * vocab * 4 bytes)", 1, 1e9, 0},
        {"transport", ARG_STR, &o.transport, "MODE",
         "what samplers send scorers: rows (every step's expert logits row), ids (token ids only: each scorer also "
         "holds the expert and reads it teacher-forced) or auto (ids when the sampler computes on a GPU, else rows)",
         0, 0, 0},
        {"quiet", ARG_FLAG, &o.quiet, NULL, "no progress on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"sample",
                           "Sampling stage: the expert answers each problem, the amateur reads the same ids in one "
                           "teacher-forced pass, every generated step gets the KL contrast and candidates, and the "
                           "steps with KL >= beta become soft-label samples in an HDF5 run file.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    if (o.alpha < o.store_alpha)
        lr_die_input("sample", "--alpha %g is below --store-alpha %g", o.alpha, o.store_alpha);
    if (o.resume && o.overwrite) lr_die_input("sample", "--resume and --overwrite exclude each other");
    if (sample_opts_resolve_rules(&o, "sample") != 0) lr_die_last();
    if (sample_opts_check_transport(&o) != 0) lr_die_last();
    /* at its default --transport is left out of the recorded flags: run files as before it existed */
    char *args_json = args_json_drop(args_to_json(&spec), "transport", "auto");
    char *cmdline = args_command_line(argc, argv);

    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    sample_stage s;
    int rc = sample_stage_setup(&s, &o, args_json, cmdline, &env);
    if (rc == 0 && s.kind == RUN_COMPLETE) {
        /* nothing to sample; bring /samples to this alpha/beta when they differ */
        if (env.rank == 0 && sample_stage_reselect(&s) != 0) rc = LR_EXIT_INPUT;
        rc = mpi_env_agree(&env, rc);
    } else if (rc == 0) {
        rc = sample_stage_run(&s); /* LR_EXIT_INTERRUPTED after a SIGTERM/SIGUSR1 */
        if (rc == 0 && env.rank == 0 && sample_stage_join(&s, NULL) != 0) rc = LR_EXIT_INPUT;
        rc = mpi_env_agree(&env, rc);
    }
    sample_stage_free(&s);
    free(args_json);
    free(cmdline);
    mpi_env_finalize(&env);
    return rc;
}
