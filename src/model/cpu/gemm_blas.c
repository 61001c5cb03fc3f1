/* The training GEMM (backend.h gemm) on OpenBLAS: the trainer's dX = dY W,
 * LoRA A/B and their gradients, adapter merges. (The inference matmul is
 * gemm.c, our own batch-invariant kernel; this one is cblas_sgemm in every
 * ISA copy, so its results are the same on every path.)
 *
 * Split over the backend's OpenMP threads along the larger of M and N,
 * each thread one single-threaded sgemm on a slice of C: every element of
 * C is one dot product over all of K in OpenBLAS's own order whichever
 * slice holds it, so the split (the thread count) never changes a result.
 * Part of kernels.c. */

static void cpu_gemm(lr_backend *be, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    const int nt = be->n_threads;
    if (M <= 0 || N <= 0) return;
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    if (K <= 0) { /* C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    const double flops = 2.0 * M * (double)N * K;
    /* OpenBLAS threads itself when the runtime gave it threads (LR_GEMM_THREADS=blas). */
    if (nt <= 1 || flops < 4e5 || openblas_get_num_threads() > 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (N >= M || N >= 64 * nt) {
        /* column slices of C: B's columns (rows when transposed), multiples of 16 */
        const int chunk = ((N + nt - 1) / nt + 15) / 16 * 16;
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int n0 = t * chunk, nn = N - n0 < chunk ? N - n0 : chunk;
            if (nn > 0)
                cblas_sgemm(CblasRowMajor, ta, tb, M, nn, K, alpha, A, lda, trans_b ? B + (size_t)n0 * ldb : B + n0,
                            ldb, beta, C + n0, ldc);
        }
    } else {
        /* row slices of C: A's rows (columns when transposed) */
        const int chunk = (M + nt - 1) / nt;
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int m0 = t * chunk, mm = M - m0 < chunk ? M - m0 : chunk;
            if (mm > 0)
                cblas_sgemm(CblasRowMajor, ta, tb, mm, N, K, alpha, trans_a ? A + m0 : A + (size_t)m0 * lda, lda, B,
                            ldb, beta, C + (size_t)m0 * ldc, ldc);
        }
    }
}
