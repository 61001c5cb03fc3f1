#define _DEFAULT_SOURCE
/* What bf16 weights (fp32 compute) buy the decode step over fp32 weights.
 * One "decode step" = every matmul of a Qwen2.5-0.5B-shaped decoder once
 * (24 x {q, k, v, o, gate, up, down} + the tied lm_head), y = W x for
 * batch 1 and Y = X W^T for batch 16, weights stored N x K as on disk.
 *
 * Three implementations, all threads:
 *   openblas_f32 : cblas_sgemv / cblas_sgemm (the obvious fp32 path)
 *   own_f32      : the CPU backend's batch-invariant matmul (the runtime's
 *                  kernel, ISA path as the runtime picks it or LR_CPU_ISA)
 *                  reading fp32 weights
 *   own_bf16     : the same kernel reading bf16 weights, widened in
 *                  registers (bf16 -> fp32 is a 16-bit left shift)
 * own_f32 vs own_bf16 isolates the effect of halving the weight bytes.
 *
 *   bench_bf16 [--threads N] [--repeats 5] [--layers 24] [--lm-head 1]
 *
 * One JSON line per (impl, batch) on stdout. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "model/backend.h"

#define MAXB 16

typedef struct {
    int n, k;
    float *w32;
    uint16_t *w16;
} mat;

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

static void mat_init(mat *m, int n, int k, uint32_t seed) {
    size_t c = (size_t)n * k;
    m->n = n;
    m->k = k;
    m->w32 = aligned_alloc(64, (c * 4 + 63) / 64 * 64);
    m->w16 = aligned_alloc(64, (c * 2 + 63) / 64 * 64);
    if (!m->w32 || !m->w16) {
        fprintf(stderr, "bench_bf16: out of memory\n");
        exit(1);
    }
#pragma omp parallel
    {
        uint32_t s = seed + 7919u * (uint32_t)omp_get_thread_num();
#pragma omp for schedule(static)
        for (size_t i = 0; i < c; i++) {
            float v = ((float)(lcg(&s) >> 8) / 16777216.0f - 0.5f) * 0.04f;
            uint32_t u;
            memcpy(&u, &v, 4);
            m->w16[i] = (uint16_t)(u >> 16);
            u &= 0xFFFF0000u; /* same values in both formats */
            memcpy(&m->w32[i], &u, 4);
        }
    }
}

enum { OPENBLAS_F32 = 0, OWN_F32, OWN_BF16, N_IMPL };
static const char *impl_name[N_IMPL] = {"openblas_f32", "own_f32", "own_bf16"};

static void step(lr_backend *be, int impl, const mat *ms, int nm, const float *x, int nb, float *y) {
    for (int i = 0; i < nm; i++) {
        const mat *m = &ms[i];
        switch (impl) {
        case OPENBLAS_F32:
            if (nb == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, m->n, m->k, 1.0f, m->w32, m->k, x, 1, 0.0f, y, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, m->n, m->k, 1.0f, x, m->k, m->w32, m->k,
                            0.0f, y, m->n);
            break;
        case OWN_F32: be->matmul(be, x, m->k, lr_weight_f32(m->w32), NULL, y, m->n, nb, m->n, m->k, 0); break;
        case OWN_BF16: be->matmul(be, x, m->k, (lr_weight){m->w16, LR_BF16}, NULL, y, m->n, nb, m->n, m->k, 0); break;
        }
    }
}

int main(int argc, char **argv) {
    int threads = bench_threads((int)bench_arg_long(argc, argv, "--threads", 0));
    int repeats = (int)bench_arg_long(argc, argv, "--repeats", 5);
    int layers = (int)bench_arg_long(argc, argv, "--layers", 24);
    int lm_head = (int)bench_arg_long(argc, argv, "--lm-head", 1);
    if (repeats > 32) repeats = 32;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    lr_backend *be = lr_backend_cpu_new(threads);

    const int d = 896, kvd = 128, ff = 4864, vocab = 151936;
    int nm = layers * 7 + (lm_head ? 1 : 0);
    mat *ms = calloc((size_t)nm, sizeof(mat));
    int j = 0;
    for (int l = 0; l < layers; l++) {
        const int shapes[7][2] = {{d, d}, {kvd, d}, {kvd, d}, {d, d}, {ff, d}, {ff, d}, {d, ff}};
        for (int s = 0; s < 7; s++, j++) mat_init(&ms[j], shapes[s][0], shapes[s][1], 17u + (uint32_t)j);
    }
    if (lm_head) mat_init(&ms[j++], vocab, d, 99u);
    double params = 0;
    for (int i = 0; i < nm; i++) params += (double)ms[i].n * ms[i].k;

    float *x = aligned_alloc(64, sizeof(float) * MAXB * ff);
    float *y = aligned_alloc(64, sizeof(float) * MAXB * (size_t)vocab);
    for (int i = 0; i < MAXB * ff; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;

    const int batches[2] = {1, 16};
    for (int bi = 0; bi < 2; bi++) {
        int nb = batches[bi];
        for (int impl = 0; impl < N_IMPL; impl++) {
            double t[32];
            /* let the other pool's spinning workers go idle first (OpenBLAS
             * pthreads and OpenMP threads both busy-wait after a call) */
            usleep(300000);
            step(be, impl, ms, nm, x, nb, y); /* warm-up */
            for (int r = 0; r < repeats; r++) {
                double t0 = bench_now();
                step(be, impl, ms, nm, x, nb, y);
                t[r] = bench_now() - t0;
            }
            double med = bench_median(t, repeats);
            double bytes = params * (impl == OWN_BF16 ? 2.0 : 4.0);
            bench_json_begin();
            bench_json_str("bench", "bf16_decode_step");
            bench_json_str("impl", impl_name[impl]);
            bench_json_int("batch", nb);
            bench_json_int("threads", threads);
            bench_json_str("isa", lr_cpu_isa_name());
            bench_json_num("weight_params", params);
            bench_json_num("weight_bytes", bytes);
            bench_json_arr("times_s", t, repeats);
            bench_json_num("median_s", med);
            bench_json_num("gbs", bytes / med * 1e-9);
            bench_json_num("gflops", 2.0 * params * nb / med * 1e-9);
            bench_json_end();
        }
    }
    for (int i = 0; i < nm; i++) {
        free(ms[i].w32);
        free(ms[i].w16);
    }
    free(ms);
    free(x);
    free(y);
    lr_backend_destroy(be);
    return 0;
}
