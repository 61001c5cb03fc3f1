/* The training loss of SPEC §2 and its gradient (backend.h kl_loss): the
 * forward (loss) and backward (dz) in one pass over each row of logits. */
#include <math.h>
#include <omp.h>

#include "model/cpu_train/cpu_train.h"

void cpu_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                 const float *lab_w, double grad_scale, double *loss, float *dz) {
#pragma omp parallel for num_threads(cpu_train_threads(be, (long)n * V)) schedule(static)
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
