/* OpenBLAS's thread-count functions for the other BLAS vendors
 * (cmake/blas.cmake compiles this only when BLA_VENDOR is not OpenBLAS).
 * The code sets one BLAS thread per rank and asks whether BLAS threads
 * itself; these map that onto MKL / NVPL, or report one thread otherwise. */
#include <cblas.h>

#if defined(LR_BLAS_mkl)
#include <mkl_service.h>
void openblas_set_num_threads(int n) { mkl_set_num_threads(n); }
int openblas_get_num_threads(void) { return mkl_get_max_threads(); }
#elif defined(LR_BLAS_nvpl)
#include <nvpl_blas_service.h>
void openblas_set_num_threads(int n) { nvpl_blas_set_num_threads(n); }
int openblas_get_num_threads(void) { return nvpl_blas_get_max_threads(); }
#else
/* a generic (e.g. reference netlib) CBLAS is single-threaded */
void openblas_set_num_threads(int n) { (void)n; }
int openblas_get_num_threads(void) { return 1; }
#endif
