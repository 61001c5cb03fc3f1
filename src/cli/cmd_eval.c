/* `lightreasoner eval`: accuracy on a benchmark -> /eval/<name> in a run file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "eval/eval_run.h"

int cmd_eval(int argc, char **argv) {
    const char *adapter = NULL; /* PEFT LoRA adapter directory */
    const char *model = NULL, *benchmark = NULL, *qfield = NULL, *afield = NULL, *compare = "auto";
    const char *system = EVAL_SYSTEM_PROMPT, *tpl = "auto", *name = NULL, *out = NULL, *data_dir = NULL;
    const char *prompt_type = NULL;
    long limit = 0, max_new = 1024, batch = 8, chunk = 0, threads = 0, shots = -1;
    int resume = 0, overwrite = 0, quiet = 0;
    const char *overlong = "wrong";
    const arg_def defs[] = {
        {"model", ARG_STR, &model, "DIR", "Hugging Face model directory", 0, 0, 1},
        {"adapter", ARG_STR, &adapter, "DIR",
         "PEFT LoRA adapter applied to the model (ours or peft's; docs/train.md)", 0, 0, 0},
        {"benchmark", ARG_STR, &benchmark, "NAME|FILE",
         "gsm8k, math500, svamp, asdiv, minerva_math, olympiadbench, mmlu_stem (bundled), 'paper' (all seven, "
         "the paper's Table 1) or a .jsonl file",
         0, 0, 1},
        {"prompt-type", ARG_STR, &prompt_type, "T",
         "spec (SPEC system prompt + chat template; default) or the Qwen2.5-Math toolkit's qwen25-math-cot | "
         "direct | cot, which also read questions/golds and judge answers as the toolkit does (default for "
         "'paper': qwen25-math-cot)",
         0, 0, 0},
        {"num-shots", ARG_INT, &shots, "N", "few-shot demonstrations for toolkit prompt types", -1, 64, 0,
         "the toolkit's: 5 for mmlu_stem, else 0"},
        {"question-field", ARG_STR, &qfield, "F[,F2]",
         "jsonl field(s) holding the question, joined by a space (default: per benchmark; 'question')", 0, 0, 0},
        {"answer-field", ARG_STR, &afield, "F",
         "jsonl field holding the gold answer; text after '####' is used when present (default: 'answer')", 0, 0,
         0},
        {"compare", ARG_STR, &compare, "MODE",
         "auto (toolkit for toolkit prompt types and the three new benchmarks, math for math500, else numeric) | "
         "numeric | math (LaTeX-normalised) | toolkit (the toolkit's math_equal)",
         0, 0, 0},
        {"limit", ARG_INT, &limit, "N", "evaluate the first N problems only (0 = all)", 0, 1e12, 0},
        {"max-new-tokens", ARG_INT, &max_new, "N", "generation budget per problem", 1, 1 << 20, 0},
        {"batch", ARG_INT, &batch, "B", "sequences decoded together per rank", 1, 4096, 0},
        {"chunk", ARG_INT, &chunk, "N",
         "problems per persisted chunk, the unit of work and of --resume (0 = 4 x --batch)", 0, 1 << 24, 0},
        {"system", ARG_STR, &system, "TEXT", "system prompt", 0, 0, 0},
        {"chat-template", ARG_STR, &tpl, "T", "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"overlong", ARG_STR, &overlong, "WHAT",
         "a prompt longer than the model's context: wrong (default: not generated, counted and scored wrong, as "
         "sample skips and counts them) | error (exit 2)", 0, 0,
         0},
        {"name", ARG_STR, &name, "NAME",
         "result group /eval/NAME (default: the benchmark name; with 'paper': /eval/NAME.<benchmark>)", 0, 0, 0},
        {"out", ARG_STR, &out, "FILE", "run file (HDF5; created when absent, other groups kept)", 0, 0, 1},
        {"resume", ARG_FLAG, &resume, NULL, "continue an interrupted eval of the same settings", 0, 0, 0},
        {"overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing /eval/NAME and discard partial results", 0, 0,
         0},
        {"data-dir", ARG_STR, &data_dir, "DIR",
         "where bundled benchmarks live (default: $LR_DATA_DIR, else data/ next to the program)", 0, 0, 0},
        {"threads", ARG_INT, &threads, "N", "CPU threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "no progress on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"eval",
                           "Greedy accuracy on a benchmark (SPEC evaluation prompt, \\boxed{} answers, Wilson 95% CI), "
                           "MPI data-parallel over problems; results to /eval/NAME in the run file.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    if (resume && overwrite) lr_die_input("eval", "--resume and --overwrite exclude each other");
    if (strcmp(overlong, "error") && strcmp(overlong, "wrong"))
        lr_die_input("--overlong", "expected error or wrong, got '%s'", overlong);

    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    char *cfg = args_to_json(&spec);
    char *cmdline = args_command_line(argc, argv);
    eval_opts o = {
        .model_dir = model,
        .adapter = adapter,
        .benchmark = benchmark,
        .question_field = qfield,
        .answer_field = afield,
        .compare = compare,
        .data_dir = data_dir,
        .system_prompt = system,
        .chat_template = tpl,
        .prompt_type = prompt_type,
        .num_shots = shots,
        .name = name,
        .out = out,
        .limit = limit,
        .max_new_tokens = max_new,
        .batch = batch,
        .chunk = chunk,
        .threads = threads,
        .resume = resume,
        .overwrite = overwrite,
        .quiet = quiet,
        .overlong_wrong = !strcmp(overlong, "wrong"),
        .config_json = cfg,
        .command_line = cmdline,
    };
    int rc = eval_run(&o, &env);
    free(cfg);
    free(cmdline);
    mpi_env_finalize(&env);
    return rc;
}
