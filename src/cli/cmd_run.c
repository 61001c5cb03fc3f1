/* `lightreasoner run`: the whole pipeline in one job (src/pipeline). With
 * no flags it runs the bundled demo (data/demo): sample the demo expert and
 * amateur on the demo training problems, train, and print the expert's
 * accuracy on the demo test set before and after. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/mpi_env.h"
#include "pipeline/run_job.h"

/* The demo's sizes (data/demo): they fit 2 CPU cores in a few minutes. */
#define DEMO_OUT "demo-run.h5"
#define DEMO_MAX_PROBLEMS 400
#define DEMO_MAX_NEW_TOKENS 96
#define DEMO_EVAL_MAX_NEW_TOKENS 96
#define DEMO_LR 1e-4
#define DEMO_MAX_STEPS 150

int cmd_run(int argc, char **argv) {
    const run_opts full = run_opts_default(); /* the defaults of a full run (the stages' own) */
    run_opts o = full;
    sample_opts *so = &o.sample;
    train_opts *to = &o.train;
    /* -1 / NULL: unset. The demo and the full run differ in these (--help
     * shows both real defaults); -1 is outside every flag's range, so an
     * explicit negative value is refused, never a default. */
    so->expert = so->amateur = so->problems = so->out = NULL;
    so->max_problems = so->max_new_tokens = o.eval_max_new_tokens = to->max_steps = -1;
    to->lr = -1;
    /* NULL: the sampling stage's default (recorded as null in the run file's config) */
    so->system = so->chat_template = so->question_field = NULL;
    const char *pack = "samples";
    char shown[5][64];
    snprintf(shown[0], sizeof shown[0], "%ld (demo: %d)", full.sample.max_problems, DEMO_MAX_PROBLEMS);
    snprintf(shown[1], sizeof shown[1], "%ld (demo: %d)", full.sample.max_new_tokens, DEMO_MAX_NEW_TOKENS);
    snprintf(shown[2], sizeof shown[2], "%g (demo: %g)", full.train.lr, DEMO_LR);
    snprintf(shown[3], sizeof shown[3], "%ld (demo: %d)", full.train.max_steps, DEMO_MAX_STEPS);
    snprintf(shown[4], sizeof shown[4], "%ld (demo: %d)", full.eval_max_new_tokens, DEMO_EVAL_MAX_NEW_TOKENS);
    char shown_out[64];
    snprintf(shown_out, sizeof shown_out, "%s (demo: %s)", full.sample.out, DEMO_OUT);
    const arg_def defs[] = {
        {"expert", ARG_STR, &so->expert, "DIR", "expert model directory", 0, 0, 0, "the bundled demo expert"},
        {"amateur", ARG_STR, &so->amateur, "DIR", "amateur model directory", 0, 0, 0, "the demo amateur"},
        {"problems", ARG_STR, &so->problems, "FILE", "training problems, jsonl with 'question'", 0, 0, 0,
         "data/demo/train.jsonl"},
        {"benchmark", ARG_STR, &o.benchmark, "NAME|FILE", "evaluation benchmark", 0, 0, 0,
         "gsm8k (demo: data/demo/test.jsonl)"},
        {"out", ARG_STR, &so->out, "FILE", "run file", 0, 0, 0, shown_out},
        {"workdir", ARG_STR, &o.workdir, "DIR", "the adapter, and the trainers' state while running", 0, 0, 0,
         "<out>.d"},
        {"samplers", ARG_INT, &so->samplers, "N", "expert-generation ranks (0 = default split)", 0, 1e6, 0},
        {"scorers", ARG_INT, &so->scorers, "N", "amateur-scoring ranks (0 = default split)", 0, 1e6, 0},
        {"trainers", ARG_INT, &o.trainers, "N", "LoRA trainer ranks, the last N (0 = a third of the world, >= 1)", 0,
         1e6, 0},
        {"max-problems", ARG_INT, &so->max_problems, "N", "use the first N problems (0 = all)", 0, 1e12, 0, shown[0]},
        {"max-new-tokens", ARG_INT, &so->max_new_tokens, "N", "expert tokens per trace", 1, 1e9, 0, shown[1]},
        {"question-field", ARG_STR, &so->question_field, "F", "jsonl field of the training problems' question", 0, 0,
         0},
        {"skip-bad-lines", ARG_FLAG, &so->skip_bad_lines, NULL, "skip and count bad jsonl lines instead of failing", 0,
         0, 0},
        {"system", ARG_STR, &so->system, "S", "system prompt of the sampled traces", 0, 0, 0, full.sample.system},
        {"chat-template", ARG_STR, &so->chat_template, "NAME",
         "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"temperature", ARG_FLOAT, &so->temperature, "T", "expert sampling temperature (0 = greedy)", 0, 1e4, 0},
        {"top-p", ARG_FLOAT, &so->top_p, "P", "nucleus sampling (with --temperature > 0)", 1e-9, 1, 0},
        {"sample-seed", ARG_INT, &so->seed, "N", "seed of the expert's sampling", 0, 9e18, 0},
        {"store-alpha", ARG_FLOAT, &so->store_alpha, "A", "candidates kept per step for a later `select` (<= --alpha)",
         1e-12, 1, 0},
        {"score-rows", ARG_INT, &so->score_rows, "N", "amateur positions per forward (memory: N x vocab x 4 bytes)", 1,
         1e9, 0},
        {"transport", ARG_STR, &so->transport, "MODE",
         "what samplers send scorers: rows (expert logits rows), ids (token ids: the scorers also hold the expert and "
         "read it teacher-forced) or auto (ids when the sampler computes on a GPU, else rows)", 0, 0, 0},
        {"alpha", ARG_FLOAT, &so->alpha, "A", "plausible set threshold", 1e-12, 1, 0},
        {"beta", ARG_FLOAT, &so->beta, "B", "KL selection threshold (nats)", -1e9, 1e9, 0},
        {"select", ARG_STR, &so->select, "RULE",
         "kl (KL >= beta), random (per trace as many steps as kl, at random) or all (every finite step)", 0, 0, 0,
         "kl"},
        {"labels", ARG_STR, &so->labels, "RULE", "contrast (SPEC soft labels) or onehot (the expert's own token)", 0,
         0, 0, "contrast"},
        {"sft", ARG_FLAG, &so->sft, NULL, "the SFT control: --select random --labels onehot", 0, 0, 0},
        {"select-seed", ARG_INT, &so->select_seed, "N", "seed of --select random (per problem)", 0, 9e18, 0},
        {"lr", ARG_FLOAT, &to->lr, "LR", "peak learning rate", 0, 10, 0, shown[2]},
        {"max-steps", ARG_INT, &to->max_steps, "N", "optimizer steps", 1, 1e12, 0, shown[3]},
        {"micro-batch", ARG_INT, &to->micro_batch, "M", "samples per forward/backward per trainer rank", 1, 1e6, 0},
        {"grad-accum", ARG_INT, &to->grad_accum, "G", "micro-batches per optimizer step", 1, 1e6, 0},
        {"lora-r", ARG_INT, &to->r, "R", "LoRA rank", 1, 4096, 0},
        {"lora-alpha", ARG_FLOAT, &to->alpha, "A", "LoRA alpha (scale alpha / r, as `train`)", 0, 1e9, 0},
        {"dropout", ARG_FLOAT, &to->dropout, "P", "dropout on the LoRA input", 0, 0.999, 0},
        {"max-length", ARG_INT, &to->max_length, "N", "samples with longer inputs are skipped (counted)", 1, 1 << 24,
         0},
        {"recompute", ARG_FLAG, &to->recompute, NULL, "recompute layers in the backward (less memory)", 0, 0, 0},
        {"target-modules", ARG_STR, &to->targets, "LIST", "LoRA target modules", 0, 0, 0},
        {"seed", ARG_INT, &to->seed, "S", "training seed (LoRA init, data order, dropout)", 0, 1e15, 0},
        {"shuffle-buffer", ARG_INT, &to->shuffle_buffer, "M",
         "trainers draw the first epoch through a buffer of M samples (0 = wait for every sample: the same result as "
         "`sample` then `train`)", 0, 1e12, 0},
        {"start-after", ARG_INT, &to->start_after, "S", "samples in the buffer before the first training step (<= M)",
         0, 1e12, 0},
        {"pack", ARG_STR, &pack, "samples|traces",
         "traces: trainers draw whole traces (with their selected steps) through the shuffle buffer and run one pass "
         "per trace with a loss at each selected step (~steps-per-trace x fewer tokens; docs/train.md)", 0, 0, 0},
        {"save-every", ARG_INT, &to->save_every, "N", "checkpoint every N training steps", 0, 1e12, 0},
        {"no-eval", ARG_FLAG, &o.no_eval, NULL, "skip the evaluations before and after training", 0, 0, 0},
        {"eval-limit", ARG_INT, &o.eval_limit, "N", "evaluate the first N benchmark problems (0 = all)", 0, 1e12, 0},
        {"eval-max-new-tokens", ARG_INT, &o.eval_max_new_tokens, "N", "generation budget in eval", 1, 1e9, 0,
         shown[4]},
        {"batch", ARG_INT, &o.batch, "B", "sequences decoded together (0 = each stage's default)", 0, 1e6, 0},
        {"threads", ARG_INT, &o.threads, "N", "CPU threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"resume", ARG_FLAG, &o.resume, NULL, "continue an interrupted run: each stage resumes its own work", 0, 0, 0},
        {"overwrite", ARG_FLAG, &o.overwrite, NULL, "replace an existing run file", 0, 0, 0},
        {"quiet", ARG_FLAG, &o.quiet, NULL, "only the final summary", 0, 0, 0},
    };
    const arg_spec spec = {
        "run",
        "The whole LightReasoner pipeline as one MPI job: sampler ranks (expert traces), scorer ranks (amateur "
        "contrast) and trainer ranks (LoRA on the samples as they arrive, through a shuffle buffer) at once, then the "
        "expert's accuracy before and after, all in one run file. Without flags: the bundled demo (data/demo). Run "
        "it as one process or under mpirun/srun.",
        NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);

    if (o.resume && o.overwrite) lr_die_input(NULL, "run: --resume and --overwrite exclude each other");
    if (sample_opts_resolve_rules(so, "run") != 0) lr_die_last();
    if (sample_opts_check_transport(so) != 0) lr_die_last();
    if (strcmp(pack, "samples") && strcmp(pack, "traces"))
        lr_die_input("--pack", "'%s' is not samples or traces", pack);
    to->pack_traces = !strcmp(pack, "traces");
    if (trainer_check_env() != 0) lr_die_last();

    int demo = !so->expert && !so->amateur && !so->problems;
    char *demo_dir = NULL, buf[4][PATH_MAX];
    if (demo) {
        demo_dir = run_demo_dir();
        if (!demo_dir) lr_die_input("data/demo", "run: the bundled demo was not found (set LR_DATA_DIR to data/)");
        snprintf(buf[0], PATH_MAX, "%s/expert", demo_dir);
        snprintf(buf[1], PATH_MAX, "%s/amateur", demo_dir);
        snprintf(buf[2], PATH_MAX, "%s/train.jsonl", demo_dir);
        snprintf(buf[3], PATH_MAX, "%s/test.jsonl", demo_dir);
        so->expert = buf[0], so->amateur = buf[1], so->problems = buf[2];
        if (!o.benchmark) o.benchmark = buf[3];
        if (!so->out) so->out = DEMO_OUT;
        /* Demo sizes fit 2 CPU cores in a few minutes; chosen once for
         * time, never tuned toward a gain (docs/pipeline.md). */
        if (so->max_problems < 0) so->max_problems = DEMO_MAX_PROBLEMS;
        if (so->max_new_tokens < 0) so->max_new_tokens = DEMO_MAX_NEW_TOKENS;
        if (o.eval_max_new_tokens < 0) o.eval_max_new_tokens = DEMO_EVAL_MAX_NEW_TOKENS;
        if (to->lr < 0) to->lr = DEMO_LR;
        if (to->max_steps < 0) to->max_steps = DEMO_MAX_STEPS;
    } else if (!so->expert || !so->amateur || !so->problems) {
        lr_die_input(NULL, "run: --expert, --amateur and --problems go together (or none of them for the demo)");
    }
    if (!o.benchmark) o.benchmark = "gsm8k";
    if (!so->out) so->out = full.sample.out;
    if (so->max_problems < 0) so->max_problems = full.sample.max_problems;
    if (so->max_new_tokens < 0) so->max_new_tokens = full.sample.max_new_tokens;
    if (o.eval_max_new_tokens < 0) o.eval_max_new_tokens = full.eval_max_new_tokens;
    if (to->lr < 0) to->lr = full.train.lr;
    if (to->max_steps < 0) to->max_steps = full.train.max_steps;
    char wd[PATH_MAX];
    if (!o.workdir) {
        snprintf(wd, sizeof wd, "%s.d", so->out);
        o.workdir = wd;
    }
    if (so->alpha < so->store_alpha)
        lr_die_input(NULL, "run: --alpha %g is below --store-alpha %g", so->alpha, so->store_alpha);
    if (to->shuffle_buffer > 0 && to->start_after > to->shuffle_buffer)
        lr_die_input(NULL, "run: --start-after %ld exceeds --shuffle-buffer %ld", to->start_after, to->shuffle_buffer);
    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    int rc = 0;
    if (env.rank == 0 && !o.resume && !o.overwrite && !demo && lr_file_exists(so->out)) {
        lr_error_set(so->out, "run: the run file exists (--resume continues it, --overwrite replaces it)");
        rc = LR_EXIT_INPUT;
    }
    if ((rc = mpi_env_agree(&env, rc))) {
        free(demo_dir);
        mpi_env_finalize(&env);
        return rc;
    }
    char *cfg = args_to_json(&spec);
    cfg = args_json_drop(cfg, "pack", "samples"); /* at its default: the recorded flags of before it existed */
    cfg = args_json_drop(cfg, "transport", "auto"); /* at its default: the recorded flags of before it existed */
    char *cmdline = args_command_line(argc, argv);
    o.config_json = cfg, o.command_line = cmdline;
    if (!o.quiet && demo && env.rank == 0)
        fprintf(stderr, "run: the bundled demo (%s): expert %s, amateur %s\n", demo_dir, so->expert, so->amateur);
    rc = run_job(&o, &env);
    free(cfg);
    free(cmdline);
    free(demo_dir);
    mpi_env_finalize(&env);
    return rc;
}
