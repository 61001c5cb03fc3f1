/* Selection and labels of the LightReasoner method (method/method.h). */
#include "method/method.h"

#include <math.h>

#include "common/error.h"

lr_method method_make(double alpha, double beta) {
    lr_method m = {.alpha = alpha,
                   .beta = beta,
                   .select = METHOD_SELECT_KL,
                   .labels = METHOD_LABELS_CONTRAST,
                   .select_seed = 42};
    return m;
}

int method_check(const lr_method *m, const char *who) {
    if (!(m->alpha > 0.0 && m->alpha <= 1.0)) {
        lr_error_set(who, "--alpha must be in (0, 1], got %g", m->alpha);
        return -1;
    }
    if (isnan(m->beta)) {
        lr_error_set(who, "--beta must be a number, got %g", m->beta);
        return -1;
    }
    return 0;
}

/* KL_t >= beta; a non-finite KL (a step whose logits held NaN/Inf, see
 * contrast_step) is never selected. */
int method_select(const lr_method *m, const lr_scored_step *s) {
    if (m->select == METHOD_SELECT_ALL) return isfinite(s->kl);
    return isfinite(s->kl) && s->kl >= m->beta;
}

int method_label(const lr_method *m, const lr_scored_step *s, int32_t *out_ids, float *out_w) {
    if (m->labels == METHOD_LABELS_ONEHOT) {
        if (s->token < 0) return 0; /* a run file without /divergence/token: `select` refuses it before */
        out_ids[0] = s->token;
        out_w[0] = 1.0f;
        return 1;
    }
    return method_contrast_label(s->ids, s->lpe, s->lpa, s->n, m->alpha, out_ids, out_w);
}

int method_sample(const lr_method *m, const lr_scored_step *s, int32_t *out_ids, float *out_w) {
    if (!method_select(m, s)) return 0;
    return method_label(m, s, out_ids, out_w);
}

const char *method_describe(const lr_method *m) {
    /* the default's text is unchanged: run files of the default method stay byte-identical */
    static const char *const text[3][2] = {
        {"training samples: generated steps with KL >= beta; label = softmax over the plausible set "
         "{v: p_E(v) >= alpha * max p_E} of log p_E(v) - log p_A(v)",
         "training samples: generated steps with KL >= beta; label = the expert's own token y_t, weight 1 "
         "(ablation: --labels onehot)"},
        {"training samples: per trace, as many steps as KL >= beta selects, drawn at random among its finite steps "
         "(ablation: --select random); label = softmax over the plausible set {v: p_E(v) >= alpha * max p_E} of "
         "log p_E(v) - log p_A(v)",
         "training samples: per trace, as many steps as KL >= beta selects, drawn at random among its finite steps; "
         "label = the expert's own token y_t, weight 1 (the SFT control: --sft)"},
        {"training samples: every finite generated step (ablation: --select all); label = softmax over the plausible "
         "set {v: p_E(v) >= alpha * max p_E} of log p_E(v) - log p_A(v)",
         "training samples: every finite generated step; label = the expert's own token y_t, weight 1 (ablation: "
         "--select all --labels onehot)"}};
    return text[m->select][m->labels];
}

/* exp(s - smax); +inf scores (amateur probability 0) share the mass equally. */
static double label_term(double s, double smax) {
    if (isinf(smax)) return s == smax ? 1.0 : 0.0;
    return exp(s - smax);
}

int method_contrast_label(const int32_t *ids, const float *lpe, const float *lpa, int n, double alpha,
                          int32_t *out_ids, float *out_w) {
    if (n <= 0) return 0;
    /* max over the finite log-probs; a candidate is plausible only when its
     * log-probs are finite (a run file may hold a non-finite step's row) */
    float max_lpe = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(lpe[i]) && lpe[i] > max_lpe) max_lpe = lpe[i];
    if (!isfinite(max_lpe)) return 0;
    double thr = log(alpha);
#define PLAUSIBLE(i) (isfinite(lpe[i]) && !isnan(lpa[i]) && (double)lpe[(i)] - (double)max_lpe >= thr)
    /* s = lpe - lpa over M; softmax in fp64 with the max subtracted. */
    double smax = -INFINITY;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!PLAUSIBLE(i)) continue;
        double s = (double)lpe[i] - (double)lpa[i];
        if (s > smax) smax = s;
        out_ids[m++] = ids[i];
    }
    if (m == 0) return 0;
    double z = 0.0;
    for (int i = 0; i < n; i++) {
        if (!PLAUSIBLE(i)) continue;
        z += label_term((double)lpe[i] - (double)lpa[i], smax);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!PLAUSIBLE(i)) continue;
        out_w[k++] = (float)(label_term((double)lpe[i] - (double)lpa[i], smax) / z);
    }
#undef PLAUSIBLE
    return m;
}
