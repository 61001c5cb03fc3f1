/* AdamW / schedule / clipping (adamw.h). Each line mirrors the fp32
 * operation torch's AdamW performs, in the same order:
 *   p *= 1 − lr·wd
 *   m  = m + (1 − β1)·(g − m)                 exp_avg.lerp_(grad, 1 − β1)
 *   v  = v·β2 + (1 − β2)·g·g                  exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2)
 *   denom = sqrt(v) / sqrt(1 − β2^t) + ε
 *   p += −(lr / (1 − β1^t)) · m / denom       addcdiv_
 * with the bias corrections computed in double from the step count, as
 * torch computes them in Python floats. */
#include "trainer/adamw.h"

#include <math.h>

#include "common/check.h"

void adamw_init(adamw_state *s, size_t n) {
    s->n = n;
    s->m = xcalloc(n ? n : 1, sizeof *s->m);
    s->v = xcalloc(n ? n : 1, sizeof *s->v);
    s->t = 0;
}

void adamw_free(adamw_state *s) {
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
}

void adamw_update(adamw_state *s, const adamw_hparams *h, double lr, float *w, const float *g) {
    s->t++;
    const double bc1 = 1.0 - pow(h->beta1, (double)s->t);
    const double bc2 = 1.0 - pow(h->beta2, (double)s->t);
    const float decay = (float)(1.0 - lr * h->weight_decay);
    const float one_m_b1 = (float)(1.0 - h->beta1), b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)h->eps;
    float *m = s->m, *v = s->v;
    const size_t n = s->n;
    for (size_t i = 0; i < n; i++) {
        if (h->weight_decay != 0.0) w[i] *= decay;
        m[i] = m[i] + one_m_b1 * (g[i] - m[i]);
        v[i] = v[i] * b2 + one_m_b2 * g[i] * g[i];
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] = w[i] + (-step_size) * (m[i] / denom);
    }
}

double lr_linear(double lr0, int64_t step, int64_t max_steps) {
    const double rem = (double)(max_steps - step);
    return lr0 * (rem > 0 ? rem : 0.0) / (double)(max_steps > 1 ? max_steps : 1);
}

double grad_norm(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

void grad_clip(float *g, size_t n, double norm, double max_norm) {
    const float coef = (float)max_norm / ((float)norm + 1e-6f);
    if (!(coef < 1.0f)) return; /* torch clamps to 1 and multiplies: a no-op */
    for (size_t i = 0; i < n; i++) g[i] *= coef;
}
