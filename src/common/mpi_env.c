#define _POSIX_C_SOURCE 200809L
#include "common/mpi_env.h"
#include "common/node_rank.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "common/error.h"

double lr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int launched_by_mpi(void) {
    const char *force = getenv("LR_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                 "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void mpi_env_init(lr_mpi_env *e, int *argc, char ***argv) {
    memset(e, 0, sizeof *e);
    e->size = 1;
    e->comm = MPI_COMM_WORLD;
    if (!launched_by_mpi()) return;
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) lr_die_internal(__FILE__, __LINE__, "MPI_Init_thread failed (%d)", rc);
    e->use_mpi = 1;
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &e->rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &e->size));
    /* the rank on this node, for one GPU per rank (model/device.c) */
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, e->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        int local = 0;
        if (MPI_Comm_rank(node, &local) == MPI_SUCCESS) lr_node_rank_set(local);
        MPI_Comm_free(&node);
    }
}

void mpi_env_split(const lr_mpi_env *e, int color, lr_mpi_env *sub) {
    *sub = *e;
    if (!e->use_mpi) return;
    MPI_CHECK(MPI_Comm_split(e->comm, color, e->rank, &sub->comm));
    MPI_CHECK(MPI_Comm_set_errhandler(sub->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(sub->comm, &sub->rank));
    MPI_CHECK(MPI_Comm_size(sub->comm, &sub->size));
}

void mpi_env_free_sub(lr_mpi_env *sub) {
    if (sub->use_mpi && sub->comm != MPI_COMM_WORLD && sub->comm != MPI_COMM_NULL) MPI_Comm_free(&sub->comm);
    sub->comm = MPI_COMM_NULL;
}

void mpi_env_wait_all(const lr_mpi_env *e) {
    if (!e->use_mpi || e->size == 1) return;
    MPI_Request req;
    MPI_CHECK(MPI_Ibarrier(e->comm, &req));
    for (int done = 0;;) {
        MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) return;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void mpi_env_finalize(lr_mpi_env *e) {
    if (e->use_mpi) MPI_Finalize();
    e->use_mpi = 0;
}

static void print_status(int rc) {
    if (rc == LR_EXIT_INPUT)
        fprintf(stderr, "lightreasoner: error: %s\n", lr_error_msg()[0] ? lr_error_msg() : "unknown error");
    else
        fprintf(stderr, "lightreasoner: internal error: %s\n", lr_error_msg()[0] ? lr_error_msg() : "unknown");
}

int mpi_env_worst(const lr_mpi_env *e, int rc) {
    if (!e->use_mpi || e->size == 1) return rc;
    int worst = 0;
    MPI_CHECK(MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, e->comm));
    return worst;
}

/* only_input: print the lowest failing rank's status only when it is bad input */
static int agree(const lr_mpi_env *e, int rc, int only_input) {
    const int print = rc && (!only_input || rc == LR_EXIT_INPUT);
    if (!e->use_mpi) {
        if (print) print_status(rc);
        return rc;
    }
    int first = INT_MAX, mine = rc ? e->rank : INT_MAX;
    const int worst = mpi_env_worst(e, rc);
    if (!worst) return 0;
    MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, e->comm));
    if (e->rank == first && print) print_status(rc);
    return worst;
}

int mpi_env_agree(const lr_mpi_env *e, int rc) { return agree(e, rc, 0); }

int mpi_env_agree_input(const lr_mpi_env *e, int rc) { return agree(e, rc, 1); }

int mpi_env_split_two(int world, long *n_first, long *n_second) {
    long a = *n_first, b = *n_second;
    if (a < 0 || b < 0) {
        lr_error_set(a < 0 ? "--samplers" : "--scorers", "role counts must be >= 0");
        return -1;
    }
    if (world == 1) {
        if (a > 1 || b > 1) {
            lr_error_set(a > 1 ? "--samplers" : "--scorers",
                         "--samplers %ld / --scorers %ld: one process can only play one sampler and one scorer (start "
                         "more ranks with mpirun)", a, b);
            return -1;
        }
        *n_first = *n_second = 1;
        return 0;
    }
    if (a == 0 && b == 0) {
        b = world / 2;
        a = world - b;
    } else if (a == 0) {
        a = world - b;
    } else if (b == 0) {
        b = world - a;
    }
    if (a < 1 || b < 1 || a + b > world) {
        lr_error_set("--samplers/--scorers",
                     "%ld sampler(s) + %ld scorer(s) do not fit a world of %d ranks (each role needs >= 1)", a, b,
                     world);
        return -1;
    }
    *n_first = a;
    *n_second = b;
    return 0;
}
