// CUDA device discovery. Compiled whenever nvcc exists so the CUDA build
// never rots; the CPU path never depends on it (see cuda_device.h).
#include <cuda_runtime.h>
#include <stdio.h>

#include "model/cuda/cuda_device.h"

extern "C" int lr_cuda_device_count(void) {
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) return 0;  // no driver / no device: CPU path
    return n;
}

extern "C" int lr_cuda_device_name(int dev, char *buf, int len) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) return -1;
    snprintf(buf, (size_t)len, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
}
