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

// While a step graph is being captured (cuda_graph.cu), an error that the
// capture itself caused (a call the capture does not allow, or any call
// after the capture was invalidated) ends the capture, not the program:
// these return 1 after marking the bracket so, and the step then runs
// eagerly, where a genuine error is reported as usual.
int lr_cuda_capture_swallow(cudaError_t e, const char *file, int line);
int lr_cuda_capture_swallow_cublas(cublasStatus_t s, const char *file, int line);

#define LR_CUDA_CHECK(call)                                                                                 \
    do {                                                                                                    \
        cudaError_t lr_e_ = (call);                                                                         \
        if (lr_e_ != cudaSuccess && !lr_cuda_capture_swallow(lr_e_, __FILE__, __LINE__))                   \
            lr_die_internal(__FILE__, __LINE__, "CUDA call failed (%s): %s", cudaGetErrorString(lr_e_), #call); \
    } while (0)

#define LR_CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                       \
        cublasStatus_t lr_s_ = (call);                                                                         \
        if (lr_s_ != CUBLAS_STATUS_SUCCESS && !lr_cuda_capture_swallow_cublas(lr_s_, __FILE__, __LINE__))     \
            lr_die_internal(__FILE__, __LINE__, "cuBLAS call failed (%s): %s", cublasLtGetStatusString(lr_s_), #call); \
    } while (0)

// After every kernel launch: a bad configuration is reported where it happened.
#define LR_CUDA_LAUNCHED() LR_CUDA_CHECK(cudaGetLastError())

#endif
