/* The device choice (device.c): --device cpu|cuda|auto resolved in one
 * place. model.h has the calls stages use (model_set_device); this header
 * is for the model runtime, the CLI and tests. */
#ifndef LR_DEVICE_H
#define LR_DEVICE_H

#include "model/backend.h"
#include "model/model.h"

typedef enum { LR_DEVICE_AUTO = 0, LR_DEVICE_CPU = 1, LR_DEVICE_CUDA = 2 } lr_device_kind;

/* "cpu", "cuda" (or "gpu"), "auto" (or NULL / "") -> *out; -1 otherwise. */
int lr_device_parse(const char *s, lr_device_kind *out);
/* This process's rank on its node from the launcher's environment (0 without one). */
int lr_device_local_rank(void);
/* The GPU a process with this local rank uses: local_rank % n_gpus (-1 without GPUs). */
int lr_device_gpu_index(int local_rank, int n_gpus);
/* 1 when the CUDA backend is compiled in. */
int lr_device_cuda_compiled(void);
/* The process-wide request (model_set_device), AUTO by default. */
lr_device_kind model_device_request(void);
/* The device a model load gets, inference or training alike: `name`
 * (NULL: the process-wide request), auto resolved (CUDA when compiled in
 * and a GPU is usable). LR_DEVICE_CPU / LR_DEVICE_CUDA, or -1 + lr_error. */
lr_device_kind lr_device_resolve(const char *name, const char *where);
/* The device of the last model_backend_new (AUTO before any) and its GPU
 * index (-1: none). */
lr_device_kind lr_device_last(int *gpu);
/* The backend for a model load with these options; NULL + lr_error. */
lr_backend *model_backend_new(const lr_model_opts *opts, const char *where);

#endif
