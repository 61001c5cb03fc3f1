/* Inverted dropout with counter-based masks (backend.h dropout): the
 * forward and the backward are this one call (same mask, same scale). The
 * mask of element (r, c) is lr_dropout_keep(row_key[r], c, p), a pure
 * function of its keys, so it needs no state and no storage. */
#include <omp.h>

#include "model/cpu_train/cpu_train.h"

void cpu_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *row_key,
                 float p) {
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)M * n * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * ldx; /* (n) */
        float *o = out + (size_t)r * ldo;      /* (n) */
        const uint64_t k = row_key[r];
        for (int c = 0; c < n; c++) o[c] = lr_dropout_keep(k, (uint64_t)c, p) ? xr[c] * keep_scale : 0.0f;
    }
}
