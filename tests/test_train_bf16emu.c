/* The trainer under the bf16 emulation backend (backend_bf16emu.c; issue
 * 14 item 4, SPEC §5): the CUDA path will run the trainer's GEMMs with
 * bf16 inputs and fp32 accumulation, and CI holds that numerics contract
 * on the CPU through the emulation.
 *   1. The emulated training gemm is exactly the fp32 gemm on bf16-rounded
 *      inputs (every transpose, strided views), so it rounds where
 *      cuBLASLt will and nowhere else.
 *   2. A training step (every LoRA module, dropout on) under
 *      LR_EMULATE_BF16=1 runs, differs from fp32 (the emulation is on) and
 *      stays near it: loss within 1% and LoRA gradients within 5% of the
 *      largest entry (bf16 keeps 8 significant bits: ~0.4% per rounding). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/backend.h"
#include "model/model.h"
#include "test_util.h"
#include "trainer/lora.h"
#include "trainer/rng.h"
#include "trainer/train_net.h"

static uint64_t seed_state = 777;
static float rnd(void) { return 2.0f * rng_unit(rng_mix(seed_state++)) - 1.0f; }

static void test_gemm(void) {
    lr_backend *fp = lr_backend_cpu_new(2), *emu = lr_backend_cpu_new(2);
    lr_backend_emulate_bf16(emu);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            enum { M = 37, N = 301, K = 45, PAD = 3 };
            const int ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
            const int lda = ca + PAD, ldb = cb + PAD, ldc = N + PAD;
            float *A = malloc((size_t)ra * lda * 4), *B = malloc((size_t)rb * ldb * 4);
            float *Ar = malloc((size_t)ra * lda * 4), *Br = malloc((size_t)rb * ldb * 4);
            float *C1 = malloc((size_t)M * ldc * 4), *C2 = malloc((size_t)M * ldc * 4);
            for (int i = 0; i < ra * lda; i++) A[i] = rnd(), Ar[i] = lr_round_bf16(A[i]);
            for (int i = 0; i < rb * ldb; i++) B[i] = rnd(), Br[i] = lr_round_bf16(B[i]);
            for (int i = 0; i < M * ldc; i++) C1[i] = C2[i] = rnd();
            emu->gemm(emu, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C1, ldc);
            fp->gemm(fp, ta, tb, M, N, K, 0.75f, Ar, lda, Br, ldb, 0.5f, C2, ldc);
            EXPECT(!memcmp(C1, C2, (size_t)M * ldc * 4), "emulated gemm (ta %d tb %d) == fp32 gemm of bf16 inputs",
                   ta, tb);
            int changed = 0; /* and the rounding is really there */
            fp->gemm(fp, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C2, ldc);
            for (int i = 0; i < M * ldc; i++) changed += C1[i] != C2[i];
            EXPECT(changed > 0, "rounding the inputs changes the product");
            free(A), free(B), free(Ar), free(Br), free(C1), free(C2);
        }
    lr_backend_destroy(fp);
    lr_backend_destroy(emu);
}

/* One training step of model m with adapter a; grad (n_params), loss (2). */
static void step(lr_model *m, lr_lora *a, float *grad, double *loss) {
    int32_t tok[9] = {5, 77, 301, 12, 9, 250, 3, 3, 100};
    int lens[2] = {4, 5};
    int64_t keys[2] = {3, 8}, off[3] = {0, 2, 3};
    int32_t ids[3] = {7, 200, 15};
    float w[3] = {0.6f, 0.4f, 1.0f};
    tr_batch b = {.n_seq = 2, .tokens = tok, .lens = lens, .key = keys, .lab_off = off, .lab_ids = ids, .lab_w = w};
    tr_net *n = tr_net_new(m, a, 0);
    memset(grad, 0, a->n_params * sizeof(float));
    EXPECT(tr_net_step(n, &b, rng_key(5, 6), 0.5, grad, loss) == 0, "%s", lr_error_msg());
    tr_net_free(n);
}

static void test_training(void) {
    lr_model_opts mo = {.n_threads = 2, .quiet = 1, .weights_f32 = 1};
    lr_model *m32 = model_load(test_data_path("model/qwen2_tied"), &mo);
    setenv("LR_EMULATE_BF16", "1", 1); /* the switch CI and users flip */
    lr_model *m16 = model_load(test_data_path("model/qwen2_tied"), &mo);
    unsetenv("LR_EMULATE_BF16");
    EXPECT(m32 && m16, "%s", lr_error_msg());
    if (!m32 || !m16) return;
    EXPECT(!strcmp(model_backend(m16)->name, "cpu-bf16-emulation"), "LR_EMULATE_BF16=1 gives the emulation (%s)",
           model_backend(m16)->name);
    lora_config lc = {.r = 4, .alpha = 8, .dropout = 0.1, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, model_config(m32));
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = 0.2f * rnd(); /* B != 0: gradients reach every module */
    float *g32 = malloc(a->n_params * sizeof(float)), *g16 = malloc(a->n_params * sizeof(float));
    double l32[2], l16[2];
    step(m32, a, g32, l32);
    step(m16, a, g16, l16);
    double gmax = 0, dmax = 0;
    size_t differ = 0;
    for (size_t i = 0; i < a->n_params; i++) {
        gmax = fmax(gmax, fabs(g32[i]));
        dmax = fmax(dmax, fabs((double)g16[i] - g32[i]));
        differ += g16[i] != g32[i];
    }
    const double L32 = l32[0] + l32[1], L16 = l16[0] + l16[1];
    printf("bf16 emulation vs fp32: loss %.6f vs %.6f (rel %.2g), LoRA gradients max |diff| / max |g| = %.2g "
           "(%zu of %zu entries differ)\n",
           L16, L32, fabs(L16 - L32) / L32, dmax / gmax, differ, a->n_params);
    EXPECT(isfinite(L16) && fabs(L16 - L32) <= 1e-2 * fabs(L32), "loss under emulation %g vs fp32 %g", L16, L32);
    EXPECT(dmax <= 5e-2 * gmax, "gradients under emulation: max diff %g of max %g", dmax, gmax);
    EXPECT(differ > a->n_params / 2, "the emulation rounds (only %zu of %zu gradient entries differ)", differ,
           a->n_params);
    free(g32), free(g16);
    lora_free(a);
    model_free(m32);
    model_free(m16);
}

/* max over (m, j) of |out - a·W| / Σ|a·W| for out (M, J) = a (M, I) · W,
 * W[i][j] = w[i * J + j] (w_ij) or w[j * I + i], in fp64 */
static double max_rel_err(const float *out, const float *a, const float *w, int M, int J, int I, int w_ij) {
    double err = 0;
    for (int m = 0; m < M; m++)
        for (int j = 0; j < J; j++) {
            double exact = 0, mag = 0;
            for (int i = 0; i < I; i++) {
                const double p = (double)a[m * I + i] * (w_ij ? w[i * J + j] : w[j * I + i]);
                exact += p, mag += fabs(p);
            }
            err = fmax(err, fabs(out[m * J + j] - exact) / mag);
        }
    return err;
}

/* bf16_split (backend.h; the trainer's bf16 frozen weights): a bf16-weight
 * GEMM on x = hi + lo is fp32-accurate where one GEMM on bf16(x) is not;
 * the forward (matmul) and the input gradient (matmul_dx: dy split). */
static void test_split_matmul(void) {
    enum { M = 37, N = 301, K = 45 };
    lr_backend *emu = lr_backend_cpu_new(2);
    lr_backend_emulate_bf16(emu);
    float *x = malloc((size_t)M * K * 4), *wf = malloc((size_t)N * K * 4), *y = malloc((size_t)M * N * 4);
    float *dy = malloc((size_t)M * N * 4), *dx = malloc((size_t)M * K * 4);
    uint16_t *wb = malloc((size_t)N * K * 2);
    for (int i = 0; i < M * K; i++) x[i] = rnd();
    for (int i = 0; i < M * N; i++) dy[i] = rnd();
    for (int i = 0; i < N * K; i++) {
        wf[i] = lr_round_bf16(rnd());
        uint32_t u;
        memcpy(&u, &wf[i], 4);
        wb[i] = (uint16_t)(u >> 16);
    }
    const lr_weight w = {wb, LR_BF16};
    for (int op = 0; op < 2; op++) { /* 0: y (M, N) = x (M, K) · wᵀ; 1: dx (M, K) = dy (M, N) · w */
        double err[2];
        for (int split = 0; split < 2; split++) {
            emu->bf16_split = split;
            if (op == 0) emu->matmul(emu, x, K, w, NULL, y, N, M, N, K, 0);
            else emu->matmul_dx(emu, dy, w, dx, M, N, K);
            err[split] = op == 0 ? max_rel_err(y, x, wf, M, N, K, 0) : max_rel_err(dx, dy, wf, M, K, N, 1);
        }
        const char *what = op == 0 ? "matmul" : "matmul_dx";
        printf("bf16-weight %s, max error / sum |x w|: one GEMM on rounded input %.2g, split input %.2g\n", what,
               err[0], err[1]);
        EXPECT(err[1] <= 2e-5, "%s split: fp32-level error (%g)", what, err[1]);
        EXPECT(err[0] >= 1e-4 && err[0] > 20 * err[1], "%s on rounded input rounds (%g vs split %g)", what, err[0],
               err[1]);
    }
    free(x), free(wf), free(y), free(wb), free(dy), free(dx);
    lr_backend_destroy(emu);
}

/* One training step of a bf16 checkpoint: the CPU fp32 trainer (weights
 * widened) against the emulated CUDA trainer with LR_TRAIN_WEIGHTS=bf16
 * (split: issue 16's contract, loss within 1e-3 relative, gradient cosine
 * >= 0.999, relative L2 <= 2e-2) and =bf16-round (recorded). */
static void test_split_training(void) {
    const char *dir = test_data_path("model/qwen2_gqa_bf16");
    lr_model_opts m32o = {.n_threads = 2, .quiet = 1, .weights_f32 = 1}, m16o = {.n_threads = 2, .quiet = 1};
    lr_model *m32 = model_load(dir, &m32o);
    setenv("LR_EMULATE_BF16", "1", 1);
    lr_model *ms = model_load(dir, &m16o), *mr = model_load(dir, &m16o);
    unsetenv("LR_EMULATE_BF16");
    EXPECT(m32 && ms && mr, "%s", lr_error_msg());
    if (!m32 || !ms || !mr) return;
    EXPECT(tr_weights_apply(ms, TR_WEIGHTS_BF16, 0) == TR_WEIGHTS_BF16 &&
               tr_weights_apply(mr, TR_WEIGHTS_BF16_ROUND, 0) == TR_WEIGHTS_BF16_ROUND,
           "a bf16 checkpoint keeps its mode");
    EXPECT(model_backend(ms)->bf16_split == 1 && model_backend(mr)->bf16_split == 0 &&
               model_backend(ms)->bf16_weights_only == 1 && model_backend(mr)->bf16_weights_only == 1,
           "LR_TRAIN_WEIGHTS modes (the emulation then rounds only the bf16 weights' GEMMs, as CUDA)");
    EXPECT(tr_weights_apply(m32, TR_WEIGHTS_BF16, 0) == TR_WEIGHTS_F32 && model_backend(m32)->bf16_split == 0,
           "weights loaded as fp32 train as f32 whatever the mode");
    lora_config lc = {.r = 4, .alpha = 8, .dropout = 0.1, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, model_config(m32));
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = 0.2f * rnd();
    float *g[3];
    double l[3][2];
    lr_model *ms3[3] = {m32, ms, mr};
    for (int i = 0; i < 3; i++) g[i] = malloc(a->n_params * sizeof(float)), step(ms3[i], a, g[i], l[i]);
    double rel_loss[3], rel_l2[3], cosine[3];
    for (int i = 1; i < 3; i++) {
        double dot = 0, n0 = 0, n1 = 0, d2 = 0;
        for (size_t k = 0; k < a->n_params; k++) {
            dot += (double)g[0][k] * g[i][k], n0 += (double)g[0][k] * g[0][k], n1 += (double)g[i][k] * g[i][k];
            d2 += ((double)g[i][k] - g[0][k]) * ((double)g[i][k] - g[0][k]);
        }
        const double L0 = l[0][0] + l[0][1], L = l[i][0] + l[i][1];
        rel_loss[i] = fabs(L - L0) / fabs(L0), rel_l2[i] = sqrt(d2 / n0), cosine[i] = dot / sqrt(n0 * n1);
        printf("bf16 weights, %s vs the fp32 trainer: loss rel %.2g, gradient rel L2 %.2g, cosine %.8f\n",
               i == 1 ? "split (LR_TRAIN_WEIGHTS=bf16)" : "rounded (bf16-round)", rel_loss[i], rel_l2[i], cosine[i]);
    }
    EXPECT(rel_loss[1] <= 1e-3 && cosine[1] >= 0.999 && rel_l2[1] <= 2e-2,
           "split meets the trainer contract (loss %g, cosine %g, L2 %g)", rel_loss[1], cosine[1], rel_l2[1]);
    /* ... and by the margin the split is for (measured 1.1e-6 / 1.1e-5): the contract alone would pass a split
     * that dropped matmul_dx's lo half (L2 2.9e-3) */
    EXPECT(rel_loss[1] <= 1e-5 && rel_l2[1] <= 2e-4, "split is fp32-level (loss %g, L2 %g)", rel_loss[1], rel_l2[1]);
    EXPECT(rel_l2[1] < rel_l2[2], "split is closer to fp32 than rounding (L2 %g vs %g)", rel_l2[1], rel_l2[2]);
    for (int i = 0; i < 3; i++) free(g[i]);
    lora_free(a);
    model_free(m32), model_free(ms), model_free(mr);
}

int main(void) {
    test_gemm();
    test_training();
    test_split_matmul();
    test_split_training();
    return test_finish("test_train_bf16emu");
}
