/* The paper's ablations and controls as rules of the method (method.h,
 * SPEC §2 "Ablations"): the trace-level selection (kl | random | all), the
 * flag parsing and the names the run file records. The one-hot label is in
 * method_label. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "method/method.h"

static const char *const select_names[] = {"kl", "random", "all"};
static const char *const label_names[] = {"contrast", "onehot"};

const char *method_select_name(const lr_method *m) { return select_names[m->select]; }
const char *method_labels_name(const lr_method *m) { return label_names[m->labels]; }

int method_set_rules(lr_method *m, const char *select, const char *labels, int sft, uint64_t select_seed,
                     const char *who) {
    m->select_seed = select_seed;
    if (sft) {
        /* the SFT control is exactly random steps + one-hot labels: an
         * explicit other rule next to it is a contradiction, not a tweak */
        if ((select && strcmp(select, "random") != 0) || (labels && strcmp(labels, "onehot") != 0)) {
            lr_error_set(who, "--sft is --select random --labels onehot; it cannot go with --select %s --labels %s",
                         select ? select : "random", labels ? labels : "onehot");
            return -1;
        }
        m->select = METHOD_SELECT_RANDOM;
        m->labels = METHOD_LABELS_ONEHOT;
        return 0;
    }
    if (select) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(select, select_names[i]) == 0) k = i;
        if (k < 0) {
            lr_error_set(who, "--select must be kl, random or all, got '%s'", select);
            return -1;
        }
        m->select = (lr_select_rule)k;
    }
    if (labels) {
        int k = -1;
        for (int i = 0; i < 2; i++)
            if (strcmp(labels, label_names[i]) == 0) k = i;
        if (k < 0) {
            lr_error_set(who, "--labels must be contrast or onehot, got '%s'", labels);
            return -1;
        }
        m->labels = (lr_label_rule)k;
    }
    return 0;
}

/* splitmix64 (common/hash.h): a counter-based stream, so a trace's draw is
 * a function of (select_seed, problem) alone. */
static uint64_t mix64(uint64_t z) { return lr_mix64(z + LR_SPLITMIX64_GAMMA); }

/* Uniform integer in [0, n), n >= 1: rejection keeps every value equally likely. */
static uint64_t draw_below(uint64_t key, uint64_t *counter, uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        const uint64_t r = mix64(key ^ mix64((*counter)++));
        if (r < limit) return r % n;
    }
}

int method_select_trace(const lr_method *m, int64_t problem, const double *kl, int n, uint8_t *mask, int32_t *scratch) {
    int k = 0, f = 0, c = 0;
    for (int i = 0; i < n; i++) {
        const int fin = isfinite(kl[i]);
        k += fin && kl[i] >= m->beta;
        if (fin) scratch[f++] = i; /* the finite steps: what a random draw picks from */
        const lr_scored_step st = {.kl = kl[i]};
        mask[i] = (uint8_t)method_select(m, &st);
        c += mask[i];
    }
    if (m->select != METHOD_SELECT_RANDOM) return c;
    /* k of the f finite steps (k <= f): the first k places of a partial
     * Fisher-Yates shuffle of their indices */
    memset(mask, 0, (size_t)n);
    const uint64_t key = mix64(m->select_seed ^ mix64((uint64_t)problem + 0x5e1ec7ULL));
    uint64_t counter = 0;
    for (int j = 0; j < k; j++) {
        const int r = j + (int)draw_below(key, &counter, (uint64_t)(f - j));
        const int32_t t = scratch[j];
        scratch[j] = scratch[r];
        scratch[r] = t;
        mask[scratch[j]] = 1;
    }
    return k;
}
