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

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    const char *expert = NULL, *amateur = NULL, *problems = NULL, *benchmark = NULL, *out = NULL, *workdir = NULL,
               *targets = "q_proj,v_proj";
    /* -1: unset (the demo and the full run differ; --help shows both real
     * defaults); outside every flag's range, so an explicit negative value
     * is refused, never a default */
    long max_problems = -1, eval_limit = 0, max_new = -1, eval_max_new = -1, batch = 0, threads = 0;
    long samplers = 0, scorers = 0, trainers = 0;
    long max_steps = -1, micro = 8, accum = 2, r = 8, seed = 42, save_every = 100, shuffle_buffer = 256,
         start_after = 64;
    double alpha = 0.2, beta = 0.4, lr = -1, temperature = 0, top_p = 1, store_alpha = 0.01, lora_alpha = 16,
           dropout = 0.05;
    const char *system = NULL, *chat_template = NULL, *question_field = NULL;
    long sample_seed = 0, score_rows = 1024, max_length = 512;
    int skip_bad_lines = 0, recompute = 0;
    int no_eval = 0, resume = 0, overwrite = 0, quiet = 0;
    const arg_def defs[] = {
        {"expert", ARG_STR, &expert, "DIR", "expert model directory", 0, 0, 0, "the bundled demo expert"},
        {"amateur", ARG_STR, &amateur, "DIR", "amateur model directory", 0, 0, 0, "the demo amateur"},
        {"problems", ARG_STR, &problems, "FILE", "training problems, jsonl with 'question'", 0, 0, 0,
         "data/demo/train.jsonl"},
        {"benchmark", ARG_STR, &benchmark, "NAME|FILE", "evaluation benchmark", 0, 0, 0,
         "gsm8k (demo: data/demo/test.jsonl)"},
        {"out", ARG_STR, &out, "FILE", "run file", 0, 0, 0, "run.h5 (demo: demo-run.h5)"},
        {"workdir", ARG_STR, &workdir, "DIR", "the adapter, and the trainers' state while running", 0, 0, 0,
         "<out>.d"},
        {"samplers", ARG_INT, &samplers, "N", "expert-generation ranks (0 = default split)", 0, 1e6, 0},
        {"scorers", ARG_INT, &scorers, "N", "amateur-scoring ranks (0 = default split)", 0, 1e6, 0},
        {"trainers", ARG_INT, &trainers, "N", "LoRA trainer ranks, the last N (0 = a third of the world, >= 1)", 0,
         1e6, 0},
        {"max-problems", ARG_INT, &max_problems, "N", "use the first N problems (0 = all)", 0, 1e12, 0, "0 (demo: 400)"},
        {"max-new-tokens", ARG_INT, &max_new, "N", "expert tokens per trace", 1, 1e9, 0, "128 (demo: 96)"},
        {"question-field", ARG_STR, &question_field, "F", "jsonl field of the training problems' question", 0, 0, 0},
        {"skip-bad-lines", ARG_FLAG, &skip_bad_lines, NULL, "skip and count bad jsonl lines instead of failing", 0, 0,
         0},
        {"system", ARG_STR, &system, "S", "system prompt of the sampled traces", 0, 0, 0,
         "Please reason step by step."},
        {"chat-template", ARG_STR, &chat_template, "NAME", "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"temperature", ARG_FLOAT, &temperature, "T", "expert sampling temperature (0 = greedy)", 0, 1e4, 0},
        {"top-p", ARG_FLOAT, &top_p, "P", "nucleus sampling (with --temperature > 0)", 1e-9, 1, 0},
        {"sample-seed", ARG_INT, &sample_seed, "N", "seed of the expert's sampling", 0, 9e18, 0},
        {"store-alpha", ARG_FLOAT, &store_alpha, "A", "candidates kept per step for a later `select` (<= --alpha)",
         1e-12, 1, 0},
        {"score-rows", ARG_INT, &score_rows, "N", "amateur positions per forward (memory: N x vocab x 4 bytes)", 1, 1e9,
         0},
        {"alpha", ARG_FLOAT, &alpha, "A", "plausible set threshold", 1e-12, 1, 0},
        {"beta", ARG_FLOAT, &beta, "B", "KL selection threshold (nats)", -1e9, 1e9, 0},
        {"lr", ARG_FLOAT, &lr, "LR", "peak learning rate", 0, 10, 0, "5e-05 (demo: 0.0001)"},
        {"max-steps", ARG_INT, &max_steps, "N", "optimizer steps", 1, 1e12, 0, "1000 (demo: 150)"},
        {"micro-batch", ARG_INT, &micro, "M", "samples per forward/backward per trainer rank", 1, 1e6, 0},
        {"grad-accum", ARG_INT, &accum, "G", "micro-batches per optimizer step", 1, 1e6, 0},
        {"lora-r", ARG_INT, &r, "R", "LoRA rank", 1, 4096, 0},
        {"lora-alpha", ARG_FLOAT, &lora_alpha, "A", "LoRA alpha (scale alpha / r, as `train`)", 0, 1e9, 0},
        {"dropout", ARG_FLOAT, &dropout, "P", "dropout on the LoRA input", 0, 0.999, 0},
        {"max-length", ARG_INT, &max_length, "N", "samples with longer inputs are skipped (counted)", 1, 1 << 24, 0},
        {"recompute", ARG_FLAG, &recompute, NULL, "recompute layers in the backward (less memory)", 0, 0, 0},
        {"target-modules", ARG_STR, &targets, "LIST", "LoRA target modules", 0, 0, 0},
        {"seed", ARG_INT, &seed, "S", "training seed (LoRA init, data order, dropout)", 0, 1e15, 0},
        {"shuffle-buffer", ARG_INT, &shuffle_buffer, "M",
         "trainers draw the first epoch through a buffer of M samples (0 = wait for every sample: the same result as "
         "`sample` then `train`)", 0, 1e12, 0},
        {"start-after", ARG_INT, &start_after, "S", "samples in the buffer before the first training step (<= M)", 0,
         1e12, 0},
        {"save-every", ARG_INT, &save_every, "N", "checkpoint every N training steps", 0, 1e12, 0},
        {"no-eval", ARG_FLAG, &no_eval, NULL, "skip the evaluations before and after training", 0, 0, 0},
        {"eval-limit", ARG_INT, &eval_limit, "N", "evaluate the first N benchmark problems (0 = all)", 0, 1e12, 0},
        {"eval-max-new-tokens", ARG_INT, &eval_max_new, "N", "generation budget in eval", 1, 1e9, 0,
         "1024 (demo: 96)"},
        {"batch", ARG_INT, &batch, "B", "sequences decoded together (0 = each stage's default)", 0, 1e6, 0},
        {"threads", ARG_INT, &threads, "N", "CPU threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"resume", ARG_FLAG, &resume, NULL, "continue an interrupted run: each stage resumes its own work", 0, 0, 0},
        {"overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing run file", 0, 0, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "only the final summary", 0, 0, 0},
    };
    const arg_spec spec = {
        "run",
        "The whole LightReasoner pipeline as one MPI job: sampler ranks (expert traces), scorer ranks (amateur "
        "contrast) and trainer ranks (LoRA on the samples as they arrive, through a shuffle buffer) at once, then the "
        "expert's accuracy before and after, all in one run file. Without flags: the bundled demo (data/demo). Run "
        "it as one process or under mpirun/srun.",
        NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);

    if (resume && overwrite) lr_die_input(NULL, "run: --resume and --overwrite exclude each other");

    int demo = !expert && !amateur && !problems;
    char *demo_dir = NULL, buf[4][PATH_MAX];
    if (demo) {
        demo_dir = run_demo_dir();
        if (!demo_dir) lr_die_input("data/demo", "run: the bundled demo was not found (set LR_DATA_DIR to data/)");
        snprintf(buf[0], PATH_MAX, "%s/expert", demo_dir);
        snprintf(buf[1], PATH_MAX, "%s/amateur", demo_dir);
        snprintf(buf[2], PATH_MAX, "%s/train.jsonl", demo_dir);
        snprintf(buf[3], PATH_MAX, "%s/test.jsonl", demo_dir);
        expert = buf[0], amateur = buf[1], problems = buf[2];
        if (!benchmark) benchmark = buf[3];
        if (!out) out = "demo-run.h5";
        /* Demo sizes fit 2 CPU cores in a few minutes; chosen once for
         * time, never tuned toward a gain (docs/pipeline.md). */
        if (max_problems < 0) max_problems = 400;
        if (max_new < 0) max_new = 96;
        if (eval_max_new < 0) eval_max_new = 96;
        if (lr < 0) lr = 1e-4;
        if (max_steps < 0) max_steps = 150;
    } else if (!expert || !amateur || !problems) {
        lr_die_input(NULL, "run: --expert, --amateur and --problems go together (or none of them for the demo)");
    }
    if (!benchmark) benchmark = "gsm8k";
    if (!out) out = "run.h5";
    if (max_problems < 0) max_problems = 0;
    if (max_new < 0) max_new = 128;
    if (eval_max_new < 0) eval_max_new = 1024;
    if (lr < 0) lr = 5e-5;
    if (max_steps < 0) max_steps = 1000;
    char wd[PATH_MAX];
    if (!workdir) {
        snprintf(wd, sizeof wd, "%s.d", out);
        workdir = wd;
    }
    o.expert = expert, o.amateur = amateur, o.problems = problems, o.benchmark = benchmark, o.out = out;
    o.workdir = workdir;
    o.max_problems = max_problems, o.eval_limit = eval_limit, o.max_new_tokens = max_new;
    o.eval_max_new_tokens = eval_max_new, o.batch = batch, o.threads = threads;
    o.alpha = alpha, o.beta = beta, o.lr = lr, o.max_steps = max_steps, o.micro_batch = micro;
    o.grad_accum = accum, o.lora_r = r, o.seed = seed, o.save_every = save_every, o.target_modules = targets;
    o.shuffle_buffer = shuffle_buffer, o.start_after = start_after;
    o.system = system, o.chat_template = chat_template, o.question_field = question_field;
    o.temperature = temperature, o.top_p = top_p, o.store_alpha = store_alpha, o.sample_seed = sample_seed;
    o.score_rows = score_rows, o.skip_bad_lines = skip_bad_lines;
    o.lora_alpha = lora_alpha, o.dropout = dropout, o.max_length = max_length, o.recompute = recompute;
    if (alpha < store_alpha) lr_die_input(NULL, "run: --alpha %g is below --store-alpha %g", alpha, store_alpha);
    o.samplers = samplers, o.scorers = scorers, o.trainers = trainers;
    o.no_eval = no_eval, o.resume = resume, o.overwrite = overwrite, o.quiet = quiet;
    if (shuffle_buffer == 0) o.start_after = 0;
    else if (start_after > shuffle_buffer)
        lr_die_input(NULL, "run: --start-after %ld exceeds --shuffle-buffer %ld", start_after, shuffle_buffer);
    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    int rc = 0;
    if (env.rank == 0 && !resume && !overwrite && !demo && lr_file_exists(out)) {
        lr_error_set(out, "run: the run file exists (--resume continues it, --overwrite replaces it)");
        rc = LR_EXIT_INPUT;
    }
    if ((rc = mpi_env_agree(&env, rc))) {
        free(demo_dir);
        mpi_env_finalize(&env);
        return rc;
    }
    char *cfg = args_to_json(&spec);
    char *cmdline = args_command_line(argc, argv);
    o.config_json = cfg, o.command_line = cmdline;
    if (!quiet && demo && env.rank == 0)
        fprintf(stderr, "run: the bundled demo (%s): expert %s, amateur %s\n", demo_dir, expert, amateur);
    rc = run_job(&o, &env);
    free(cfg);
    free(cmdline);
    free(demo_dir);
    mpi_env_finalize(&env);
    return rc;
}
