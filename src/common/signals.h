/* Preemption: SIGTERM (Slurm's preemption, requeue, scancel, end of time
 * limit) and SIGUSR1 (`sbatch --signal=B:USR1@120` forwarded by the job
 * script) ask every stage to finish its current unit of work (a training
 * step, a sampling chunk, an evaluation chunk), write a checkpoint and exit
 * with LR_EXIT_INTERRUPTED; `--resume` continues from there (docs/slurm.md).
 * The handler only sets a flag: stages poll it at their unit boundaries and
 * agree on it across ranks, since the signal reaches ranks at different
 * moments. */
#ifndef LR_SIGNALS_H
#define LR_SIGNALS_H

#include <mpi.h>

/* Exit code of a stage stopped by SIGTERM/SIGUSR1 after its checkpoint:
 * nothing is lost, run the same command with --resume. */
#define LR_EXIT_INTERRUPTED 3

/* Installs the SIGTERM and SIGUSR1 handlers (once, from main). */
void lr_signals_install(void);
/* The signal that asked this process to stop (SIGTERM / SIGUSR1), 0 if none. */
int lr_stop_requested(void);
/* Marks this process as stopped for another process's signal (a trainer
 * of `run` that learns from the shard directory that sampling stopped). */
void lr_stop_note(int sig);
/* "SIGTERM", "SIGUSR1" or "a signal". */
const char *lr_stop_signal_name(void);
/* Collective over comm when use_mpi: nonzero when any rank was asked to
 * stop (that rank's signal number); the local answer without MPI. */
int lr_stop_any(int use_mpi, MPI_Comm comm);

/* Test hook: LR_TEST_SIGNAL_AT=<unit>:<k> (unit "step", "chunk", "shard")
 * makes this process send itself SIGTERM when it finished unit number k, so
 * the graceful stop can be tested without a batch system. */
void lr_signal_test_hook(const char *unit, long k);

/* `--resume` of a run file that is empty (a job killed before it wrote
 * anything, or `touch`ed by a script): removes it so the stage simply
 * starts. Returns 1 when it removed one, 0 otherwise. */
int lr_resume_drop_empty(const char *path);

#endif
