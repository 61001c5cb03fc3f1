/* Naive cblas_sgemm for the stand-alone GPU check (see cblas.h here):
 * C = alpha * op(A) op(B) + beta * C, row- or column-major, fp32 products
 * summed in fp32 in k order. */
#include "cblas.h"

void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (order == CblasColMajor) { /* C^T = op(B)^T op(A)^T in row-major terms */
        cblas_sgemm(CblasRowMajor, tb, ta, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = ta == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
                const float b = tb == CblasNoTrans ? B[(long)k * ldb + j] : B[(long)j * ldb + k];
                s += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = alpha * s + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

static int g_threads = 1;
void openblas_set_num_threads(int n) { g_threads = n; }
int openblas_get_num_threads(void) { return g_threads; }
