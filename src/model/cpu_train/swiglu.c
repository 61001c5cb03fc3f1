/* Backward of SwiGLU (backend.h swiglu_backward). The forward is the
 * per-ISA kernel of src/model/cpu/ops.c: act = silu(g) · u = g σ(g) u, so
 *   ∂act/∂u = g σ(g),  ∂act/∂g = σ(g) (1 + g (1 − σ(g))) u. */
#include <omp.h>

#include "model/cpu_train/cpu_train.h"
#include "model/fast_exp.h"

void cpu_swiglu_backward(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter) {
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)M * inter * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *g = gu + (size_t)r * 2 * inter, *u = g + inter; /* (I) gate, (I) up */
        const float *da = dact + (size_t)r * inter;                  /* (I) */
        float *dg = dgu + (size_t)r * 2 * inter, *du = dg + inter;   /* (I), (I) */
#pragma omp simd
        for (int i = 0; i < inter; i++) {
            const float sg = 1.0f / (1.0f + lr_expf(-g[i])); /* σ(g); lr_expf vectorises, libm's expf does not */
            du[i] = da[i] * g[i] * sg;
            dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}
