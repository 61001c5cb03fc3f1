/* Backward of RoPE (backend.h rope_backward). RoPE is a rotation of each
 * (x_i, x_{i+hd/2}) pair by pos · inv_freq_i, so its backward is the
 * rotation by the opposite angle: the forward kernel (the backend's rope,
 * src/model/cpu/ops.c) at −pos (fp32: (−p)·f = −(p·f) exactly). */
#include <stdlib.h>

#include "common/check.h"
#include "model/cpu_train/cpu_train.h"

void cpu_rope_backward(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                       const float *inv_freq) {
    if (M <= 0) return;
    int32_t *neg = xmalloc((size_t)M * sizeof *neg); /* (M) host */
    for (int r = 0; r < M; r++) neg[r] = -pos[r];
    be->rope(be, dx, ld, M, n_heads, head_dim, neg, inv_freq);
    free(neg);
}
