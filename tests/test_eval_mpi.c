/* MPI data parallelism: 1, 2 and 3 ranks (and no launcher at all) give
 * identical /eval contents; errors under MPI exit 2 with one message. */
#include <stdlib.h>
#include <string.h>

#include "test_eval_util.h"
#include "test_util.h"

#define ARGS "--benchmark gsm8k --limit 11 --max-new-tokens 20 --batch 2 --chunk 2 --quiet"

int main(void) {
    const char *dir = eval_scratch("mpi");
    const char *bin = test_bin(), *model = eval_test_model(), *data = test_repo_data_dir();
    char *out = NULL, why[512] = "";
    char f0[600], f[4][600];
    snprintf(f0, sizeof f0, "%s/plain.h5", dir);
    int rc = test_sh(&out, "%s eval --model %s --data-dir %s " ARGS " --out %s", bin, model, data, f0);
    EXPECT(rc == 0, "no launcher: rc %d: %s", rc, out);
    free(out);
    for (int np = 1; np <= 3; np++) {
        snprintf(f[np], sizeof f[np], "%s/np%d.h5", dir, np);
        rc = test_sh(&out, "%s %s eval --model %s --data-dir %s " ARGS " --out %s", eval_mpirun(np), bin, model, data,
                     f[np]);
        EXPECT(rc == 0, "%d ranks: rc %d: %s", np, rc, out);
        free(out);
        double nr = 0;
        EXPECT(h5_attr_num(f[np], "/eval/gsm8k", "n_ranks", &nr) == 0 && nr == np, "n_ranks %g", nr);
        EXPECT(eval_groups_equal(f0, "/eval/gsm8k", f[np], "/eval/gsm8k", why, sizeof why),
               "%d ranks vs no launcher: %s", np, why);
    }
    long n = 0;
    long *line = h5_longs(f[2], "/eval/gsm8k/line", &n);
    EXPECT(n == 11, "rows %ld", n);
    for (long i = 0; line && i < n; i++) EXPECT(line[i] == i + 1, "row %ld is line %ld", i, line[i]);
    free(line);

    /* bad input under MPI: exit 2, the message printed once */
    rc = test_sh(&out, "%s %s eval --model %s --benchmark %s --out %s/bad.h5", eval_mpirun(2), bin, model,
                 test_data_path("eval/bad_json.jsonl"), dir);
    EXPECT(rc == 2, "bad input under mpirun: rc %d: %s", rc, out);
    const char *m = out ? strstr(out, "bad_json.jsonl:2: not a JSON object") : NULL;
    EXPECT(m != NULL, "message names file:line: %s", out);
    EXPECT(m && !strstr(m + 1, "bad_json.jsonl:2: not a JSON object"), "message printed once: %s", out);
    free(out);
    return test_finish("test_eval_mpi");
}
