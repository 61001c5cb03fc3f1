/* Column copies and small element-wise ops of the trainer (backend.h):
 * copy_cols, add_cols, scale, scatter_rows (gather_rows' backward), zero. */
#include <omp.h>
#include <string.h>

#include "model/cpu_train/cpu_train.h"

void cpu_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    if (M <= 0 || n <= 0) return;
    if (ldy == n && ldx == n) {
        memcpy(y, x, (size_t)M * n * sizeof(float));
        return;
    }
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)M * n)) schedule(static)
    for (int r = 0; r < M; r++) memcpy(y + (size_t)r * ldy, x + (size_t)r * ldx, (size_t)n * sizeof(float));
}

void cpu_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)M * n)) schedule(static)
    for (int r = 0; r < M; r++) {
        float *yr = y + (size_t)r * ldy;       /* (n) */
        const float *xr = x + (size_t)r * ldx; /* (n) */
#pragma omp simd
        for (int c = 0; c < n; c++) yr[c] += xr[c];
    }
}

void cpu_scale(lr_backend *be, float *x, size_t n, float s) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

void cpu_scatter_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    (void)be;
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)rows[i] * d, src + (size_t)i * d, (size_t)d * sizeof(float));
}

void cpu_zero(lr_backend *be, void *p, size_t bytes) {
    (void)be;
    if (bytes) memset(p, 0, bytes);
}
