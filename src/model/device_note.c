/* Which device computes (model.h: model_announce_device). */
#include <stdio.h>
#include <stdlib.h>

#include "model/backend.h"
#include "model/cuda/cuda_device.h"
#include "model/model.h"

/* The job's first rank (launchers set these before MPI_Init) or no launcher. */
static int first_rank(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v) == 0;
    }
    return 1;
}

void model_announce_device(int quiet) {
    static int done = 0;
    if (done) return;
    done = 1;
#ifdef LR_HAVE_CUDA
    const int n = lr_cuda_device_count();
    if (quiet || !first_rank()) return;
    if (n == 0) {
        fprintf(stderr, "lightreasoner: no CUDA GPU at run time: computing on the CPU (%s kernels)\n",
                lr_cpu_isa_name());
    } else {
        char name[256] = "?";
        lr_cuda_device_name(0, name, sizeof name);
        fprintf(stderr, "lightreasoner: CUDA GPU %s found (%d in all); this version computes on the CPU (%s kernels)\n",
                name, n, lr_cpu_isa_name());
    }
#else
    (void)quiet;
    (void)first_rank;
#endif
}
