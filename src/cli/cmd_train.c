/* `lightreasoner train`: LoRA fine-tuning on the samples of a run file
 * (SPEC §2), data-parallel over MPI ranks, checkpoints in the run file's
 * /train, optional PEFT export. See src/trainer/trainer.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "model/model.h"
#include "trainer/trainer.h"

int cmd_train(int argc, char **argv) {
    train_opts o = train_opts_default();
    int shuffle = 1;
    const char *pack = "samples";
    const arg_def defs[] = {
        {"run", ARG_STR, &o.run_path, "FILE", "run file with /samples (written by `sample`); /train is added to it", 0,
         0, 1},
        {"model", ARG_STR, &o.model_dir, "DIR", "expert model directory (default: the run file's expert)", 0, 0, 0},
        {"target-modules", ARG_STR, &o.targets, "LIST",
         "LoRA targets: comma-separated q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or all", 0, 0, 0},
        {"lora-r", ARG_INT, &o.r, "R", "LoRA rank", 1, 65536, 0},
        {"lora-alpha", ARG_FLOAT, &o.alpha, "A", "LoRA alpha (scale alpha / r)", -1e9, 1e9, 0},
        {"dropout", ARG_FLOAT, &o.dropout, "P", "dropout on the LoRA input during training", 0, 0.999, 0},
        {"rslora", ARG_FLAG, &o.use_rslora, NULL, "scale alpha / sqrt(r) (peft use_rslora)", 0, 0, 0},
        {"init-adapter", ARG_STR, &o.init_adapter, "DIR",
         "start from this PEFT adapter (its r, alpha and targets) instead of peft's default init", 0, 0, 0},
        {"lr", ARG_FLOAT, &o.lr, "LR", "peak learning rate (linear decay to 0 over --max-steps, no warm-up)", 0, 1e300,
         0},
        {"beta1", ARG_FLOAT, &o.beta1, "B", "AdamW beta1", 0, 0.999999, 0},
        {"beta2", ARG_FLOAT, &o.beta2, "B", "AdamW beta2", 0, 0.99999999, 0},
        {"adam-eps", ARG_FLOAT, &o.eps, "E", "AdamW epsilon", 1e-30, 1, 0},
        {"weight-decay", ARG_FLOAT, &o.weight_decay, "W", "AdamW weight decay", 0, 1e3, 0},
        {"max-grad-norm", ARG_FLOAT, &o.max_grad_norm, "N", "global gradient-norm clip", 1e-30, 1e30, 0},
        {"micro-batch", ARG_INT, &o.micro_batch, "M", "samples per forward/backward on a rank", 1, 1 << 20, 0},
        {"grad-accum", ARG_INT, &o.grad_accum, "G",
         "accumulation: one optimizer step = M x G samples (the global batch, split over the trainer ranks)", 1,
         1 << 20, 0},
        {"max-steps", ARG_INT, &o.max_steps, "N", "optimizer steps", 1, 1e12, 0},
        {"seed", ARG_INT, &o.seed, "S", "seed of the LoRA init, data order and dropout masks", 0, 1e18, 0},
        {"shuffle", ARG_FLAG, &shuffle, NULL, "shuffle the samples each epoch (--shuffle 0|1 also accepted)", 0, 0, 0},
        {"shuffle-buffer", ARG_INT, &o.shuffle_buffer, "M",
         "draw the first epoch through a shuffle buffer of M samples, as the trainer ranks of `run` do (0 = a full "
         "permutation)", 0, 1e12, 0},
        {"start-after", ARG_INT, &o.start_after, "S", "with --shuffle-buffer: samples in the buffer before the first "
         "step (0 = M)", 0, 1e12, 0},
        {"pack", ARG_STR, &pack, "samples|traces",
         "traces: one pass per trace with a loss at each of its selected steps (same gradients, ~steps-per-trace x "
         "fewer tokens; batches of whole traces, docs/train.md)", 0, 0, 0},
        {"max-length", ARG_INT, &o.max_length, "N", "samples with longer inputs are skipped (counted)", 1, 1 << 24, 0},
        {"save-every", ARG_INT, &o.save_every, "N", "checkpoint every N steps (and at the end; 0 = only at the end)",
         0, 1e12, 0},
        {"max-bad-steps", ARG_INT, &o.max_bad_steps, "K", "stop after K consecutive steps with NaN/Inf", 1, 1e9, 0},
        {"recompute", ARG_FLAG, &o.recompute, NULL,
         "keep only each layer's input and recompute the layer in the backward (less memory, ~1/3 more compute)", 0,
         0, 0},
        {"resume", ARG_FLAG, &o.resume, NULL, "continue from the run file's /train state", 0, 0, 0},
        {"overwrite", ARG_FLAG, &o.overwrite, NULL, "discard an existing /train and start over", 0, 0, 0},
        {"export", ARG_STR, &o.export_dir, "DIR", "write the final adapter as a PEFT directory", 0, 0, 0},
        {"threads", ARG_INT, &o.threads, "N", "CPU threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"quiet", ARG_FLAG, &o.quiet, NULL, "no progress or summary on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"train",
                           "LoRA fine-tuning of the expert on the run file's samples (KL to the soft labels at each "
                           "sample's last position), data-parallel over MPI ranks; log and checkpoints in /train.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    o.shuffle = shuffle;
    if (o.resume && o.overwrite) lr_die_input("train", "--resume and --overwrite exclude each other");
    if (strcmp(pack, "samples") && strcmp(pack, "traces"))
        lr_die_input("--pack", "'%s' is not samples or traces", pack);
    o.pack_traces = !strcmp(pack, "traces");
    if (trainer_check_env() != 0) lr_die_last();

    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    char *cfg = args_to_json(&spec);
    char *cmdline = args_command_line(argc, argv);
    o.config_json = cfg;
    o.command_line = cmdline;
    int rc = trainer_run(&o, &env);
    free(cfg);
    free(cmdline);
    mpi_env_finalize(&env);
    return rc;
}
