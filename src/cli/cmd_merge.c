/* `lightreasoner merge`: W + (alpha/r)·B·A into a new Hugging Face model
 * directory (src/trainer/lora_merge.h). */
#include <stddef.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "trainer/lora_merge.h"

int cmd_merge(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL;
    int quiet = 0;
    const arg_def defs[] = {
        {"model", ARG_STR, &model, "DIR", "base model directory", 0, 0, 1},
        {"adapter", ARG_STR, &adapter, "DIR", "PEFT LoRA adapter directory (ours or peft's)", 0, 0, 1},
        {"out", ARG_STR, &out, "DIR", "merged model directory (base dtype and sharding; config/tokenizer copied)", 0,
         0, 1},
        {"quiet", ARG_FLAG, &quiet, NULL, "print nothing on success", 0, 0, 0},
    };
    const arg_spec spec = {"merge", "Merge a LoRA adapter into a model: writes a Hugging Face model directory "
                                    "loadable by transformers.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    if (lora_merge_dir(model, adapter, out, quiet) != 0) lr_die_last();
    return 0;
}
