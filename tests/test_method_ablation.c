/* The ablation rules of the method layer (method.h, issue 17) as pure
 * functions: method_select_trace (kl / random / all), the one-hot label,
 * the flag parsing. The CLI and run-file side is tests/test_sample_ablation.sh. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "method/method.h"
#include "test_util.h"

enum { T = 12 };

/* A trace with NaN steps, steps above and below beta = 0.4. */
static const double trace_kl[T] = {0.0, 0.5, NAN, 0.39, 0.4, 2.0, 0.01, NAN, 0.7, 0.1, 0.2, 0.0};

static int count_kl(void) {
    int k = 0;
    for (int i = 0; i < T; i++) k += isfinite(trace_kl[i]) && trace_kl[i] >= 0.4;
    return k;
}

static void selection(void) {
    lr_method m = method_make(0.2, 0.4);
    uint8_t mask[T];
    int32_t scratch[T];
    const int k = count_kl();
    EXPECT(k == 4, "the trace has 4 steps with KL >= 0.4 (got %d)", k);
    int n = method_select_trace(&m, 7, trace_kl, T, mask, scratch);
    EXPECT(n == k, "kl: %d selected", n);
    for (int i = 0; i < T; i++) EXPECT(mask[i] == (isfinite(trace_kl[i]) && trace_kl[i] >= 0.4), "kl: step %d", i);

    m.select = METHOD_SELECT_ALL;
    n = method_select_trace(&m, 7, trace_kl, T, mask, scratch);
    EXPECT(n == T - 2, "all: every finite step (%d)", n);
    for (int i = 0; i < T; i++) EXPECT(mask[i] == (isfinite(trace_kl[i]) != 0), "all: step %d", i);

    /* random: exactly k distinct finite steps per trace; each finite step
     * is drawn about k/f of the time over many problems; deterministic */
    m.select = METHOD_SELECT_RANDOM;
    int hits[T] = {0}, differs = 0;
    uint8_t first[T];
    const int problems = 20000;
    for (int p = 0; p < problems; p++) {
        n = method_select_trace(&m, p, trace_kl, T, mask, scratch);
        int c = 0;
        for (int i = 0; i < T; i++) {
            c += mask[i];
            hits[i] += mask[i];
            EXPECT(!mask[i] || isfinite(trace_kl[i]), "random: problem %d picked the non-finite step %d", p, i);
        }
        EXPECT(n == k && c == k, "random: problem %d: %d (mask %d) selected, KL selects %d", p, n, c, k);
        if (p == 0) memcpy(first, mask, T);
        else if (p < 50) differs += memcmp(first, mask, T) != 0;
    }
    EXPECT(differs > 40, "random: other problems draw other steps (%d of 49 differ)", differs);
    const double want = (double)k / (T - 2); /* 0.4 */
    for (int i = 0; i < T; i++) {
        if (!isfinite(trace_kl[i])) continue;
        const double got = (double)hits[i] / problems; /* sd ~ 0.0035 */
        EXPECT(fabs(got - want) < 0.02, "random: step %d drawn %.4f of the time, uniform is %.4f", i, got, want);
    }
    /* the same (seed, problem) draws the same steps; another seed others */
    uint8_t a[T], b[T];
    method_select_trace(&m, 123, trace_kl, T, a, scratch);
    method_select_trace(&m, 123, trace_kl, T, b, scratch);
    EXPECT(memcmp(a, b, T) == 0, "random: deterministic for (seed, problem)");
    int other = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        m.select_seed = seed;
        method_select_trace(&m, 123, trace_kl, T, b, scratch);
        other += memcmp(a, b, T) != 0;
    }
    EXPECT(other >= 15, "random: other seeds draw other steps (%d of 20)", other);
    /* no KL-selected step: nothing; every finite step KL-selected: all of them */
    const double none[3] = {0.1, NAN, 0.2}, every[3] = {1.0, NAN, 3.0};
    EXPECT(method_select_trace(&m, 5, none, 3, mask, scratch) == 0 && !mask[0] && !mask[1] && !mask[2],
           "random: k = 0");
    EXPECT(method_select_trace(&m, 5, every, 3, mask, scratch) == 2 && mask[0] && !mask[1] && mask[2], "random: k = f");
}

static void labels(void) {
    lr_method m = method_make(0.2, 0.4);
    const int32_t ids[3] = {3, 5, 9};
    const float lpe[3] = {-0.2f, -1.0f, -3.0f}, lpa[3] = {-2.0f, -0.5f, -1.0f};
    lr_scored_step st = {.problem = 1, .step = 2, .token = 5, .kl = 0.9, .n = 3, .ids = ids, .lpe = lpe, .lpa = lpa};
    int32_t out[3];
    float w[3];
    const int kc = method_label(&m, &st, out, w);
    EXPECT(kc == 2 && out[0] == 3 && out[1] == 5, "contrast: plausible set {3, 5} (got %d)", kc);
    m.labels = METHOD_LABELS_ONEHOT;
    const int k = method_label(&m, &st, out, w);
    EXPECT(k == 1 && out[0] == 5 && w[0] == 1.0f, "onehot: {y_t = 5: 1} (got k %d id %d w %g)", k, out[0], w[0]);
    st.token = -1;
    EXPECT(method_label(&m, &st, out, w) == 0, "onehot without a recorded token: no label");
}

static void flags(void) {
    lr_method m = method_make(0.2, 0.4);
    EXPECT(strcmp(method_select_name(&m), "kl") == 0 && strcmp(method_labels_name(&m), "contrast") == 0 &&
               m.select_seed == 42,
           "defaults: kl, contrast, seed 42");
    EXPECT(method_set_rules(&m, "random", "onehot", 0, 7, "t") == 0 && m.select == METHOD_SELECT_RANDOM &&
               m.labels == METHOD_LABELS_ONEHOT && m.select_seed == 7,
           "random + onehot + seed 7");
    m = method_make(0.2, 0.4);
    EXPECT(method_set_rules(&m, NULL, NULL, 1, 42, "t") == 0 && m.select == METHOD_SELECT_RANDOM &&
               m.labels == METHOD_LABELS_ONEHOT,
           "--sft = random + onehot");
    EXPECT(method_set_rules(&m, "all", NULL, 1, 42, "t") != 0, "--sft with --select all refused");
    EXPECT(method_set_rules(&m, NULL, "contrast", 1, 42, "t") != 0, "--sft with --labels contrast refused");
    EXPECT(method_set_rules(&m, "KL", NULL, 0, 42, "t") != 0, "--select KL (case) refused");
    EXPECT(method_set_rules(&m, NULL, "soft", 0, 42, "t") != 0, "--labels soft refused");
    EXPECT(method_set_rules(&m, "all", NULL, 0, 42, "t") == 0 && m.select == METHOD_SELECT_ALL, "all");
}

int main(void) {
    selection();
    labels();
    flags();
    return test_finish("test_method_ablation");
}
