/* The method layer (src/method/): the per-step contrast (contrast.c) and
 * the soft labels against tests/data/sample/contrast_golden.json (numpy/
 * torch, tests/reference/make_sample_goldens.py), edge cases, and the
 * selection / label / sample rules of method.h; the chunk -> scored-step
 * mapping every caller uses (io/chunk.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "io/chunk.h"
#include "method/contrast.h"
#include "method/method.h"
#include "test_util.h"

static float *floats(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    float *v = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
    int i = 0;
    for (const cJSON *it = a->child; it; it = it->next) v[i++] = (float)it->valuedouble;
    return v;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItem(o, k);
    if (!it) return NAN;
    return cJSON_IsNumber(it) ? it->valuedouble : -INFINITY; /* json.dump writes -Infinity as a bare token */
}

static void golden_cases(void) {
    size_t len;
    char *txt = lr_read_file(test_data_path("sample/contrast_golden.json"), 1 << 24, &len);
    EXPECT(txt != NULL, "cannot read contrast_golden.json");
    if (!txt) return;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    EXPECT(root != NULL, "bad JSON");
    double store_alpha = num(root, "store_alpha"), alpha = num(root, "alpha");
    int k = 0;
    for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next, k++) {
        int ve, va;
        float *le = floats(cJSON_GetObjectItem(c, "logits_expert"), &ve);
        float *la = floats(cJSON_GetObjectItem(c, "logits_amateur"), &va);
        int token = (int)num(c, "token");
        float *scratch = malloc(sizeof(float) * contrast_scratch_size(ve, va));
        lr_step_div d;
        lr_cand_buf cb = {0};
        int n = contrast_step(le, ve, la, va, token, store_alpha, scratch, &d, &cb);
        char what[64];
        snprintf(what, sizeof what, "case %d kl", k);
        EXPECT_NEAR(d.kl, num(c, "kl"), 1e-6, what);
        EXPECT_NEAR(d.entropy_expert, num(c, "entropy_expert"), 1e-6, "entropy_expert");
        EXPECT_NEAR(d.entropy_amateur, num(c, "entropy_amateur"), 1e-6, "entropy_amateur");
        EXPECT_NEAR(d.logp_expert, num(c, "logp_expert"), 1e-6, "logp_expert");
        EXPECT_NEAR(d.logp_amateur, num(c, "logp_amateur"), 1e-6, "logp_amateur");
        EXPECT(d.top1_expert == (int)num(c, "top1_expert"), "case %d top1_expert %d", k, d.top1_expert);
        EXPECT(d.top1_amateur == (int)num(c, "top1_amateur"), "case %d top1_amateur %d", k, d.top1_amateur);
        const cJSON *gid = cJSON_GetObjectItem(c, "cand_ids");
        EXPECT(n == cJSON_GetArraySize(gid) && (size_t)n == cb.n, "case %d: %d candidates, golden %d", k, n,
               cJSON_GetArraySize(gid));
        int i = 0;
        const cJSON *ge = cJSON_GetObjectItem(c, "cand_logp_expert")->child;
        const cJSON *ga = cJSON_GetObjectItem(c, "cand_logp_amateur")->child;
        for (const cJSON *it = gid->child; it && i < n; it = it->next, ge = ge->next, ga = ga->next, i++) {
            EXPECT(cb.ids[i] == it->valueint, "case %d cand %d id %d vs %d", k, i, cb.ids[i], it->valueint);
            EXPECT_NEAR(cb.logp_expert[i], ge->valuedouble, 1e-6, "cand logp_expert");
            EXPECT_NEAR(cb.logp_amateur[i], ga->valuedouble, 1e-6, "cand logp_amateur");
        }
        int32_t *lid = malloc(sizeof(int32_t) * (size_t)n);
        float *lw = malloc(sizeof(float) * (size_t)n);
        int m = method_contrast_label(cb.ids, cb.logp_expert, cb.logp_amateur, n, alpha, lid, lw);
        const cJSON *gl = cJSON_GetObjectItem(c, "label_ids"), *gw = cJSON_GetObjectItem(c, "label_weights");
        EXPECT(m == cJSON_GetArraySize(gl), "case %d: label size %d vs %d", k, m, cJSON_GetArraySize(gl));
        i = 0;
        double sum = 0;
        for (const cJSON *it = gl->child, *w = gw->child; it && i < m; it = it->next, w = w->next, i++) {
            EXPECT(lid[i] == it->valueint, "case %d label %d id", k, i);
            EXPECT_NEAR(lw[i], w->valuedouble, 1e-6, "label weight");
            sum += lw[i];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5, "weights sum");
        free(lid), free(lw), free(le), free(la), free(scratch);
        cand_buf_free(&cb);
    }
    EXPECT(k >= 5, "only %d golden cases", k);
    cJSON_Delete(root);
}

static void edge_cases(void) {
    /* identical rows: KL 0, candidates by store_alpha, label uniform-ish */
    float l[6] = {1, 2, 3, 3, -50, 0};
    float scratch[24];
    lr_step_div d;
    lr_cand_buf cb = {0};
    int n = contrast_step(l, 6, l, 6, 2, 0.01, scratch, &d, &cb);
    EXPECT_NEAR(d.kl, 0.0, 1e-12, "kl of identical rows");
    EXPECT(d.top1_expert == 2, "ties resolve to the lowest id (%d)", d.top1_expert);
    EXPECT(n == 5, "candidates %d (id 4 has p/max = e^-53)", n);
    int32_t ids[6];
    float w[6];
    int m = method_contrast_label(cb.ids, cb.logp_expert, cb.logp_amateur, n, 1.0, ids, w);
    EXPECT(m == 2 && ids[0] == 2 && ids[1] == 3, "alpha 1 keeps the maxima (%d)", m);
    EXPECT_NEAR(w[0], 0.5, 1e-7, "equal scores share the mass");
    /* the amateur's row is longer: its extra ids take part in its softmax only */
    float la[8] = {1, 2, 3, 3, -50, 0, 10, 10};
    cb.n = 0;
    float scratch2[28];
    contrast_step(l, 6, la, 8, 0, 0.01, scratch2, &d, &cb);
    EXPECT(d.kl > 5.0, "the amateur's mass on ids >= V shows in the KL (%g)", d.kl);
    EXPECT(d.top1_amateur == 6, "top1 over the amateur's full row (%d)", d.top1_amateur);
    /* an amateur probability of 0 (logit -inf) gives that candidate all weight */
    float lpe[3] = {-1.0f, -1.2f, -1.1f}, lpa[3] = {-1.0f, -INFINITY, -2.0f};
    int32_t cid[3] = {0, 1, 2};
    m = method_contrast_label(cid, lpe, lpa, 3, 0.2, ids, w);
    EXPECT(m == 3 && w[1] == 1.0f && w[0] == 0.0f, "inf score takes the mass");
    cand_buf_free(&cb);
}

/* Selection, labels and the sample a step makes (method.h). */
static void method_rules(void) {
    const lr_method m = method_make(0.2, 0.5);
    const int32_t ids[4] = {3, 5, 8, 9};
    const float lpe[4] = {-0.5f, -1.0f, -4.0f, -1.2f}; /* max -0.5: log(0.2) = -1.61 keeps 3, 5, 9 */
    const float lpa[4] = {-2.0f, -0.5f, -1.0f, -1.2f};
    lr_scored_step st = {.problem = 7, .step = 2, .token = 5, .kl = 0.5, .n = 4, .ids = ids, .lpe = lpe, .lpa = lpa};
    /* beta is inclusive; a non-finite KL is never selected, whatever beta */
    EXPECT(method_select(&m, &st), "KL == beta is selected");
    st.kl = 0.4999;
    EXPECT(!method_select(&m, &st), "KL < beta is not selected");
    st.kl = NAN;
    EXPECT(!method_select(&m, &st), "a NaN KL is never selected");
    const lr_method all = method_make(0.2, -1e9);
    EXPECT(!method_select(&all, &st), "a NaN KL is not selected even at beta -1e9");
    st.kl = INFINITY;
    EXPECT(!method_select(&all, &st), "an infinite KL is not selected");

    /* the label: the plausible set {3, 5, 9}, weights softmax(lpe - lpa) over it */
    EXPECT(method_label_room(&st) == 4, "room = candidates (%d)", method_label_room(&st));
    int32_t oid[4] = {-1, -1, -1, -1};
    float ow[4] = {-1, -1, -1, -1};
    const int k = method_label(&m, &st, oid, ow);
    EXPECT(k == 3 && oid[0] == 3 && oid[1] == 5 && oid[2] == 9, "plausible set (k %d: %d %d %d)", k, oid[0], oid[1],
           oid[2]);
    const double s0 = -0.5 + 2.0, s1 = -1.0 + 0.5, s2 = 0.0, z = exp(s0) + exp(s1) + exp(s2);
    EXPECT_NEAR(ow[0], exp(s0) / z, 1e-7, "weight of id 3");
    EXPECT_NEAR(ow[1], exp(s1) / z, 1e-7, "weight of id 5");
    EXPECT_NEAR(ow[2], exp(s2) / z, 1e-7, "weight of id 9");

    /* method_sample = selection, then the label */
    st.kl = 0.7;
    int32_t sid[4];
    float sw[4];
    EXPECT(method_sample(&m, &st, sid, sw) == 3 && !memcmp(sid, oid, sizeof(int32_t) * 3) &&
               !memcmp(sw, ow, sizeof(float) * 3),
           "a selected step's sample is its label");
    st.kl = 0.1;
    sid[0] = 42;
    EXPECT(method_sample(&m, &st, sid, sw) == 0 && sid[0] == 42, "an unselected step makes no sample");
    /* a damaged row (no finite candidate) makes no sample even when selected */
    const float bad[4] = {NAN, NAN, -INFINITY, NAN};
    lr_scored_step dmg = st;
    dmg.kl = 3.0;
    dmg.lpe = bad;
    EXPECT(method_sample(&m, &dmg, sid, sw) == 0, "no finite candidate: no sample");
    /* alpha 1 keeps the maximum only, with weight 1 */
    const lr_method one = method_make(1.0, 0.0);
    st.kl = 1.0;
    EXPECT(method_sample(&one, &st, sid, sw) == 1 && sid[0] == 3 && sw[0] == 1.0f, "alpha 1: the argmax, weight 1");
    EXPECT(strstr(method_describe(&m), "KL >= beta") != NULL, "describe names the rule: %s", method_describe(&m));
}

static void method_check_rules(void) {
    lr_method m = method_make(0.2, 0.4);
    EXPECT(method_check(&m, "t") == 0, "default method is valid");
    m.alpha = 1.0;
    EXPECT(method_check(&m, "t") == 0, "alpha 1 is valid");
    m.alpha = 0.0;
    EXPECT(method_check(&m, "t") != 0 && strstr(lr_error_msg(), "--alpha"), "alpha 0 refused: %s", lr_error_msg());
    m.alpha = 1.5;
    EXPECT(method_check(&m, "t") != 0, "alpha > 1 refused");
    m.alpha = NAN;
    EXPECT(method_check(&m, "t") != 0, "alpha NaN refused");
    m = method_make(0.2, NAN);
    EXPECT(method_check(&m, "t") != 0 && strstr(lr_error_msg(), "--beta"), "beta NaN refused: %s", lr_error_msg());
    lr_error_clear();
}

/* chunk_scored_step: trace i's step s at row r of a two-trace chunk. */
static void chunk_steps(void) {
    int64_t tp[2] = {10, 12}, toff[3] = {0, 5, 9}, coff[5] = {0, 1, 3, 4, 6};
    int32_t plen[2] = {2, 3}, ngen[2] = {3, 1}; /* trace 0: 2 + 3 ids, trace 1: 3 + 1 */
    int32_t tok[9] = {100, 101, 7, 8, 9, 200, 201, 202, 6};
    lr_step_div div[4] = {{.kl = 0.1}, {.kl = 0.2}, {.kl = 0.3}, {.kl = 0.4}};
    int32_t cid[7] = {1, 2, 3, 4, 5, 6, 7};
    float ce[7] = {-1, -2, -3, -4, -5, -6, -7}, ca[7] = {-7, -6, -5, -4, -3, -2, -1}; /* (7): room past row 3 */
    lr_chunk c = {.n_traces = 2, .trace_problem = tp, .prompt_len = plen, .n_generated = ngen, .token_offsets = toff,
                  .tokens = tok, .n_steps = 4, .div = div, .cand_offsets = coff};
    c.cand.ids = cid, c.cand.logp_expert = ce, c.cand.logp_amateur = ca;
    /* rows 0..2: trace 0 steps 0..2; row 3: trace 1 step 0 */
    const struct { int i, s, row; int64_t problem; int token, n, first; } want[4] = {
        {0, 0, 0, 10, 7, 1, 1}, {0, 1, 1, 10, 8, 2, 2}, {0, 2, 2, 10, 9, 1, 4}, {1, 0, 3, 12, 6, 2, 5}};
    for (int k = 0; k < 4; k++) {
        const lr_scored_step st = chunk_scored_step(&c, want[k].i, want[k].s, want[k].row);
        EXPECT(st.problem == want[k].problem && st.step == want[k].s && st.token == want[k].token &&
                   st.kl == div[want[k].row].kl && st.n == want[k].n && st.ids[0] == want[k].first &&
                   st.lpe[0] == -(float)want[k].first && st.lpa[0] == (float)want[k].first - 8.0f,
               "row %d: problem %lld step %d token %d n %d first %d", want[k].row, (long long)st.problem, st.step,
               st.token, st.n, st.ids[0]);
    }
}

int main(void) {
    golden_cases();
    edge_cases();
    method_rules();
    method_check_rules();
    chunk_steps();
    return test_finish("test_method");
}
