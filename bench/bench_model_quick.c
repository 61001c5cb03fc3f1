/* Quick timing of the CPU model runtime (a developer tool, not the
 * side-by-side bench harness): sgemm peak and STREAM-style copy bandwidth
 * of this machine, then a random Qwen2.5-0.5B-shaped model (vocab 151936,
 * hidden 896, 24 layers, 14 heads, 2 kv heads, intermediate 4864, tied):
 * scoring (teacher-forced forward, batch x len tokens) and decode at batch
 * 1 and 16.
 *
 *   bench_model_quick [--threads N] [--layers L] [--batch B] [--len T] [--steps S]
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/backend.h"
#include "model/model.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double sgemm_peak(lr_backend *be) {
    const int n = 2048;
    float *a = be->alloc(be, (size_t)n * n * 4), *b = be->alloc(be, (size_t)n * n * 4), *c = be->alloc(be, (size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = now();
        be->matmul(be, a, n, lr_weight_f32(b), NULL, c, n, n, n, n, 0);
        t = now() - t;
        if (t < best) best = t;
    }
    be->free(be, a), be->free(be, b), be->free(be, c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static double copy_bw(int nt) {
    const size_t n = (size_t)64 << 20; /* floats: 256 MB per array */
    float *a = malloc(n * 4), *b = malloc(n * 4);
    memset(a, 1, n * 4);
    memset(b, 0, n * 4);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = now();
#pragma omp parallel num_threads(nt)
        {
            const size_t k = n / omp_get_num_threads(), o = k * omp_get_thread_num();
            memcpy(b + o, a + o, k * 4);
        }
        t = now() - t;
        if (t < best) best = t;
    }
    free(a), free(b);
    return 2.0 * n * 4 / best / 1e9; /* read + write */
}

int main(int argc, char **argv) {
    int threads = 0, layers = 24, batch = 8, len = 256, steps = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--len")) len = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    }
    lr_model_config c = {0};
    strcpy(c.model_type, "qwen2");
    c.hidden_size = 896, c.n_layers = layers, c.n_heads = 14, c.n_kv_heads = 2, c.head_dim = 64;
    c.intermediate_size = 4864, c.vocab_size = 151936, c.max_position_embeddings = 32768;
    c.rms_norm_eps = 1e-6, c.rope_theta = 1e6, c.rope_type = ROPE_DEFAULT, c.tie_word_embeddings = 1;
    c.attention_bias = 1;
    strcpy(c.hidden_act, "silu");
    lr_model_opts o = {.n_threads = threads};
    double t0 = now();
    lr_model *m = model_new_random(&c, 1, 0.02f, &o);
    const int nt = model_n_threads(m);
    printf("threads %d, GEMM threading %s, init %.1f s\n", nt, getenv("LR_GEMM_THREADS") ? getenv("LR_GEMM_THREADS") : "omp",
           now() - t0);
    lr_backend *be = lr_backend_cpu_new(nt);
    const double peak = sgemm_peak(be), bw = copy_bw(nt);
    lr_backend_destroy(be);
    model_set_threads(m, nt);
    printf("sgemm 2048^3: %.1f GFLOP/s; copy bandwidth %.1f GB/s\n", peak, bw);

    const int V = c.vocab_size, d = c.hidden_size;
    const double wbytes = (double)model_weight_bytes(m);
    const double lin_params = (double)layers * ((double)(896 + 2 * 128) * d + (double)d * 896 + 3.0 * 4864 * d);
    /* scoring */
    const int T = batch * len;
    int32_t *tok = malloc((size_t)T * sizeof(int32_t));
    for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 7919u) % (unsigned)V);
    int *lens = malloc(batch * sizeof(int));
    for (int i = 0; i < batch; i++) lens[i] = len;
    float *logits = malloc((size_t)T * V * sizeof(float));
    model_forward(m, tok, lens, batch, 1, logits); /* warm-up: workspace, page faults */
    double t = now();
    model_forward(m, tok, lens, batch, 1, logits);
    t = now() - t;
    const double flops = 2.0 * T * (lin_params + (double)V * d) + 2.0 * 2.0 * layers * 896.0 * batch * len * (len + 1) / 2.0;
    printf("scoring %dx%d: %.3f s, %.0f tok/s, %.1f GFLOP/s (%.0f%% of sgemm peak)\n", batch, len, t, T / t,
           flops / t / 1e9, 100 * flops / t / 1e9 / peak);
    free(logits);

    /* decode */
    const int bsz[2] = {1, 16};
    for (int bi = 0; bi < 2; bi++) {
        const int B = bsz[bi], P = 32;
        lr_kv_cache *kv = kv_cache_new(m, B, P + steps + 1);
        int *slots = malloc(B * sizeof(int)), *nn = malloc(B * sizeof(int));
        int32_t *pt = malloc((size_t)B * P * sizeof(int32_t));
        float *last = malloc((size_t)B * V * sizeof(float));
        for (int i = 0; i < B; i++) slots[i] = i, nn[i] = P;
        for (int i = 0; i < B * P; i++) pt[i] = tok[i % T];
        model_extend(m, kv, slots, pt, nn, B, last, NULL);
        for (int i = 0; i < B; i++) nn[i] = 1;
        double best = 1e30, tot = 0;
        for (int s = 0; s < steps; s++) {
            double ts = now();
            model_extend(m, kv, slots, pt + s * B, nn, B, last, NULL);
            ts = now() - ts;
            tot += ts;
            if (ts < best) best = ts;
        }
        const double per = tot / steps;
        printf("decode batch %2d: %.1f ms/step (best %.1f), %.1f tok/s, weights %.2f GB/s (%.0f%% of copy bw)\n", B,
               1e3 * per, 1e3 * best, B / per, wbytes / per / 1e9, 100 * wbytes / per / 1e9 / bw);
        free(slots), free(nn), free(pt), free(last);
        kv_cache_free(kv);
    }
    free(tok), free(lens);
    model_free(m);
    return 0;
}
