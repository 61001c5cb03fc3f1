/* STREAM-style memory bandwidth with OpenMP (all threads): copy (c = a),
 * triad (a = b + s*c) and read (sum of a; the access pattern of decode, which
 * only reads weights). Counted as STREAM counts: copy 2 arrays, triad 3,
 * read 1 (write-allocate traffic not counted). Best of the repeats.
 *
 *   bench_stream [--threads N] [--mib 256] [--repeats 10]
 *
 * One JSON line on stdout. */
#include <omp.h>
#include <stdio.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <stdlib.h>

#include "bench_util.h"

int main(int argc, char **argv) {
    int threads = bench_threads((int)bench_arg_long(argc, argv, "--threads", 0));
    long mib = bench_arg_long(argc, argv, "--mib", 256); /* per array */
    int repeats = (int)bench_arg_long(argc, argv, "--repeats", 10);
    omp_set_num_threads(threads);
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(float);
    float *a = aligned_alloc(64, n * sizeof(float));
    float *b = aligned_alloc(64, n * sizeof(float));
    float *c = aligned_alloc(64, n * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "bench_stream: out of memory\n");
        return 1;
    }
    /* first touch by the threads that use the data */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        a[i] = 1.0f;
        b[i] = 2.0f;
        c[i] = 0.0f;
    }
    double best_copy = 1e30, best_triad = 1e30, best_read = 1e30;
    volatile float sink = 0.0f;
    const float s = 3.0f;
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) c[i] = a[i];
        double t1 = bench_now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        double t2 = bench_now();
        float sum = 0.0f;
#if defined(__AVX512F__)
        /* four independent accumulators: a pure load stream, like a GEMV's weights */
#pragma omp parallel reduction(+ : sum)
        {
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 64) {
                s0 = _mm512_add_ps(s0, _mm512_load_ps(b + i));
                s1 = _mm512_add_ps(s1, _mm512_load_ps(b + i + 16));
                s2 = _mm512_add_ps(s2, _mm512_load_ps(b + i + 32));
                s3 = _mm512_add_ps(s3, _mm512_load_ps(b + i + 48));
            }
            sum += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
        }
#else
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
        for (size_t i = 0; i < n; i++) sum += b[i];
#endif
        double t3 = bench_now();
        sink += sum;
        if (t1 - t0 < best_copy) best_copy = t1 - t0;
        if (t2 - t1 < best_triad) best_triad = t2 - t1;
        if (t3 - t2 < best_read) best_read = t3 - t2;
    }
    double bytes = (double)n * sizeof(float);
    bench_json_begin();
    bench_json_str("bench", "stream");
    bench_json_int("threads", threads);
    bench_json_int("array_mib", mib);
    bench_json_num("copy_gbs", 2.0 * bytes / best_copy * 1e-9);
    bench_json_num("triad_gbs", 3.0 * bytes / best_triad * 1e-9);
    bench_json_num("read_gbs", bytes / best_read * 1e-9);
    bench_json_end();
    free(a);
    free(b);
    free(c);
    return sink == 12345.0f; /* keeps the reduction alive */
}
