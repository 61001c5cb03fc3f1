/* lightreasoner: one binary, one subcommand per pipeline stage (SPEC §3). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/signals.h"
#include "common/signals.h"
#include "model/backend.h"
#include "version.h"

const command_entry lr_commands[] = {
    {"tokenize", cmd_tokenize, "text -> token ids (one line per input)"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"tensors", cmd_tensors, "list and validate the tensors of a safetensors file or model directory"},
    {"generate", cmd_generate, "generate text from a model directory"},
    {"logprobs", cmd_logprobs, "teacher-forced per-position log-probs to HDF5"},
    {"sample", cmd_sample, "sampling stage: expert traces + amateur contrast -> run file"},
    {"select", cmd_select, "re-select samples from a run file with new alpha/beta"},
    {"train", cmd_train, "LoRA fine-tuning from a run file"},
    {"export", cmd_export, "write a PEFT adapter directory from a run file checkpoint"},
    {"merge", cmd_merge, "merge a LoRA adapter into a model directory"},
    {"eval", cmd_eval, "accuracy on a benchmark"},
    {"run", cmd_run, "the whole pipeline in one MPI job"},
    {"inspect", cmd_inspect, "human summary of a run file"},
    {"sweep", cmd_sweep, "sweep helper: task count, task settings, task files, aggregation"},
};
const int lr_n_commands = (int)(sizeof lr_commands / sizeof lr_commands[0]);

static void usage(FILE *f) {
    fprintf(f,
            "usage: lightreasoner <command> [options]\n\n"
            "LightReasoner: a small amateur model shows a large expert model where its\n"
            "reasoning is distinctive; the expert is LoRA-tuned on just those steps.\n\ncommands:\n");
    for (int i = 0; i < lr_n_commands; i++)
        fprintf(f, "  %-12s %s\n", lr_commands[i].name, lr_commands[i].summary);
    fprintf(f, "\n'lightreasoner <command> --help' describes each command.\n"
               "'lightreasoner --version' prints the version and git commit.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("lightreasoner %s (git %s)\n", LR_VERSION, LR_GIT_COMMIT);
#ifdef LR_HAVE_CUDA
        printf("CUDA: compiled in (the CUDA backend: --device cuda|auto); CPU path: %s kernels + OpenMP\n",
               lr_cpu_isa_name());
#else
        printf("CUDA: not compiled in; compute: CPU (%s kernels + OpenMP)\n", lr_cpu_isa_name());
#endif
        printf("CPU kernels: %s (chosen at run time; LR_CPU_ISA=avx512|avx2|generic forces one)\n",
               lr_cpu_isa_name());
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    lr_signals_install(); /* SIGTERM/SIGUSR1: checkpoint and exit 3 (common/signals.h) */
    lr_signals_install(); /* SIGTERM/SIGUSR1: checkpoint and exit 3 (common/signals.h) */
    for (int i = 0; i < lr_n_commands; i++) {
        if (strcmp(lr_commands[i].name, cmd) != 0) continue;
        return lr_commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "lightreasoner: error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
