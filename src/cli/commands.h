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

/* The table in main.c; entries whose stage is not linked in have fn NULL. */
extern const command_entry lr_commands[];
extern const int lr_n_commands;

#endif
