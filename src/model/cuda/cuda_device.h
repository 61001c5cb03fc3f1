/* GPU discovery and the CUDA backend's constructor, callable from C
 * whether or not CUDA was built in (without CUDA: no devices, no backend). */
#ifndef LR_CUDA_DEVICE_H
#define LR_CUDA_DEVICE_H

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LR_HAVE_CUDA) || defined(__CUDACC__)
/* Number of usable CUDA devices (0 when there is no driver or device). */
int lr_cuda_device_count(void);
/* "NAME (sm_XY, N GiB)" into buf; 0 ok. */
int lr_cuda_device_name(int dev, char *buf, int len);
/* The CUDA backend on device `dev` (backend_cuda.cu): inference ops only
 * (the training ops stay NULL). n_threads is what model_n_threads reports
 * (host-side loops of other stages); <= 0: the online CPUs. */
lr_backend *lr_backend_cuda_new(int dev, int n_threads);
/* A CUDA backend's step-graph brackets so far (cuda_graph.cu): out[0]
 * eager warm-ups, [1] captures, [2] replays, [3] misses (the step ran
 * eagerly after all). */
void lr_cuda_graph_stats(lr_backend *be, long out[4]);
/* Decode's few-row bf16 GEMMs through the backend's GEMV (on = 1, the
 * default unless LR_CUDA_GEMV=0) or cuBLASLt: the GPU check's A/B. */
int lr_cuda_set_gemv(lr_backend *be, int on); /* returns the previous setting */
#else
static inline int lr_cuda_device_count(void) { return 0; }
static inline int lr_cuda_device_name(int dev, char *buf, int len) { (void)dev; (void)buf; (void)len; return -1; }
static inline lr_backend *lr_backend_cuda_new(int dev, int n_threads) { (void)dev; (void)n_threads; return 0; }
#endif

#ifdef __cplusplus
}
#endif
#endif
