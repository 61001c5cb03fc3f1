// CHECK-style macros for CUDA, cuBLAS and kernel launches: a failure is an
// internal error naming file and line (exit 1), as common/check.h does for
// the rest of the program. C++ (nvcc) only.
#ifndef LR_CUDA_CHECK_H
#define LR_CUDA_CHECK_H

#include <cublasLt.h>
#include <cuda_runtime.h>

// common/error.h uses C11's _Noreturn, which C++ lacks: declare the one
// function needed here with C++'s spelling.
extern "C" [[noreturn]] void lr_die_internal(const char *file, int line, const char *fmt, ...);

#define LR_CUDA_CHECK(call)                                                                                 \
    do {                                                                                                    \
        cudaError_t lr_e_ = (call);                                                                         \
        if (lr_e_ != cudaSuccess)                                                                           \
            lr_die_internal(__FILE__, __LINE__, "CUDA call failed (%s): %s", cudaGetErrorString(lr_e_), #call); \
    } while (0)

#define LR_CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                       \
        cublasStatus_t lr_s_ = (call);                                                                         \
        if (lr_s_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            lr_die_internal(__FILE__, __LINE__, "cuBLAS call failed (%s): %s", cublasLtGetStatusString(lr_s_), #call); \
    } while (0)

// After every kernel launch: a bad configuration is reported where it happened.
#define LR_CUDA_LAUNCHED() LR_CUDA_CHECK(cudaGetLastError())

#endif
