/* Which device computes (model.h: model_announce_device): one line, once
 * per process, on the job's first rank, in a CUDA build only (a build
 * without CUDA has only the CPU and says nothing). */
#include <stdio.h>
#include <stdlib.h>

#include "model/backend.h"
#include "model/cuda/cuda_device.h"
#include "model/device.h"
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
    int gpu = -1;
    const lr_device_kind k = lr_device_last(&gpu);
    const int n = lr_cuda_device_count();
    if (quiet || !first_rank()) return;
    if (k == LR_DEVICE_CUDA) {
        char name[256] = "?";
        lr_cuda_device_name(gpu, name, sizeof name);
        fprintf(stderr, "lightreasoner: computing on CUDA GPU %d: %s (%d on this node)\n", gpu, name, n);
    } else if (n == 0) {
        fprintf(stderr, "lightreasoner: no CUDA GPU at run time: computing on the CPU (%s kernels)\n",
                lr_cpu_isa_name());
    } else {
        fprintf(stderr, "lightreasoner: %d CUDA GPU(s) found; computing on the CPU (%s kernels; %s)\n", n,
                lr_cpu_isa_name(), "--device cpu");
    }
#else
    (void)quiet;
    (void)first_rank;
#endif
}
