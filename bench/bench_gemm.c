/* The CPU backend's batch-invariant matmul vs OpenBLAS sgemm/sgemv on the
 * matmul shapes of a Qwen2.5-0.5B-shaped decoder at decode (M = 1, 16, 64)
 * and scoring/prefill (M = 512) sizes, same threads on both sides
 * (OpenBLAS with n threads; ours with n OpenMP threads), measured in
 * separate phases per shape (best of R after a warm-up).
 *
 *   LR_CPU_ISA=avx2|avx512|generic bench_gemm [--threads N] [--repeats R] [--quick 1]
 *
 * One JSON line per shape: ours and OpenBLAS in GFLOP/s, the ratio, and
 * which ISA path ran. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "model/backend.h"

typedef struct {
    const char *name;
    int n, k;
} wshape;


int main(int argc, char **argv) {
    int threads = 0, repeats = 5, quick = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--quick")) quick = atoi(argv[i + 1]);
    }
    lr_backend *be = lr_backend_cpu_new(threads);
    const int nt = be->n_threads;
    const wshape ws[] = {{"qkv", 1152, 896}, {"o", 896, 896}, {"gate_up", 9728, 896},
                         {"down", 896, 4864}, {"lm_head", 151936, 896}};
    const int ms[] = {1, 16, 64, 512};
    const int n_ws = quick ? 3 : 5, n_ms = 4;
    for (int wi = 0; wi < n_ws; wi++)
        for (int mi = 0; mi < n_ms; mi++) {
            const int M = ms[mi], N = ws[wi].n, K = ws[wi].k;
            if (quick && M == 512 && N > 2000) continue;
            float *x = bench_rand_floats((size_t)M * K, 1), *w = bench_rand_floats((size_t)N * K, 2);
            float *y = bench_rand_floats((size_t)M * N, 3), *y2 = bench_rand_floats((size_t)M * N, 4);
            const double flops = 2.0 * M * N * (double)K;
            double best_ours = 1e30, best_blas = 1e30;
            /* ours, then OpenBLAS, each after a warm-up call: alternating them would let
             * OpenBLAS's spinning worker threads steal our cores (and ours theirs) */
            be->matmul(be, x, K, lr_weight_f32(w), NULL, y, N, M, N, K, 0);
            for (int r = 0; r < repeats; r++) {
                const double t0 = bench_now();
                be->matmul(be, x, K, lr_weight_f32(w), NULL, y, N, M, N, K, 0);
                const double t1 = bench_now();
                if (t1 - t0 < best_ours) best_ours = t1 - t0;
            }
            openblas_set_num_threads(nt);
            for (int r = 0; r <= repeats; r++) {
                const double t0 = bench_now();
                if (M == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, x, 1, 0.0f, y2, 1);
                else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y2, N);
                const double t1 = bench_now();
                if (r > 0 && t1 - t0 < best_blas) best_blas = t1 - t0; /* r = 0: warm-up */
            }
            openblas_set_num_threads(1);
            nanosleep(&(struct timespec){0, 300000000}, NULL); /* let OpenBLAS's workers park */
            double maxrel = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) {
                const double d = fabs((double)y[i] - y2[i]) / (fabs((double)y2[i]) + 1e-3);
                if (d > maxrel) maxrel = d;
            }
            printf("{\"isa\": \"%s\", \"threads\": %d, \"shape\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, "
                   "\"ours_gflops\": %.2f, \"openblas_gflops\": %.2f, \"ratio\": %.3f, \"ours_ms\": %.3f, "
                   "\"openblas_ms\": %.3f, \"max_rel_diff\": %.2e}\n",
                   lr_cpu_isa_name(), nt, ws[wi].name, M, N, K, flops / best_ours * 1e-9, flops / best_blas * 1e-9,
                   best_blas / best_ours, best_ours * 1e3, best_blas * 1e3, maxrel);
            fflush(stdout);
            free(x);
            free(w);
            free(y);
            free(y2);
        }
    lr_backend_destroy(be);
    return 0;
}
