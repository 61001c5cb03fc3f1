/* Log-softmax row statistics (logits_stats.h). */
#include "model/logits_stats.h"

#include <math.h>

#include "model/fast_exp.h"

void logits_row_stats(const float *logits, int V, int32_t target, int top_k, double *lse_out, float *target_lp,
                      float *entropy, int32_t *top_ids, float *top_lps, float *full) {
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0, wsum = 0.0; /* Σ e_i, Σ e_i (x_i - mx); e_i = exp(x_i - mx) in fp32 (~1 ulp) */
#pragma omp simd reduction(+ : sum, wsum)
    for (int i = 0; i < V; i++) {
        const float dx = logits[i] - mx;
        const float e = lr_expf(dx);
        sum += e;
        wsum += e > 0.0f ? (double)e * dx : 0.0;
    }
    /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the largest logit adds exp(0) = 1 */
    const double lse = mx + log(sum);
    if (lse_out) *lse_out = lse;
    if (target_lp) *target_lp = target >= 0 && target < V ? (float)((double)logits[target] - lse) : NAN;
    /* H = -Σ p (x - lse) = lse - mx - Σ p (x - mx) */
    if (entropy) *entropy = (float)(log(sum) - wsum / sum);
    if (top_k > 0 && top_ids) {
        /* Insertion into a sorted top list; most rows reject a value after one compare. */
        int n = 0;
        for (int i = 0; i < V; i++) {
            const float x = logits[i];
            if (n == top_k && !(x > logits[top_ids[n - 1]])) continue; /* equal value: lower id already in */
            int j = n < top_k ? n++ : top_k - 1;
            while (j > 0 && x > logits[top_ids[j - 1]]) {
                top_ids[j] = top_ids[j - 1];
                j--;
            }
            top_ids[j] = i;
        }
        for (int j = 0; j < n; j++)
            if (top_lps) top_lps[j] = (float)((double)logits[top_ids[j]] - lse);
        for (int j = n; j < top_k; j++) { /* V < top_k */
            top_ids[j] = -1;
            if (top_lps) top_lps[j] = -INFINITY;
        }
    }
    /* last: full may alias logits */
    if (full)
        for (int i = 0; i < V; i++) full[i] = (float)((double)logits[i] - lse);
}
