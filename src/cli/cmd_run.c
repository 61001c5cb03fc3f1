/* `lightreasoner run`: the whole pipeline in one job (src/pipeline). With
 * no flags it runs the bundled demo (data/demo): sample the demo expert and
 * amateur on the demo training problems, train, and print the expert's
 * accuracy on the demo test set before and after. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "common/error.h"
#include "pipeline/run_chain.h"

/* Started by mpirun/srun with several ranks? `run` is the orchestrator: it
 * must run once and hand the ranks to its stages through --launcher. */
static int launched_world(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return atoi(v);
    }
    return 1;
}

int cmd_run(int argc, char **argv) {
    run_chain_opts o = {0};
    const char *expert = NULL, *amateur = NULL, *problems = NULL, *benchmark = NULL, *out = NULL, *workdir = NULL,
               *launcher = "", *targets = "q_proj,v_proj";
    long max_problems = -1, eval_limit = 0, max_new = -1, eval_max_new = -1, batch = 0, threads = 0;
    long samplers = 0, scorers = 0, trainers = 0;
    long max_steps = -1, micro = 8, accum = 2, r = 8, seed = 42, save_every = 100;
    double alpha = 0.2, beta = 0.4, lr = -1;
    int no_eval = 0, resume = 0, overwrite = 0, quiet = 0;
    const arg_def defs[] = {
        {"expert", ARG_STR, &expert, "DIR", "expert model directory (default: the bundled demo expert)", 0, 0, 0},
        {"amateur", ARG_STR, &amateur, "DIR", "amateur model directory (default: the demo amateur)", 0, 0, 0},
        {"problems", ARG_STR, &problems, "FILE", "training problems, jsonl with 'question' (default: demo train)", 0, 0,
         0},
        {"benchmark", ARG_STR, &benchmark, "NAME|FILE", "evaluation benchmark (default: demo test; gsm8k with --expert)",
         0, 0, 0},
        {"out", ARG_STR, &out, "FILE", "run file (default: run.h5; demo: demo-run.h5)", 0, 0, 0},
        {"workdir", ARG_STR, &workdir, "DIR", "adapter and merged model (default: <out>.d)", 0, 0, 0},
        {"launcher", ARG_STR, &launcher, "CMD",
         "prefix of every stage, e.g. 'srun' or 'mpirun -np 8' (default: none = one process per stage)", 0, 0, 0},
        {"samplers", ARG_INT, &samplers, "N", "sampler ranks of the sample stage (0 = its default split)", 0, 1e6, 0},
        {"scorers", ARG_INT, &scorers, "N", "scorer ranks of the sample stage (0 = its default split)", 0, 1e6, 0},
        {"trainers", ARG_INT, &trainers, "N", "trainer ranks: the train stage runs as '<launcher> -n N' (0 = all)", 0,
         1e6, 0},
        {"max-problems", ARG_INT, &max_problems, "N", "use the first N problems (0 = all; demo: 400)", -1, 1e12, 0},
        {"max-new-tokens", ARG_INT, &max_new, "N", "expert tokens per trace (default 128; demo 96)", -1, 1e9, 0},
        {"alpha", ARG_FLOAT, &alpha, "A", "plausible set threshold", 1e-12, 1, 0},
        {"beta", ARG_FLOAT, &beta, "B", "KL selection threshold (nats)", -1e9, 1e9, 0},
        {"lr", ARG_FLOAT, &lr, "LR", "peak learning rate (default 5e-5; demo 1e-4)", -1, 10, 0},
        {"max-steps", ARG_INT, &max_steps, "N", "optimizer steps (default 1000; demo 150)", -1, 1e12, 0},
        {"micro-batch", ARG_INT, &micro, "M", "samples per forward/backward per trainer rank", 1, 1e6, 0},
        {"grad-accum", ARG_INT, &accum, "G", "micro-batches per optimizer step", 1, 1e6, 0},
        {"lora-r", ARG_INT, &r, "R", "LoRA rank (lora_alpha = 2R)", 1, 4096, 0},
        {"target-modules", ARG_STR, &targets, "LIST", "LoRA target modules", 0, 0, 0},
        {"seed", ARG_INT, &seed, "S", "training seed (LoRA init, data order, dropout)", 0, 1e15, 0},
        {"save-every", ARG_INT, &save_every, "N", "checkpoint every N training steps", 0, 1e12, 0},
        {"no-eval", ARG_FLAG, &no_eval, NULL, "skip the evaluations before and after training", 0, 0, 0},
        {"eval-limit", ARG_INT, &eval_limit, "N", "evaluate the first N benchmark problems (0 = all)", 0, 1e12, 0},
        {"eval-max-new-tokens", ARG_INT, &eval_max_new, "N", "generation budget in eval (default 1024; demo 96)", -1,
         1e9, 0},
        {"batch", ARG_INT, &batch, "B", "sequences decoded together (0 = each stage's default)", 0, 1e6, 0},
        {"threads", ARG_INT, &threads, "N", "CPU threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"resume", ARG_FLAG, &resume, NULL, "continue an interrupted run: each stage resumes its own work", 0, 0, 0},
        {"overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing run file", 0, 0, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "only the final summary", 0, 0, 0},
    };
    const arg_spec spec = {
        "run",
        "The whole LightReasoner pipeline in one job: sample (expert traces + amateur contrast) -> eval before -> "
        "LoRA train -> merge -> eval after, all results in one run file. Without flags: the bundled demo "
        "(data/demo), printing the expert's accuracy before and after. Start it once (not under mpirun/srun); "
        "--launcher gives each stage the job's ranks.",
        NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);

    int world = launched_world();
    if (world > 1)
        lr_die_input(NULL,
                     "run: started as %d MPI ranks; start `run` once (outside mpirun/srun) and pass "
                     "--launcher 'srun' (or 'mpirun -np N') so each stage gets the ranks",
                     world);
    if (resume && overwrite) lr_die_input(NULL, "run: --resume and --overwrite exclude each other");

    int demo = !expert && !amateur && !problems;
    char *demo_dir = NULL, buf[4][PATH_MAX];
    if (demo) {
        demo_dir = run_chain_demo_dir();
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
    if (!resume && !overwrite && !demo) {
        FILE *f = fopen(out, "rb");
        if (f) {
            fclose(f);
            lr_die_input(out, "run: the run file exists (--resume continues it, --overwrite replaces it)");
        }
    }
    char wd[PATH_MAX];
    if (!workdir) {
        snprintf(wd, sizeof wd, "%s.d", out);
        workdir = wd;
    }
    o.expert = expert, o.amateur = amateur, o.problems = problems, o.benchmark = benchmark, o.out = out;
    o.workdir = workdir, o.launcher = launcher;
    o.max_problems = max_problems, o.eval_limit = eval_limit, o.max_new_tokens = max_new;
    o.eval_max_new_tokens = eval_max_new, o.batch = batch, o.threads = threads;
    o.alpha = alpha, o.beta = beta, o.lr = lr, o.max_steps = max_steps, o.micro_batch = micro;
    o.grad_accum = accum, o.lora_r = r, o.seed = seed, o.save_every = save_every, o.target_modules = targets;
    o.samplers = samplers, o.scorers = scorers, o.trainers = trainers;
    o.no_eval = no_eval, o.resume = resume, o.overwrite = overwrite, o.quiet = quiet;
    if (!quiet && demo)
        fprintf(stderr, "run: the bundled demo (%s): expert %s, amateur %s\n", demo_dir, expert, amateur);
    int rc = run_chain(&o);
    free(demo_dir);
    return rc;
}
