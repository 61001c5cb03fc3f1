/* Declarative command-line flags shared by every subcommand.
 *
 * Each subcommand lists its flags in a table; args_parse() fills the
 * destinations, prints --help from the table and rejects unknown flags and
 * bad values with exit code 2. A flag's value comes from, highest first:
 *   1. the command line (--name V, --name=V; switches --x / --no-x),
 *   2. the environment variable LR_<NAME> (upper case, '-' -> '_'),
 *   3. `--config FILE`: a JSON or YAML mapping of flag names (dash or
 *      snake_case) to values; a nested mapping named after a command is a
 *      section: `run` reads its sample:/score:/train:/eval: sections (a key
 *      K in section S sets --S-K when the command has it, else --K), every
 *      other command reads the section named after itself and skips the
 *      other commands' sections,
 *   4. the default shown by --help.
 * The resolved configuration can be rendered as JSON for provenance (stored
 * in run files). */
#ifndef LR_ARGS_H
#define LR_ARGS_H

#include <stdint.h>

/* Flag tables list only the fields a flag uses: the trailing ones
 * (shown_default, deprecated) are NULL unless given. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef enum {
    ARG_STR,   /* const char ** */
    ARG_INT,   /* long * */
    ARG_FLOAT, /* double * */
    ARG_FLAG,  /* int *, set to 1 when present (value-less) */
} arg_type;

typedef struct {
    const char *name;    /* without the leading "--" */
    arg_type type;
    void *dst;           /* receives the value; holds the default beforehand */
    const char *metavar; /* e.g. "DIR"; NULL for flags */
    const char *help;
    double min, max;     /* inclusive range for ARG_INT/ARG_FLOAT when min < max */
    int required;
    const char *shown_default; /* --help text of a default that depends on other flags (NULL: the value) */
    const char *deprecated;    /* an old spelling: the flag to use instead (a note is printed when it is set) */
} arg_def;

typedef struct {
    const char *command; /* "tokenize" */
    const char *summary; /* one line */
    const char *usage;   /* positional part of the usage line, may be NULL */
    const arg_def *defs;
    int n_defs;
    int max_positional;  /* 0 = none allowed */
} arg_spec;

/* Parses argv (argv[0] is the subcommand name). Returns the number of
 * positional arguments, which are moved to the front of `positional`.
 * Exits 0 after --help, 2 on a usage error. */
int args_parse(const arg_spec *spec, int argc, char **argv, char **positional);

/* The resolved flags as a JSON object (malloc'd string). */
char *args_to_json(const arg_spec *spec);
/* json (from args_to_json, consumed) without the string flag `key` when it
 * holds `value`: a flag added later leaves, at its default, the recorded
 * configuration of a run as it was before (malloc'd string). */
char *args_json_drop(char *json, const char *key, const char *value);
/* The command line as one string (malloc'd), for provenance. */
char *args_command_line(int argc, char **argv);

#endif
