/* Backward ops (train_ops.h): GEMM helper, RMSNorm, SwiGLU, dropout, loss.
 * Attention backward is in train_attention.c. */
#include "trainer/train_ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model/fast_exp.h"
#include "trainer/rng.h"

/* Element-wise work per thread below which threads cost more than they save. */
#define PAR_MIN_WORK 16384
static int nt_for(int nt, long work) { return work >= PAR_MIN_WORK && nt > 1 ? nt : 1; }

void tr_gemm(int nt, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
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

void tr_rmsnorm_backward(int nt, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                         float eps) {
#pragma omp parallel for num_threads(nt_for(nt, (long)M * d)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * d, *gr = dy + (size_t)r * d; /* (d) */
        float *o = dx + (size_t)r * d;                                  /* (d) */
        double ss = 0.0, dot = 0.0;
#pragma omp simd reduction(+ : ss, dot)
        for (int i = 0; i < d; i++) {
            ss += (double)xr[i] * xr[i];
            dot += (double)w[i] * gr[i] * xr[i];
        }
        /* the forward's rstd, in fp32 as HF computes it */
        const float rstd = 1.0f / sqrtf((float)(ss / d) + eps);
        /* y_i = w_i x_i rstd;  dx_i = rstd w_i dy_i - x_i rstd³ (Σ_j w_j dy_j x_j) / d */
        const float c = (float)(dot * (double)rstd * rstd * rstd / d);
#pragma omp simd
        for (int i = 0; i < d; i++) o[i] += rstd * w[i] * gr[i] - xr[i] * c;
    }
}

void tr_swiglu_backward(int nt, const float *gu, const float *dact, float *dgu, int M, int inter) {
#pragma omp parallel for num_threads(nt_for(nt, (long)M * inter * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *g = gu + (size_t)r * 2 * inter, *u = g + inter; /* (I) gate, (I) up */
        const float *da = dact + (size_t)r * inter;                  /* (I) */
        float *dg = dgu + (size_t)r * 2 * inter, *du = dg + inter;   /* (I), (I) */
#pragma omp simd
        for (int i = 0; i < inter; i++) {
            const float sg = 1.0f / (1.0f + lr_expf(-g[i])); /* σ(g); lr_expf vectorises, libm's expf does not */
            /* act = g σ(g) u;  d act / d g = σ(g) (1 + g (1 − σ(g))) u */
            du[i] = da[i] * g[i] * sg;
            dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

void tr_dropout(int nt, const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *row_key,
                float p) {
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(nt_for(nt, (long)M * n * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *o = out + (size_t)r * ldo;
        const uint64_t k = row_key[r];
        for (int c = 0; c < n; c++) o[c] = rng_unit(rng_key(k, (uint64_t)c)) >= p ? xr[c] * keep_scale : 0.0f;
    }
}

void tr_add_cols(int nt, float *y, int ld, const float *x, int M, int n) {
#pragma omp parallel for num_threads(nt_for(nt, (long)M * n)) schedule(static)
    for (int r = 0; r < M; r++) {
        float *yr = y + (size_t)r * ld;
        const float *xr = x + (size_t)r * n;
#pragma omp simd
        for (int c = 0; c < n; c++) yr[c] += xr[c];
    }
}

void tr_kl_loss(int nt, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                const float *lab_w, double grad_scale, double *loss, float *dz) {
#pragma omp parallel for num_threads(nt_for(nt, (long)n * V)) schedule(static)
    for (int i = 0; i < n; i++) {
        const float *zr = z + (size_t)i * V; /* (V) */
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = zr[v] > mx ? zr[v] : mx;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) sum += exp((double)(zr[v] - mx));
        /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the largest logit adds exp(0) = 1 */
        const float lse = mx + (float)log(sum); /* log_softmax(z)_v = z_v − lse */
        double kl = 0.0;
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) {
            const double w = lab_w[k];
            if (w > 0.0) kl += w * (log(w) - (double)(zr[lab_ids[k]] - lse));
        }
        loss[i] = kl;
        if (!dz) continue;
        float *g = dz + (size_t)i * V; /* (V) */
        const float gs = (float)grad_scale;
        for (int v = 0; v < V; v++) g[v] = expf(zr[v] - lse) * gs;
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) g[lab_ids[k]] -= (float)(lab_w[k] * grad_scale);
    }
}
