/* Backward of RMSNorm (backend.h rmsnorm_backward). The forward is the
 * per-ISA kernel of src/model/cpu/ops.c:
 *   y_i = w_i x_i rstd,  rstd = 1 / sqrt(mean(x²) + eps)
 * so dx_i = rstd w_i dy_i − x_i rstd³ (Σ_j w_j dy_j x_j) / d. */
#include <math.h>
#include <omp.h>

#include "model/cpu_train/cpu_train.h"

void cpu_rmsnorm_backward(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                          float eps) {
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)M * d)) schedule(static)
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
        const float c = (float)(dot * (double)rstd * rstd * rstd / d);
#pragma omp simd
        for (int i = 0; i < d; i++) o[i] += rstd * w[i] * gr[i] - xr[i] * c;
    }
}
