/* `lightreasoner sweep`: the helper of jobs/sweep.sbatch (docs/slurm.md).
 *   sweep count --spec S               number of tasks (the array size)
 *   sweep task --spec S --index I [--base B]   task I's settings as shell assignments (+ B's expert)
 *   sweep prepare --base B --out T     a task run file sharing B through external links
 *   sweep aggregate --spec S --dir D --out F [--csv C] [--svg G]   one table + figure */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "inspect/h5peek.h"
#include "io/runfile.h"
#include "sweep/sweep_run.h"
#include "sweep/sweep_spec.h"

int cmd_sweep(int argc, char **argv) {
    const char *spec_path = NULL, *base = NULL, *out = NULL, *dir = NULL, *csv = NULL, *svg = NULL, *ev = "after";
    long index = -1;
    int overwrite = 0;
    const arg_def defs[] = {
        {"spec", ARG_STR, &spec_path, "FILE", "sweep spec: JSON {\"grid\": {key: [values]}} or {\"list\": [{...}]}, "
                                              "optional \"fixed\" (count, task, aggregate)", 0, 0, 0},
        {"index", ARG_INT, &index, "I", "the task (0-based; task)", 0, 1e9, 0},
        {"base", ARG_STR, &base, "FILE", "the base run file written by sample/run (prepare; task: also print its expert)", 0, 0, 0},
        {"dir", ARG_STR, &dir, "DIR", "where the tasks' run files task-<i>.h5 are (aggregate)", 0, 0, 0},
        {"out", ARG_STR, &out, "FILE", "the task run file (prepare) / the table's HDF5 file with /sweep (aggregate)",
         0, 0, 0},
        {"csv", ARG_STR, &csv, "FILE", "also write the table as CSV (aggregate)", 0, 0, 0},
        {"svg", ARG_STR, &svg, "FILE", "also draw accuracy per task with 95% intervals (aggregate)", 0, 0, 0},
        {"eval", ARG_STR, &ev, "NAME", "the /eval group to report (aggregate)", 0, 0, 0},
        {"overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing task file (prepare)", 0, 0, 0},
    };
    const arg_spec spec = {"sweep",
                           "Hyperparameter sweeps as Slurm job arrays (jobs/sweep.sbatch): count the tasks of a "
                           "spec, print one task's settings, make a task's run file that shares the base sampling "
                           "run, and aggregate every task into one table and figure.",
                           "count|task|prepare|aggregate", defs, (int)(sizeof defs / sizeof defs[0]), 1};
    char *pos[2] = {NULL, NULL};
    const int np = args_parse(&spec, argc, argv, pos);
    const char *action = np == 1 ? pos[0] : "";
    if (!strcmp(action, "prepare")) {
        if (!base || !out) lr_die_input("sweep", "prepare needs --base and --out");
        if (sweep_prepare(base, out, overwrite) != 0) lr_die_last();
        return 0;
    }
    if (strcmp(action, "count") && strcmp(action, "task") && strcmp(action, "aggregate"))
        lr_die_input("sweep", "the action is one of count, task, prepare, aggregate ('%s' given)", action);
    if (!spec_path) lr_die_input("sweep", "%s needs --spec", action);
    sweep_spec s;
    if (sweep_spec_load(spec_path, &s) != 0) lr_die_last();
    int rc = 0;
    if (!strcmp(action, "count")) {
        printf("%d\n", s.n_tasks);
    } else if (!strcmp(action, "task")) {
        if (index < 0 || index >= s.n_tasks) {
            sweep_spec_free(&s);
            lr_die_input(spec_path, "task %ld: the sweep has %d tasks (0 to %d)", index, s.n_tasks, s.n_tasks - 1);
        }
        sweep_spec_print_task(&s, (int)index, stdout);
        if (base) { /* the expert of the base run (for eval --model), shell-quoted */
            hid_t f = (hid_t)runfile_open_read(base);
            char *e = f >= 0 ? h5peek_attr_str(f, "/", "expert") : NULL;
            if (f >= 0) H5Fclose(f);
            if (!e) {
                sweep_spec_free(&s);
                lr_die_input(base, "names no expert model (root attribute 'expert')");
            }
            fputs("expert='", stdout);
            for (const char *c = e; *c; c++) c[0] == '\'' ? fputs("'\\''", stdout) : fputc(*c, stdout);
            fputs("'\n", stdout);
            free(e);
        }
    } else {
        if (!dir || !out) lr_die_input("sweep", "aggregate needs --dir and --out");
        sweep_agg_opts o = {dir, ev, out, csv, svg};
        if (sweep_aggregate(&s, &o) != 0) rc = LR_EXIT_INPUT;
        else fprintf(stderr, "sweep: %d tasks -> %s:/sweep%s%s%s%s\n", s.n_tasks, out, csv ? ", " : "", csv ? csv : "",
                     svg ? ", " : "", svg ? svg : "");
    }
    sweep_spec_free(&s);
    if (rc) lr_die_last();
    return rc;
}
