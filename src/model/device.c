/* Which backend computes: the one place that turns --device cpu|cuda|auto
 * (LR_DEVICE, set through args.c) and lr_model_opts.device into a backend.
 *
 * auto = CUDA when it is compiled in and a GPU is usable, else the CPU.
 * With several processes per node (mpirun, srun) each takes GPU
 * local_rank % n_gpus, the local rank from MPI (MPI_COMM_TYPE_SHARED, when
 * MPI is initialised: common/node_rank.h), else from the launcher's
 * environment (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID,
 * PMI_LOCAL_RANK): every rank of a node gets its own GPU when there are
 * enough, which is what `srun --gpus-per-task=1` and one rank per GPU give.
 * Training loads (weights_f32) follow the same rule: the CUDA backend has
 * the training ops (cuda_train.cu; the trainer contract of SPEC §5 passed
 * on an H200, bench/GPU_RESULTS.md), so `train` and the trainer ranks of
 * `run` compute on the GPU under cuda, or auto with a usable GPU. */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/node_rank.h"
#include "model/backend.h"
#include "model/cuda/cuda_device.h"
#include "model/device.h"
#include "model/model.h"

static lr_device_kind g_request = LR_DEVICE_AUTO;
static lr_device_kind g_last = LR_DEVICE_AUTO; /* the last model load's device (device_note.c) */
static int g_last_gpu = -1;

lr_device_kind lr_device_last(int *gpu) {
    if (gpu) *gpu = g_last_gpu;
    return g_last;
}

int lr_device_parse(const char *s, lr_device_kind *out) {
    if (!s || !*s || !strcmp(s, "auto")) *out = LR_DEVICE_AUTO;
    else if (!strcmp(s, "cpu")) *out = LR_DEVICE_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) *out = LR_DEVICE_CUDA;
    else return -1;
    return 0;
}

int lr_device_local_rank(void) {
    if (lr_node_rank() >= 0) return lr_node_rank(); /* MPI_COMM_TYPE_SHARED, set by mpi_env_init */
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end;
            long r = strtol(v, &end, 10);
            if (!*end && r >= 0 && r < 1 << 20) return (int)r;
        }
    }
    return 0;
}

int lr_device_gpu_index(int local_rank, int n_gpus) { return n_gpus > 0 ? local_rank % n_gpus : -1; }

int lr_device_cuda_compiled(void) {
#ifdef LR_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

/* Why `cuda` cannot be used here, or NULL when it can. */
static const char *cuda_unavailable(void) {
    if (!lr_device_cuda_compiled())
        return "this build has no CUDA backend (rebuild with nvcc present and -DLR_WITH_CUDA=ON)";
    if (lr_cuda_device_count() == 0) return "no usable CUDA GPU (no device, or no driver)";
    return NULL;
}

void model_set_device(const char *name, const char *where) {
    lr_device_kind k;
    if (lr_device_parse(name, &k) != 0)
        lr_die_input(where, "--device must be cpu, cuda or auto, got '%s'", name);
    if (k == LR_DEVICE_CUDA) {
        const char *why = cuda_unavailable();
        if (why) lr_die_input(where, "--device cuda: %s; use --device cpu or auto", why);
    }
    g_request = k;
}

lr_device_kind model_device_request(void) { return g_request; }

lr_device_kind lr_device_resolve(const char *name, const char *where) {
    lr_device_kind k = g_request;
    if (name && lr_device_parse(name, &k) != 0) {
        lr_error_set(where, "device must be cpu, cuda or auto, got '%s'", name);
        return -1;
    }
    if (k == LR_DEVICE_CUDA) {
        const char *why = cuda_unavailable();
        if (why) {
            lr_error_set(where, "device cuda: %s", why);
            return -1;
        }
        return LR_DEVICE_CUDA;
    }
    if (k == LR_DEVICE_AUTO && !cuda_unavailable()) return LR_DEVICE_CUDA;
    return LR_DEVICE_CPU;
}

lr_backend *model_backend_new(const lr_model_opts *opts, const char *where) {
    const int n_threads = opts ? opts->n_threads : 0;
    const lr_device_kind k = lr_device_resolve(opts ? opts->device : NULL, where);
    if ((int)k < 0) return NULL;
    g_last = k;
    g_last_gpu = -1;
    if (k == LR_DEVICE_CUDA) {
        const int dev = lr_device_gpu_index(lr_device_local_rank(), lr_cuda_device_count());
        lr_backend *be = lr_backend_cuda_new(dev, n_threads);
        if (!be) lr_error_set(where, "device cuda: GPU %d could not be opened", dev);
        g_last_gpu = dev;
        return be;
    }
    return lr_backend_cpu_new(n_threads);
}
