/* Statistics of one next-token logits row, as the logprobs command and the
 * scorer need them: log-softmax in fp32 with fp64 sums (SPEC §2). */
#ifndef LR_LOGITS_STATS_H
#define LR_LOGITS_STATS_H

#include <stdint.h>

/* For logits (V):
 *   *lse          = log Σ exp(logits) (fp32 exps, ~1 ulp; fp64 sum)
 *   *target_lp    = log p(target) (when target >= 0, else NaN)
 *   *entropy      = -Σ p log p in nats
 *   top_ids/top_lps (top_k) = the top_k most probable ids (ties: lower id
 *                   first) and their log-probs, descending; top_k may be 0
 *   full (V)      = the whole log-softmax row, when non-NULL; may be the
 *                   logits row itself (written last).
 * Any output pointer may be NULL. */
void logits_row_stats(const float *logits, int V, int32_t target, int top_k, double *lse, float *target_lp,
                      float *entropy, int32_t *top_ids, float *top_lps, float *full);

#endif
