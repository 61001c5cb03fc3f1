/* MPI at the edge: initialise it when a launcher started us, otherwise run
 * as a one-rank world without touching MPI, and agree on errors so that a
 * bad input on any rank ends every rank with the same exit code and one
 * message. */
#ifndef LR_MPI_ENV_H
#define LR_MPI_ENV_H

#include <mpi.h>

typedef struct {
    int use_mpi; /* MPI_Init was called (mpirun/srun, or LR_MPI=1) */
    int rank;
    int size;
    MPI_Comm comm; /* the ranks this env spans: MPI_COMM_WORLD, or a role's part of it (`run`) */
} lr_mpi_env;

/* MPI_Init_thread(FUNNELED) when a launcher's variables are present
 * (Open MPI, PMI/PMIx, Slurm srun) or LR_MPI=1; LR_MPI=0 forces one
 * process. Sets MPI_ERRORS_RETURN on MPI_COMM_WORLD. */
void mpi_env_init(lr_mpi_env *e, int *argc, char ***argv);
void mpi_env_finalize(lr_mpi_env *e);

/* A sub-environment of e: the ranks with the same color, ranked in e's
 * order (collective over e; free with mpi_env_free_sub). Without MPI, a copy. */
void mpi_env_split(const lr_mpi_env *e, int color, lr_mpi_env *sub);
void mpi_env_free_sub(lr_mpi_env *sub);

/* Collective: every rank passes its status (0 ok, else an exit code with
 * lr_error set). Returns the largest code; the lowest failing rank prints
 * "lightreasoner: error: <msg>" (exit code 2) or an internal-error line. */
int mpi_env_agree(const lr_mpi_env *e, int rc);
/* The same, printing only a bad-input code (2): for a stage that prints
 * its other failures where they happen (the trainer). */
int mpi_env_agree_input(const lr_mpi_env *e, int rc);

/* Collective: the largest code of all ranks, printing nothing (for a code
 * whose message the failing rank already printed). */
int mpi_env_worst(const lr_mpi_env *e, int rc);

/* Splits a world for two roles (samplers, scorers). Zero means "default":
 * world 1 -> one process plays both; world W >= 2 -> W/2 scorers and the
 * rest samplers (1+1, 2+2, ...); a given count takes its share and the other
 * role the rest. 0 ok; -1 + lr_error for impossible counts. */
int mpi_env_split_two(int world, long *n_first, long *n_second);

/* A barrier over e that sleeps while it waits (Open MPI's blocking
 * collectives spin, which would steal the cores of ranks still working). */
void mpi_env_wait_all(const lr_mpi_env *e);

/* Seconds on a monotonic clock. */
double lr_now(void);

#endif
