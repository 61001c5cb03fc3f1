/* sgemm peak: cblas_sgemm (OpenBLAS, all threads) on large squares and on the
 * matmul shapes of a Qwen2.5-0.5B-shaped decoder, best GFLOP/s of a few
 * repeats. Activations are row-major (M tokens x K), weights are stored as
 * Hugging Face does (N out x K in), so C = A * W^T.
 *
 *   bench_sgemm [--threads N] [--repeats R] [--quick 1]
 *
 * One JSON line per shape on stdout; the line with "shape": "peak" carries
 * the best GFLOP/s over every shape (squares and model shapes: on a shared
 * or throttling machine the best of all is the fairest "peak"), which
 * bench/report.py uses as the sgemm peak. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

typedef struct {
    const char *name;
    int m, n, k;
} shape;


static double run_shape(const shape *s, int repeats, int square) {
    float *a = bench_rand_floats((size_t)s->m * s->k, 1);
    float *b = bench_rand_floats((size_t)s->n * s->k, 2);
    float *c = bench_rand_floats((size_t)s->m * s->n, 3);
    double flops = 2.0 * s->m * s->n * s->k;
    double best = 1e30;
    double t[64];
    if (repeats > 64) repeats = 64;
    /* warm-up: thread pool, page faults, caches */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, square ? CblasNoTrans : CblasTrans, s->m, s->n, s->k, 1.0f, a, s->k, b,
                square ? s->n : s->k, 0.0f, c, s->n);
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, square ? CblasNoTrans : CblasTrans, s->m, s->n, s->k, 1.0f, a, s->k,
                    b, square ? s->n : s->k, 0.0f, c, s->n);
        t[r] = bench_now() - t0;
        if (t[r] < best) best = t[r];
    }
    double gf = flops / best * 1e-9;
    bench_json_begin();
    bench_json_str("bench", "sgemm");
    bench_json_str("shape", s->name);
    bench_json_int("m", s->m);
    bench_json_int("n", s->n);
    bench_json_int("k", s->k);
    bench_json_arr("times_s", t, repeats);
    bench_json_num("best_s", best);
    bench_json_num("gflops", gf);
    bench_json_end();
    free(a);
    free(b);
    free(c);
    return gf;
}

int main(int argc, char **argv) {
    int threads = bench_threads((int)bench_arg_long(argc, argv, "--threads", 0));
    int repeats = (int)bench_arg_long(argc, argv, "--repeats", 3);
    int quick = (int)bench_arg_long(argc, argv, "--quick", 0);
    openblas_set_num_threads(threads);

    const shape squares_full[] = {{"square2048", 2048, 2048, 2048}, {"square4096", 4096, 4096, 4096}};
    const shape squares_quick[] = {{"square512", 512, 512, 512}, {"square1024", 1024, 1024, 1024}};
    /* Scoring pass of the bench: 8 x 256 = 2048 tokens through each layer;
     * lm_head timed at 256 rows (one sequence) to keep the run short. */
    const int M = quick ? 256 : 2048;
    const shape model[] = {
        {"q_o_proj 896x896", M, 896, 896},   {"k_v_proj 128x896", M, 128, 896},
        {"gate_up 4864x896", M, 4864, 896},  {"down 896x4864", M, 896, 4864},
        {"lm_head 151936x896", 256, 151936, 896}, {"gate_up_b16 4864x896", 16, 4864, 896},
    };
    const shape *sq = quick ? squares_quick : squares_full;
    double peak = 0.0;
    const char *peak_shape = "";
    for (int i = 0; i < 2; i++) {
        double g = run_shape(&sq[i], repeats, 1);
        if (g > peak) peak = g, peak_shape = sq[i].name;
    }
    int nm = (int)(sizeof model / sizeof model[0]);
    if (quick) nm = 4;
    for (int i = 0; i < nm; i++) {
        double g = run_shape(&model[i], repeats, 0);
        if (g > peak) peak = g, peak_shape = model[i].name;
    }
    bench_json_begin();
    bench_json_str("bench", "sgemm");
    bench_json_str("shape", "peak");
    bench_json_int("threads", threads);
    bench_json_str("openblas_config", openblas_get_config());
    bench_json_str("peak_shape", peak_shape);
    bench_json_num("gflops", peak);
    bench_json_end();
    return 0;
}
