/* src/scorer/contrast.c against tests/data/sample/contrast_golden.json
 * (numpy/torch, tests/reference/make_sample_goldens.py) plus edge cases. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "scorer/contrast.h"
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
        int m = contrast_label(cb.ids, cb.logp_expert, cb.logp_amateur, n, alpha, lid, lw);
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
    int m = contrast_label(cb.ids, cb.logp_expert, cb.logp_amateur, n, 1.0, ids, w);
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
    m = contrast_label(cid, lpe, lpa, 3, 0.2, ids, w);
    EXPECT(m == 3 && w[1] == 1.0f && w[0] == 0.0f, "inf score takes the mass");
    cand_buf_free(&cb);
}

int main(void) {
    golden_cases();
    edge_cases();
    return test_finish("test_sample_contrast");
}
