/* `lightreasoner export`: a checkpoint of /train as a PEFT adapter
 * directory (adapter_model.safetensors + adapter_config.json). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "trainer/peft_adapter.h"
#include "trainer/train_h5.h"

int cmd_export(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *base = NULL;
    long step = -1;
    int quiet = 0;
    const arg_def defs[] = {
        {"run", ARG_STR, &run, "FILE", "run file with /train", 0, 0, 1},
        {"step", ARG_INT, &step, "N", "checkpoint of optimizer step N", 0, 1e15, 0, "the latest"},
        {"out", ARG_STR, &out, "DIR", "adapter directory to write", 0, 0, 1},
        {"base-model", ARG_STR, &base, "NAME|DIR", "base_model_name_or_path to record", 0, 0, 0,
         "the model the run was trained on, as given to `sample`/`run`"},
        {"quiet", ARG_FLAG, &quiet, NULL, "print nothing on success", 0, 0, 0},
    };
    const arg_spec spec = {"export", "Write a /train checkpoint of a run file as a PEFT LoRA adapter directory.", NULL,
                           defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    int64_t got = -1;
    char *saved_base = NULL;
    lr_lora *a = train_h5_load_checkpoint(run, step, &got, &saved_base);
    if (!a) lr_die_last();
    if (peft_adapter_save(out, a, base ? base : saved_base) != 0) lr_die_last();
    if (!quiet) fprintf(stderr, "export: %s step %lld -> %s\n", run, (long long)got, out);
    free(saved_base);
    lora_free(a);
    return 0;
}
