/* Every subcommand's entry point: int cmd_x(int argc, char **argv), with
 * argv[0] the subcommand name. Returns the process exit code. */
#ifndef LR_COMMANDS_H
#define LR_COMMANDS_H

typedef int (*command_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    command_fn fn;
    const char *summary;
} command_entry;

/* The subcommands (src/cli/cmd_*.c). Declared here, not weak, so that a
 * misspelt or missing entry point fails to link. */
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_tensors(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logprobs(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_select(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

/* The table in main.c. */
extern const command_entry lr_commands[];
extern const int lr_n_commands;

#endif
