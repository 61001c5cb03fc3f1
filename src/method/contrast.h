/* The expert-vs-amateur contrast of SPEC §2, one generated step at a time:
 * the first half of the LightReasoner method (method/method.h is the second:
 * selection and labels from what this stores).
 *
 * Pure math, no I/O, no model: given the two raw logits rows the models
 * produced for the same context (x, y_<t), it computes
 *   - log p = log-softmax over each model's OWN full row (V_E resp. V_A
 *     entries), in fp32 with the normaliser accumulated in fp64;
 *   - KL_t = sum_{v<V} p_E(v) (log p_E(v) - log p_A(v)), V = min(V_E, V_A),
 *     fp64 sums. Ids >= V are ignored in the sum but still take part in the
 *     normalisation of their own model, as in the reference implementation
 *     (softmax over the full vocabulary, then truncation to the shared ids);
 *   - each model's entropy over its full row and its top-1 id over its full
 *     row (lowest id on ties), the chosen token's log-prob under each model;
 *   - the store-alpha candidate set { v < V : p_E(v) >= store_alpha * max_{u<V} p_E(u) }
 *     with both log-probs, which is all that selection and labelling need.
 *
 * Selection and labels are computed from the stored candidates only
 * (method/method.h), so `select` on a run file reproduces sampling exactly. */
#ifndef LR_METHOD_CONTRAST_H
#define LR_METHOD_CONTRAST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double kl;              /* nats, over the shared ids */
    double entropy_expert;  /* nats, over the expert's full row */
    double entropy_amateur; /* nats, over the amateur's full row */
    float logp_expert;      /* log p_E(y_t) */
    float logp_amateur;     /* log p_A(y_t); -inf when y_t >= V_A */
    int32_t top1_expert;
    int32_t top1_amateur;
} lr_step_div;

/* Growable candidate arrays (ids ascending within a step). */
typedef struct {
    int32_t *ids;
    float *logp_expert;
    float *logp_amateur;
    size_t n, cap;
} lr_cand_buf;

void cand_buf_free(lr_cand_buf *b);
void cand_buf_reserve(lr_cand_buf *b, size_t extra);

/* Scratch floats contrast_step needs: ve + va. */
size_t contrast_scratch_size(int ve, int va);

/* One step. logits_e (ve), logits_a (va): raw logits rows; token: the
 * generated id y_t (< ve). Appends the candidates to cand and returns their
 * number (>= 1). scratch: contrast_scratch_size() floats. When either row
 * holds a NaN or an infinity (or the KL is not finite) the step is recorded
 * as non-finite: kl, both log-probs and the entropy of the bad row are NaN,
 * and its single candidate is `token` with NaN log-probs. */
int contrast_step(const float *logits_e, int ve, const float *logits_a, int va, int32_t token, double store_alpha,
                  float *scratch, lr_step_div *out, lr_cand_buf *cand);

/* A step recorded as non-finite (contrast_step stores KL = NaN; such a step
 * is never selected, method/method.h). */
static inline int contrast_nonfinite(double kl) { return !isfinite(kl); }

#endif
