/* A minimal <cblas.h> for the stand-alone GPU check (tools/gpu_check/),
 * which is built on machines without OpenBLAS: only what the CPU backend
 * calls (cblas_sgemm inside its attention blocks, the thread-count
 * setter), naive and single-threaded. It is the CPU *reference* there, at
 * small shapes; the real build uses OpenBLAS (cmake/blas.cmake). */
#ifndef LR_GPU_CHECK_CBLAS_H
#define LR_GPU_CHECK_CBLAS_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };
typedef enum CBLAS_ORDER CBLAS_ORDER;
typedef enum CBLAS_TRANSPOSE CBLAS_TRANSPOSE;

void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

#endif
