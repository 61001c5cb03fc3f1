/* Per-step contrast math (method/contrast.h). */
#include "method/contrast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

void cand_buf_free(lr_cand_buf *b) {
    free(b->ids);
    free(b->logp_expert);
    free(b->logp_amateur);
    memset(b, 0, sizeof *b);
}

void cand_buf_reserve(lr_cand_buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    b->ids = xrealloc(b->ids, cap * sizeof *b->ids);
    b->logp_expert = xrealloc(b->logp_expert, cap * sizeof *b->logp_expert);
    b->logp_amateur = xrealloc(b->logp_amateur, cap * sizeof *b->logp_amateur);
    b->cap = cap;
}

size_t contrast_scratch_size(int ve, int va) { return 2 * ((size_t)ve + (size_t)va); }

/* For one raw logits row x (n): lp = x - logsumexp(x) in fp32 (the
 * normaliser in fp64), e = exp(x - max) (so p = e / sum_e), the entropy
 * -sum p lp in fp64 and the first argmax. Returns sum_e, or NAN when the
 * row holds a NaN or an infinity (then lp/e/entropy are not filled). */
static double log_softmax_row(const float *x, int n, float *lp, float *e, double *entropy, int32_t *top1) {
    float mx = x[0];
    int32_t arg = 0;
    int finite = 1;
    for (int i = 0; i < n; i++) {
        finite &= isfinite(x[i]) != 0;
        if (x[i] > mx) {
            mx = x[i];
            arg = i;
        }
    }
    *top1 = arg;
    if (!finite) {
        *entropy = NAN;
        return NAN;
    }
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        e[i] = expf(x[i] - mx);
        s += (double)e[i];
    }
    /* cppcheck-suppress invalidFunctionArg ; s >= 1: the largest logit adds exp(0) = 1 */
    double lse = (double)mx + log(s);
    double h = 0.0;
    for (int i = 0; i < n; i++) {
        lp[i] = (float)((double)x[i] - lse);
        if (e[i] > 0.0f) h -= (double)e[i] * (double)lp[i]; /* 0 log 0 = 0 */
    }
    *entropy = h / s;
    return s;
}

/* A step whose rows (or KL) are not finite: KL = NaN marks it (never
 * selected, counted by the caller) and its one candidate is the generated
 * token (id 0 when that is not a shared id < min(ve, va)), so every stored
 * step keeps >= 1 candidate. */
static int nonfinite_step(int32_t token, int ve, int va, lr_step_div *out, lr_cand_buf *cand) {
    out->kl = NAN;
    out->logp_expert = NAN;
    out->logp_amateur = token < va ? NAN : -INFINITY;
    cand_buf_reserve(cand, 1);
    cand->ids[cand->n] = token < ve && token < va ? token : 0;
    cand->logp_expert[cand->n] = NAN;
    cand->logp_amateur[cand->n] = NAN;
    cand->n++;
    return 1;
}

int contrast_step(const float *logits_e, int ve, const float *logits_a, int va, int32_t token, double store_alpha,
                  float *scratch, lr_step_div *out, lr_cand_buf *cand) {
    LR_CHECK(ve > 0 && va > 0 && token >= 0 && token < ve, "contrast_step: bad sizes (ve %d, va %d, token %d)", ve,
             va, (int)token);
    float *lpe = scratch;                /* (ve) log p_E */
    float *ee = lpe + ve;                /* (ve) exp(x_E - max), p_E = ee / se */
    float *lpa = ee + ve;                /* (va) log p_A */
    float *ea = lpa + va;                /* (va) */
    double se = log_softmax_row(logits_e, ve, lpe, ee, &out->entropy_expert, &out->top1_expert);
    double sa = log_softmax_row(logits_a, va, lpa, ea, &out->entropy_amateur, &out->top1_amateur);
    if (isnan(se) || isnan(sa)) return nonfinite_step(token, ve, va, out, cand);
    int v = ve < va ? ve : va;

    double kl = 0.0;
    float max_lpe = lpe[0];
    for (int i = 0; i < v; i++) {
        if (ee[i] > 0.0f) kl += (double)ee[i] * ((double)lpe[i] - (double)lpa[i]);
        if (lpe[i] > max_lpe) max_lpe = lpe[i];
    }
    if (!isfinite(kl / se)) return nonfinite_step(token, ve, va, out, cand);
    out->kl = kl / se;
    out->logp_expert = lpe[token];
    out->logp_amateur = token < va ? lpa[token] : -INFINITY;

    /* one predicate for counting and filling (finite rows: lpe is finite) */
    double thr = log(store_alpha);
    int n = 0;
    for (int i = 0; i < v; i++)
        if ((double)lpe[i] - (double)max_lpe >= thr) n++;
    cand_buf_reserve(cand, (size_t)n);
    for (int i = 0; i < v; i++) {
        if (!((double)lpe[i] - (double)max_lpe >= thr)) continue;
        cand->ids[cand->n] = i;
        cand->logp_expert[cand->n] = lpe[i];
        cand->logp_amateur[cand->n] = lpa[i];
        cand->n++;
    }
    return n;
}
