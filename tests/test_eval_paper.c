/* `eval --benchmark paper` and the toolkit prompt types end to end on the
 * tiny test model: seven /eval groups with the toolkit's protocol recorded,
 * the Table 1 layout on stdout, the same results on 1 and 2 MPI ranks, and
 * --prompt-type / --overlong / --num-shots refusing bad values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_eval_util.h"
#include "test_util.h"

#define ARGS "--benchmark paper --limit 3 --max-new-tokens 8 --batch 2 --chunk 2 --overlong wrong --quiet"

static const char *const k_benches[7] = {"gsm8k", "math500", "svamp", "asdiv", "minerva_math", "olympiadbench",
                                         "mmlu_stem"};

int main(void) {
    const char *dir = eval_scratch("paper");
    const char *bin = test_bin(), *model = eval_test_model(), *data = test_repo_data_dir();
    char *out = NULL, why[512] = "";
    char f1[600], f2[600];
    snprintf(f1, sizeof f1, "%s/np1.h5", dir);
    snprintf(f2, sizeof f2, "%s/np2.h5", dir);

    int rc = test_sh(&out, "%s eval --model %s --data-dir %s " ARGS " --name base --out %s", bin, model, data, f1);
    EXPECT(rc == 0, "paper: rc %d: %s", rc, out);
    const char *t = out ? strstr(out, "| model | GSM8K | MATH | SVAMP | ASDiv | Minerva Math | OlympiadBench | "
                                      "MMLU-STEM | Avg. |")
                        : NULL;
    EXPECT(t != NULL, "the paper's column order: %s", out);
    EXPECT(out && strstr(out, "prompt qwen25-math-cot"), "default prompt type named: %s", out);
    EXPECT(out && strstr(out, "| 95% CI |") && strstr(out, "| problems | 3 | 3 | 3 | 3 | 3 | 3 | 3 |"),
           "intervals and counts: %s", out);
    free(out);
    for (int i = 0; i < 7; i++) {
        char g[128];
        snprintf(g, sizeof g, "/eval/base.%s", k_benches[i]);
        EXPECT(h5_has(f1, g), "%s exists", g);
        double shots = -1;
        EXPECT(h5_attr_num(f1, g, "num_shots", &shots) == 0 && shots == (i == 6 ? 5 : 0), "%s num_shots %g", g,
               shots);
        char d[160];
        snprintf(d, sizeof d, "%s/gold", g);
        long n = 0;
        char **gold = h5_strings(f1, d, &n);
        EXPECT(n == 3, "%s rows %ld", g, n);
        free_strings(gold, n);
    }
    /* the toolkit's gold answers: MMLU letters, ASDiv without its unit */
    long n = 0;
    char **gold = h5_strings(f1, "/eval/base.mmlu_stem/gold", &n);
    EXPECT(n == 3 && !strcmp(gold[0], "C"), "mmlu gold %s", n ? gold[0] : "");
    free_strings(gold, n);
    gold = h5_strings(f1, "/eval/base.asdiv/gold", &n);
    EXPECT(n == 3 && !strcmp(gold[0], "9"), "asdiv gold %s", n ? gold[0] : "");
    free_strings(gold, n);

    /* two ranks: the same groups */
    rc = test_sh(&out, "%s %s eval --model %s --data-dir %s " ARGS " --name base --out %s", eval_mpirun(2), bin,
                 model, data, f2);
    EXPECT(rc == 0, "2 ranks: rc %d: %s", rc, out);
    free(out);
    for (int i = 0; i < 7; i++) {
        char g[128];
        snprintf(g, sizeof g, "/eval/base.%s", k_benches[i]);
        EXPECT(eval_groups_equal(f1, g, f2, g, why, sizeof why), "%s: 1 vs 2 ranks: %s", g, why);
    }

    /* a single benchmark with the base-model prompt */
    char f3[600];
    snprintf(f3, sizeof f3, "%s/direct.h5", dir);
    rc = test_sh(&out,
                 "%s eval --model %s --data-dir %s --benchmark svamp --prompt-type direct --limit 2 "
                 "--max-new-tokens 4 --quiet --out %s",
                 bin, model, data, f3);
    EXPECT(rc == 0 && out && strstr(out, "eval svamp: accuracy"), "direct: rc %d: %s", rc, out);
    free(out);

    /* bad values */
    rc = test_sh(&out, "%s eval --model %s --data-dir %s --benchmark gsm8k --prompt-type chat --out %s/x.h5", bin,
                 model, data, dir);
    EXPECT(rc == 2 && out && strstr(out, "--prompt-type"), "unknown prompt type: rc %d: %s", rc, out);
    free(out);
    rc = test_sh(&out, "%s eval --model %s --data-dir %s --benchmark gsm8k --overlong maybe --out %s/x.h5", bin,
                 model, data, dir);
    EXPECT(rc == 2 && out && strstr(out, "--overlong"), "bad --overlong: rc %d: %s", rc, out);
    free(out);
    rc = test_sh(&out,
                 "%s eval --model %s --data-dir %s --benchmark gsm8k --prompt-type cot --num-shots 3 --out %s/x.h5",
                 bin, model, data, dir);
    EXPECT(rc == 2 && out && strstr(out, "has none"), "shots without demonstrations: rc %d: %s", rc, out);
    free(out);
    rc = test_sh(&out, "%s eval --model %s --data-dir %s --benchmark mmlu_stem --num-shots 2 --out %s/x.h5", bin,
                 model, data, dir);
    EXPECT(rc == 2 && out && strstr(out, "--num-shots"), "shots with the spec prompt: rc %d: %s", rc, out);
    free(out);
    return test_finish("test_eval_paper");
}
