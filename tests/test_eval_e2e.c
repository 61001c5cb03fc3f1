/* End-to-end `lightreasoner eval` on a tiny model whose verdicts are known:
 * a first pass records the model's own greedy answers; a second pass on a
 * jsonl whose gold answers are those answers for half the problems (and
 * values it cannot have produced for the other half) must score exactly
 * that half. Also: several evals and foreign groups coexist in one run
 * file, and an existing group is never overwritten by accident. */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/wilson.h"
#include "test_eval_util.h"
#include "test_util.h"

#define POOL 120 /* pass-1 problems, searched for outputs that carry an answer */
#define N_ANS 10  /* answered problems used */
#define N_NONE 4  /* unanswered problems used */
#define N1 (N_ANS + N_NONE)
#define COMMON "--max-new-tokens 24 --batch 1 --chunk 2 --quiet"

static void add_foreign_group(const char *file) {
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "/problems", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {3};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(g, "id", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    long v[3] = {7, 8, 9};
    H5Dwrite(d, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
}

int main(void) {
    const char *dir = eval_scratch("e2e");
    const char *bin = test_bin(), *model = eval_test_model();
    char p1[600], p2[600], run[600], jsonl[600];
    snprintf(p1, sizeof p1, "%s/pass1.h5", dir);
    snprintf(run, sizeof run, "%s/run.h5", dir);
    snprintf(jsonl, sizeof jsonl, "%s/known.jsonl", dir);
    char *out = NULL;

    /* pass 1: the model's own answers on GSM8K problems */
    int rc = test_sh(&out, "%s eval --model %s --benchmark gsm8k --data-dir %s --limit %d " COMMON " --out %s", bin,
                     model, test_repo_data_dir(), POOL, p1);
    EXPECT(rc == 0, "pass 1 rc %d: %s", rc, out);
    EXPECT(strstr(out, "accuracy") != NULL, "summary printed: %s", out);
    free(out);
    long n = 0, nq = 0, no = 0;
    char **ex = h5_strings(p1, "/eval/gsm8k/extracted", &n);
    char **qs = h5_strings(p1, "/eval/gsm8k/question", &nq);
    char **outs = h5_strings(p1, "/eval/gsm8k/output", &no);
    EXPECT(n == POOL && nq == POOL && no == POOL, "pass 1 rows %ld %ld %ld", n, nq, no);
    if (n != POOL || nq != POOL || no != POOL) return test_finish("test_eval_e2e");

    /* pick answered and unanswered problems, in benchmark order */
    int pick[N1], n_ans = 0, n_none = 0, n_pick = 0;
    for (int i = 0; i < POOL && n_pick < N1; i++) {
        int has = ex[i][0] != 0;
        if (has && n_ans < N_ANS) n_ans++;
        else if (!has && n_none < N_NONE) n_none++;
        else continue;
        pick[n_pick++] = i;
    }
    EXPECT(n_ans >= 4, "the tiny model answered only %d of %d problems", n_ans, POOL);

    /* the known-verdict benchmark: gold = the model's own answer for every
     * other answered problem, an impossible value for the rest */
    int expect[N1 + 1], n_expect = 0, k_ans = 0;
    FILE *f = fopen(jsonl, "w");
    for (int j = 0; j <= n_pick; j++) {
        int i = j < n_pick ? pick[j] : pick[0];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "question", qs[i]);
        const char *gold = "-987654321.5"; /* no tiny-model output says this */
        expect[j] = 0;
        if (j == n_pick) gold = ""; /* unparseable gold: counted, never correct */
        else if (ex[i][0] && k_ans++ % 2 == 0) {
            gold = ex[i];
            expect[j] = 1;
        }
        n_expect += expect[j];
        cJSON_AddStringToObject(o, "answer", gold);
        char *s = cJSON_PrintUnformatted(o);
        fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    fclose(f);
    int n2 = n_pick + 1;
    fprintf(stderr, "note: %d answered + %d unanswered problems; %d verdicts expected correct of %d\n", n_ans,
            n_none, n_expect, n2);

    /* pass 2 into a run file that already holds another stage's group */
    add_foreign_group(run);
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --name base " COMMON " --out %s", bin, model, jsonl, run);
    EXPECT(rc == 0, "pass 2 rc %d: %s", rc, out);
    free(out);
    long nc = 0, nu = 0, nl = 0, no2 = 0, nid = 0;
    long *correct = h5_longs(run, "/eval/base/correct", &nc);
    long *unp = h5_longs(run, "/eval/base/gold_unparseable", &nu);
    long *line = h5_longs(run, "/eval/base/line", &nl);
    char **outs2 = h5_strings(run, "/eval/base/output", &no2);
    long *ids = h5_longs(run, "/problems/id", &nid);
    EXPECT(ids && nid == 3 && ids[0] == 7 && ids[2] == 9, "foreign group intact");
    EXPECT(nc == n2 && nu == n2 && nl == n2 && no2 == n2, "pass 2 rows %ld", nc);
    if (nc == n2 && nu == n2 && nl == n2 && no2 == n2) {
        for (int j = 0; j < n2; j++) {
            int i = j < n_pick ? pick[j] : pick[0];
            EXPECT(correct[j] == expect[j], "problem %d: correct %ld, expected %d (extracted [%s])", j, correct[j],
                   expect[j], ex[i]);
            EXPECT(line[j] == j + 1, "problem %d on line %ld", j, line[j]);
            EXPECT(!strcmp(outs2[j], outs[i]), "problem %d: same greedy output in both passes", j);
        }
        EXPECT(unp[n2 - 1] == 1, "empty gold flagged");
        double acc, lo, hi, ncorr, nunp, np;
        EXPECT(h5_attr_num(run, "/eval/base", "accuracy", &acc) == 0, "accuracy attribute");
        h5_attr_num(run, "/eval/base", "accuracy_ci95_low", &lo);
        h5_attr_num(run, "/eval/base", "accuracy_ci95_high", &hi);
        h5_attr_num(run, "/eval/base", "n_correct", &ncorr);
        h5_attr_num(run, "/eval/base", "n_gold_unparseable", &nunp);
        h5_attr_num(run, "/eval/base", "n_problems", &np);
        double wlo, whi;
        eval_wilson(n_expect, n2, EVAL_Z95, &wlo, &whi);
        EXPECT(ncorr == n_expect && np == n2, "n_correct %g of %g", ncorr, np);
        EXPECT_NEAR(acc, (double)n_expect / n2, 1e-12, "accuracy");
        EXPECT_NEAR(lo, wlo, 1e-12, "ci low");
        EXPECT_NEAR(hi, whi, 1e-12, "ci high");
        EXPECT(nunp >= 1, "unparseable golds counted: %g", nunp);
    }
    free(correct);
    free(unp);
    free(line);
    free(ids);
    free_strings(outs2, no2);

    /* a second eval in the same file coexists with the first */
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --name other --limit 4 " COMMON " --out %s", bin, model,
                 jsonl, run);
    EXPECT(rc == 0, "second eval rc %d: %s", rc, out);
    free(out);
    char why[512] = "";
    EXPECT(h5_has(run, "/eval/other") && h5_has(run, "/eval/base") && h5_has(run, "/problems/id"),
           "groups coexist");

    /* an existing group is not replaced without --overwrite: file untouched */
    snprintf(p2, sizeof p2, "%s/run_copy.h5", dir);
    test_sh(NULL, "cp %s %s", run, p2);
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --name base " COMMON " --out %s", bin, model, jsonl, run);
    EXPECT(rc == 2 && strstr(out, "--overwrite") && strstr(out, "lightreasoner: error: "), "rc %d: %s", rc, out);
    free(out);
    EXPECT(files_identical(run, p2), "refused eval left the run file byte-identical");
    /* --resume on a complete eval: nothing to do */
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --name base " COMMON " --out %s --resume", bin, model, jsonl,
                 run);
    EXPECT(rc == 0 && strstr(out, "already complete"), "resume of a complete eval rc %d: %s", rc, out);
    free(out);
    EXPECT(files_identical(run, p2), "resume of a complete eval left the file as it was");
    /* --overwrite replaces it, with identical content (deterministic) */
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --name base " COMMON " --out %s --overwrite", bin, model,
                 jsonl, run);
    EXPECT(rc == 0, "overwrite rc %d: %s", rc, out);
    free(out);
    EXPECT(eval_groups_equal(run, "/eval/base", p2, "/eval/base", why, sizeof why), "overwritten group: %s", why);
    EXPECT(h5_has(run, "/eval/other") && h5_has(run, "/problems/id"), "other groups kept on overwrite");

    free_strings(ex, n);
    free_strings(qs, nq);
    free_strings(outs, no);
    return test_finish("test_eval_e2e");
}
