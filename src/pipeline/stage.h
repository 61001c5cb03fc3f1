/* One pipeline stage = one child process running this same binary with a
 * subcommand (`sample`, `train`, `merge`, `eval`), optionally under a
 * launcher ("srun", "mpirun -np 8") so each stage gets the job's ranks.
 *
 * Why child processes: every stage owns its MPI lifetime (MPI_Init ...
 * MPI_Finalize) and MPI cannot be initialised twice in one process; a
 * child per stage also isolates memory (two models, then the trainer). */
#ifndef LR_PIPELINE_STAGE_H
#define LR_PIPELINE_STAGE_H

typedef struct {
    int n, cap;
    char **v; /* NULL-terminated */
} stage_argv;

void stage_argv_add(stage_argv *a, const char *s);
void stage_argv_addf(stage_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void stage_argv_free(stage_argv *a);

/* Runs `[launcher words...] <this executable> <args...>` and waits.
 * Without a launcher the child gets LR_MPI=0 (one process, no MPI), so an
 * orchestrator started from a batch script never joins an MPI job by
 * accident. Returns the child's exit code (128 + signal when killed). */
int stage_run(const char *launcher, const stage_argv *args, int quiet);

/* The path of the running executable (malloc'd). */
char *stage_self_exe(void);

#endif
