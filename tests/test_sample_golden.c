/* `lightreasoner sample` on the two tiny models of tests/data/sample against
 * the transformers reference (tests/reference/make_sample_goldens.py):
 * identical prompts, greedy traces and finish reasons; per-step KL,
 * entropies and chosen-token log-probs within 1e-4; identical top-1 ids and
 * candidate counts; identical selected steps and label ids; label weights
 * within 1e-5. */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "io/runfile_h5.h"
#include "test_util.h"

static cJSON *load_golden(void) {
    size_t len;
    char *txt = lr_read_file(test_data_path("sample/golden.json"), 1 << 26, &len);
    if (!txt) return NULL;
    cJSON *g = cJSON_Parse(txt);
    free(txt);
    return g;
}

static double num(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuedouble; }

#define READ(loc, name, type, n) h5u_read_all(loc, name, "run", type, n, NULL)

int main(void) {
    cJSON *g = load_golden();
    EXPECT(g != NULL, "golden.json unreadable");
    if (!g) return test_finish("test_sample_golden");
    char cmd[4096], out[512];
    snprintf(out, sizeof out, "%s/golden_run.h5", getenv("TMPDIR") ? getenv("TMPDIR") : ".");
    snprintf(cmd, sizeof cmd,
             "%s sample --expert %s --amateur %s --problems %s --max-new-tokens %d --beta %.17g --alpha %.17g "
             "--store-alpha %.17g --out %s --overwrite --quiet",
             test_bin(), test_data_path("sample/expert"), test_data_path("sample/amateur"),
             test_data_path("sample/problems.jsonl"), (int)num(g, "max_new_tokens"), num(g, "beta"), num(g, "alpha"),
             num(g, "store_alpha"), out);
    char *log = NULL;
    int rc = test_run(cmd, &log);
    EXPECT(rc == 0, "sample exited %d: %s", rc, log);
    free(log);
    h5u_quiet();
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0, "cannot open %s", out);
    if (f < 0) return test_finish("test_sample_golden");

    /* traces */
    const cJSON *traces = cJSON_GetObjectItem(g, "traces");
    int nt = cJSON_GetArraySize(traces);
    hid_t gt = H5Gopen2(f, "traces", H5P_DEFAULT);
    int64_t *off = READ(gt, "token_offsets", H5T_NATIVE_INT64, nt + 1);
    int32_t *tok = READ(gt, "tokens", H5T_NATIVE_INT32, -1);
    int32_t *plen = READ(gt, "prompt_len", H5T_NATIVE_INT32, nt);
    int8_t *fin = READ(gt, "finish_reason", H5T_NATIVE_INT8, nt);
    char **text = READ(gt, "text", h5u_str_type(), nt);
    EXPECT(off && tok && plen && fin && text, "trace datasets (%d traces expected)", nt);
    if (!(off && tok && plen && fin && text)) return test_finish("test_sample_golden");
    int i = 0;
    for (const cJSON *t = traces->child; t; t = t->next, i++) {
        const cJSON *pid = cJSON_GetObjectItem(t, "prompt_ids"), *gen = cJSON_GetObjectItem(t, "generated");
        int np = cJSON_GetArraySize(pid), ng = cJSON_GetArraySize(gen);
        EXPECT(plen[i] == np, "trace %d prompt length %d vs HF %d", i, plen[i], np);
        EXPECT(off[i + 1] - off[i] == np + ng, "trace %d length", i);
        if (plen[i] != np || off[i + 1] - off[i] != np + ng) continue;
        int k = 0, same = 1;
        for (const cJSON *x = pid->child; x; x = x->next, k++) same &= tok[off[i] + k] == x->valueint;
        EXPECT(same, "trace %d: prompt ids differ from HF's chat template + tokenizer", i);
        same = 1;
        k = 0;
        for (const cJSON *x = gen->child; x; x = x->next, k++) same &= tok[off[i] + np + k] == x->valueint;
        EXPECT(same, "trace %d: greedy tokens differ from HF generate", i);
        EXPECT(fin[i] == (int)num(t, "finish"), "trace %d finish %d", i, fin[i]);
        /* HDF5 strings end at a NUL byte; compare up to it */
        const char *ht = cJSON_GetObjectItem(t, "text")->valuestring;
        EXPECT(strncmp(text[i], ht, strlen(text[i])) == 0 && (strlen(text[i]) == strlen(ht) || ht[strlen(text[i])] == 0),
               "trace %d text '%s' vs '%s'", i, text[i], ht);
    }

    /* divergence */
    const cJSON *steps = cJSON_GetObjectItem(g, "steps");
    int ns = cJSON_GetArraySize(steps);
    hid_t gd = H5Gopen2(f, "divergence", H5P_DEFAULT);
    double *kl = READ(gd, "kl", H5T_NATIVE_DOUBLE, ns), *he = READ(gd, "entropy_expert", H5T_NATIVE_DOUBLE, ns),
           *ha = READ(gd, "entropy_amateur", H5T_NATIVE_DOUBLE, ns);
    float *lpe = READ(gd, "logp_expert", H5T_NATIVE_FLOAT, ns), *lpa = READ(gd, "logp_amateur", H5T_NATIVE_FLOAT, ns);
    int32_t *te = READ(gd, "top1_expert", H5T_NATIVE_INT32, ns), *ta = READ(gd, "top1_amateur", H5T_NATIVE_INT32, ns);
    int64_t *coff = READ(gd, "cand_offsets", H5T_NATIVE_INT64, ns + 1);
    EXPECT(kl && he && ha && lpe && lpa && te && ta && coff, "divergence datasets (%d steps expected)", ns);
    if (!(kl && he && ha && lpe && lpa && te && ta && coff)) return test_finish("test_sample_golden");
    double max_kl = 0;
    i = 0;
    for (const cJSON *s = steps->child; s; s = s->next, i++) {
        double d = fabs(kl[i] - num(s, "kl"));
        if (d > max_kl) max_kl = d;
        EXPECT(d <= 1e-4, "step %d KL %.8f vs HF %.8f", i, kl[i], num(s, "kl"));
        EXPECT(fabs(he[i] - num(s, "entropy_expert")) <= 1e-4, "step %d expert entropy", i);
        EXPECT(fabs(ha[i] - num(s, "entropy_amateur")) <= 1e-4, "step %d amateur entropy", i);
        EXPECT(fabs(lpe[i] - num(s, "logp_expert")) <= 1e-4, "step %d logp_expert", i);
        EXPECT(fabs(lpa[i] - num(s, "logp_amateur")) <= 1e-4, "step %d logp_amateur", i);
        EXPECT(te[i] == (int)num(s, "top1_expert") && ta[i] == (int)num(s, "top1_amateur"), "step %d top-1", i);
        EXPECT(coff[i + 1] - coff[i] == (int)num(s, "n_cand"), "step %d: %lld candidates vs %d", i,
               (long long)(coff[i + 1] - coff[i]), (int)num(s, "n_cand"));
    }

    /* samples */
    const cJSON *samples = cJSON_GetObjectItem(g, "samples");
    int nsm = cJSON_GetArraySize(samples);
    hid_t gs = H5Gopen2(f, "samples", H5P_DEFAULT);
    int64_t *sprob = READ(gs, "problem", H5T_NATIVE_INT64, nsm), *loff = READ(gs, "label_offsets", H5T_NATIVE_INT64, nsm + 1);
    int32_t *sstep = READ(gs, "step", H5T_NATIVE_INT32, nsm), *lid = READ(gs, "label_ids", H5T_NATIVE_INT32, -1);
    float *lw = READ(gs, "label_weights", H5T_NATIVE_FLOAT, -1);
    EXPECT(sprob && loff && sstep && lid && lw, "samples datasets (%d samples expected)", nsm);
    double max_w = 0;
    if (sprob && loff && sstep && lid && lw) {
        i = 0;
        for (const cJSON *s = samples->child; s; s = s->next, i++) {
            EXPECT(sprob[i] == (int)num(s, "problem") && sstep[i] == (int)num(s, "step"), "sample %d is (%lld, %d)", i,
                   (long long)sprob[i], sstep[i]);
            const cJSON *ids = cJSON_GetObjectItem(s, "label_ids"), *ws = cJSON_GetObjectItem(s, "label_weights");
            EXPECT(loff[i + 1] - loff[i] == cJSON_GetArraySize(ids), "sample %d label size", i);
            if (loff[i + 1] - loff[i] != cJSON_GetArraySize(ids)) continue;
            int k = 0;
            for (const cJSON *x = ids->child, *w = ws->child; x; x = x->next, w = w->next, k++) {
                EXPECT(lid[loff[i] + k] == x->valueint, "sample %d label id %d", i, k);
                double d = fabs(lw[loff[i] + k] - w->valuedouble);
                if (d > max_w) max_w = d;
                EXPECT(d <= 1e-5, "sample %d weight %d: %.8f vs %.8f", i, k, lw[loff[i] + k], w->valuedouble);
            }
        }
    }
    printf("golden: %d traces, %d steps (max |dKL| %.2e), %d samples (max |dw| %.2e)\n", nt, ns, max_kl, nsm, max_w);
    for (i = 0; i < nt; i++) free(text[i]);
    void *all[] = {off, tok, plen, fin, text, kl, he, ha, lpe, lpa, te, ta, coff, sprob, loff, sstep, lid, lw};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) free(all[k]);
    H5Gclose(gt), H5Gclose(gd), H5Gclose(gs);
    H5Fclose(f);
    cJSON_Delete(g);
    return test_finish("test_sample_golden");
}
