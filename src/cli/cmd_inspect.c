/* `lightreasoner inspect run.h5`: a human summary of a run file — what each
 * stage wrote (problems, traces, divergence, samples, training, evaluations).
 * Read-only. Sections whose groups are absent are skipped; a file that is
 * not HDF5, not a lightreasoner run file, or cut off mid-write is refused
 * with exit 2 (SPEC §7). */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "eval/wilson.h"
#include "inspect/h5peek.h"
#include "sweep/sweep_run.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear-interpolated quantile of sorted v[0..n). */
static double quantile(const double *v, int64_t n, double q) {
    if (n == 1) return v[0];
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static double mean(const double *v, int64_t a, int64_t b) {
    double s = 0;
    for (int64_t i = a; i < b; i++) s += v[i];
    return b > a ? s / (double)(b - a) : NAN;
}

static int64_t count_eq(const double *v, int64_t n, double x) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += v[i] == x;
    return k;
}

static void header(hid_t f, const char *path) {
    char *schema = h5peek_attr_str(f, "/", "schema");
    char *ver = h5peek_attr_str(f, "/", "version");
    char *git = h5peek_attr_str(f, "/", "git_commit");
    double sv = 0;
    printf("run file   %s\n", path);
    if (schema) {
        h5peek_attr_double(f, "/", "schema_version", &sv);
        printf("schema     %s v%g, written by lightreasoner %s (git %s)\n", schema, sv, ver ? ver : "?",
               git ? git : "?");
    }
    char *ex = h5peek_attr_str(f, "/", "expert"), *am = h5peek_attr_str(f, "/", "amateur");
    char *pf = h5peek_attr_str(f, "/", "problems_file");
    if (ex) printf("expert     %s\n", ex);
    if (am) printf("amateur    %s\n", am);
    if (pf) printf("problems   %s\n", pf);
    free(schema), free(ver), free(git), free(ex), free(am), free(pf);
}

static void section_sampling(hid_t f) {
    int64_t np = 0, nt = 0, nd = 0;
    double *status = h5peek_doubles(f, "/problems/status", &np);
    if (status) {
        printf("\nproblems   %lld (%lld sampled, %lld skipped: prompt over the context)\n", (long long)np,
               (long long)count_eq(status, np, 0), (long long)count_eq(status, np, 1));
        free(status);
    }
    double *ngen = h5peek_doubles(f, "/traces/n_generated", &nt);
    double *fin = h5peek_doubles(f, "/traces/finish_reason", &nt);
    if (ngen && fin) {
        double tot = 0, mx = 0;
        for (int64_t i = 0; i < nt; i++) tot += ngen[i], mx = ngen[i] > mx ? ngen[i] : mx;
        printf("traces     %lld, %.0f generated steps (mean %.1f, max %.0f tokens per trace)\n", (long long)nt, tot,
               nt ? tot / (double)nt : 0.0, mx);
        printf("           finish: %lld EOS, %lld max-new-tokens, %lld context full, %lld amateur vocab",
               (long long)count_eq(fin, nt, 0), (long long)count_eq(fin, nt, 1), (long long)count_eq(fin, nt, 2),
               (long long)count_eq(fin, nt, 3));
        if (count_eq(fin, nt, 4)) printf(", %lld non-finite expert logits", (long long)count_eq(fin, nt, 4));
        putchar('\n');
    }
    free(ngen);
    free(fin);

    double *kl = h5peek_doubles(f, "/divergence/kl", &nd);
    double beta = NAN, alpha = NAN, store_alpha = NAN;
    h5peek_attr_double(f, "/samples", "beta", &beta);
    h5peek_attr_double(f, "/samples", "alpha", &alpha);
    h5peek_attr_double(f, "/divergence", "store_alpha", &store_alpha);
    if (kl && nd > 0) {
        /* statistics over the finite KLs; non-finite steps (NaN/Inf logits,
         * docs/runfile.md) are counted apart (NaN also breaks the sort) */
        double *s = malloc((size_t)nd * sizeof *s);
        int64_t nf = 0;
        for (int64_t i = 0; i < nd; i++)
            if (isfinite(kl[i])) s[nf++] = kl[i];
        printf("steps      %lld scored (store alpha %g)", (long long)nd, store_alpha);
        if (nf < nd) printf(", %lld non-finite (NaN/Inf logits: never selected)", (long long)(nd - nf));
        putchar('\n');
        if (nf > 0) {
            qsort(s, (size_t)nf, sizeof *s, cmp_double);
            printf("KL (nats)  mean %.4f  min %.4f  p10 %.4f  p25 %.4f  p50 %.4f  p75 %.4f  p90 %.4f  p99 %.4f  max "
                   "%.4f\n",
                   mean(s, 0, nf), s[0], quantile(s, nf, .10), quantile(s, nf, .25), quantile(s, nf, .50),
                   quantile(s, nf, .75), quantile(s, nf, .90), quantile(s, nf, .99), s[nf - 1]);
        }
        free(s);
    } else if (kl) {
        printf("steps      0 scored\n");
    }
    int64_t ns = 0, nl = 0;
    double *skl = h5peek_doubles(f, "/samples/kl", &ns);
    double *loff = h5peek_doubles(f, "/samples/label_offsets", &nl);
    if (skl) {
        printf("samples    %lld selected of %lld steps (%.2f%%) at beta %g, alpha %g", (long long)ns, (long long)nd,
               nd ? 100.0 * (double)ns / (double)nd : 0.0, beta, alpha);
        if (loff && nl == ns + 1 && ns > 0)
            printf("; mean label size %.2f tokens", (loff[ns] - loff[0]) / (double)ns);
        printf("\n");
        char *sel = h5peek_attr_str(f, "/samples", "select_command_line");
        if (sel) printf("           re-selected by: %s\n", sel);
        free(sel);
    }
    free(skl);
    free(loff);
    free(kl);
}

static void section_train(hid_t f) {
    if (!h5peek_exists(f, "/train")) return;
    char *status = h5peek_attr_str(f, "/train", "status");
    double steps_done = NAN, max_steps = NAN, nsamp = NAN, nlong = NAN, gb = NAN, ranks = NAN;
    h5peek_attr_double(f, "/train", "steps_done", &steps_done);
    h5peek_attr_double(f, "/train", "max_steps", &max_steps);
    h5peek_attr_double(f, "/train", "n_samples", &nsamp);
    h5peek_attr_double(f, "/train", "n_skipped_long", &nlong);
    h5peek_attr_double(f, "/train", "global_batch", &gb);
    h5peek_attr_double(f, "/train", "trainer_ranks", &ranks);
    printf("\ntrain      %s: %g of %g steps, %g samples (%g skipped as too long), global batch %g, %g rank(s)\n",
           status ? status : "?", steps_done, max_steps, nsamp, nlong, gb, ranks);
    free(status);
    double buf = 0, start = 0, streamed = 0;
    h5peek_attr_double(f, "/train", "shuffle_buffer", &buf);
    h5peek_attr_double(f, "/train", "start_after", &start);
    h5peek_attr_double(f, "/train", "streamed", &streamed);
    if (buf > 0 || streamed > 0)
        printf("order      %s%s", streamed > 0 ? "samples streamed to the trainers while they were scored; " : "",
               buf > 0 ? "" : "first epoch a full permutation\n");
    if (buf > 0) printf("first epoch through a shuffle buffer of %g samples, starting after %g\n", buf, start);
    int64_t n = 0, m = 0;
    double *loss = h5peek_doubles(f, "/train/log/loss", &n);
    double *lr = h5peek_doubles(f, "/train/log/lr", &m);
    double *tps = h5peek_doubles(f, "/train/log/tokens_per_s", &m);
    double *gn = h5peek_doubles(f, "/train/log/grad_norm", &m);
    if (loss && n > 0) {
        int64_t w = n >= 10 ? n / 10 : 1; /* first/last tenth: smooths batch noise */
        double lo = loss[0];
        for (int64_t i = 0; i < n; i++) lo = loss[i] < lo ? loss[i] : lo;
        printf("loss       first %.4f, last %.4f (mean of first/last %lld steps: %.4f -> %.4f), min %.4f\n", loss[0],
               loss[n - 1], (long long)w, mean(loss, 0, w), mean(loss, n - w, n), lo);
        if (lr && m == n) printf("lr         %.3g -> %.3g\n", lr[0], lr[n - 1]);
        char *sched = h5peek_attr_str(f, "/train", "lr_schedule");
        if (sched && strstr(sched, "},{")) /* extended by train --resume --max-steps (docs/train.md) */
            printf("schedule   extended: %s\n", sched);
        free(sched);
        if (gn && m == n) printf("grad norm  mean %.4f\n", mean(gn, 0, n));
        if (tps && m == n) printf("throughput mean %.0f tokens/s\n", mean(tps, 0, n));
    }
    char *ck = h5peek_attr_str(f, "/train", "latest_checkpoint");
    double ckd = NAN;
    if (ck) printf("checkpoint %s\n", ck);
    else if (h5peek_attr_double(f, "/train", "latest_checkpoint", &ckd) == 0) printf("checkpoint step %g\n", ckd);
    free(ck);
    free(loss), free(lr), free(tps), free(gn);
}

static void eval_line(hid_t f, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "/eval/%s", name);
    char rows[640];
    snprintf(rows, sizeof rows, "%s/correct", path);
    int64_t n = 0;
    double *correct = h5peek_doubles(f, rows, &n);
    double acc = NAN, lo = NAN, hi = NAN, np = NAN, nc = NAN;
    h5peek_attr_double(f, path, "accuracy", &acc);
    h5peek_attr_double(f, path, "accuracy_ci95_low", &lo);
    h5peek_attr_double(f, path, "accuracy_ci95_high", &hi);
    h5peek_attr_double(f, path, "n_problems", &np);
    h5peek_attr_double(f, path, "n_correct", &nc);
    if (isnan(acc) && correct) { /* recompute from the rows */
        long k = (long)count_eq(correct, n, 1);
        np = (double)n, nc = (double)k, acc = n ? (double)k / (double)n : 0;
        eval_wilson(k, (long)n, EVAL_Z95, &lo, &hi);
    }
    char *model = h5peek_attr_str(f, path, "model");
    char *adapter = h5peek_attr_str(f, path, "adapter");
    if (!adapter) { /* eval records --adapter in its config */
        char *cfg = h5peek_attr_str(f, path, "config");
        cJSON *j = cfg ? cJSON_Parse(cfg) : NULL;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "adapter");
        if (cJSON_IsString(a)) adapter = xstrdup(a->valuestring);
        cJSON_Delete(j);
        free(cfg);
    }
    printf("eval %-20s %5.1f%%  95%% CI [%.1f%%, %.1f%%]  %g/%g correct  model %s%s%s\n", name, 100 * acc, 100 * lo,
           100 * hi, nc, np, model ? model : "?", adapter && *adapter ? " + adapter " : " (no adapter)",
           adapter && *adapter ? adapter : "");
    free(model), free(adapter), free(correct);
}

typedef struct {
    char **names;
    size_t n, cap;
} name_list;

static herr_t eval_collect(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g, (void)info;
    name_list *l = op;
    if (name[0] == '.') return 0; /* an evaluation in progress (eval's temporary link) */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->names = xrealloc(l->names, l->cap * sizeof *l->names);
    }
    l->names[l->n++] = xstrdup(name);
    return 0;
}

/* Pipeline order: "before*" (the expert), "after*" (expert + adapter),
 * then the other evaluations by name. */
static int pipeline_rank(const char *n) { return !strncmp(n, "before", 6) ? 0 : !strncmp(n, "after", 5) ? 1 : 2; }
static int cmp_eval(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = pipeline_rank(x), ry = pipeline_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

static void section_eval(hid_t f) {
    if (!h5peek_exists(f, "/eval")) return;
    printf("\n");
    hsize_t idx = 0;
    name_list l = {0};
    H5Literate_by_name(f, "/eval", H5_INDEX_NAME, H5_ITER_INC, &idx, eval_collect, &l, H5P_DEFAULT);
    qsort(l.names, l.n, sizeof *l.names, cmp_eval);
    for (size_t i = 0; i < l.n; i++) {
        eval_line(f, l.names[i]);
        free(l.names[i]);
    }
    free(l.names);
}

int cmd_inspect(int argc, char **argv) {
    const arg_spec spec = {"inspect",
                           "Print a human summary of a run file: problems, traces, generated steps, KL quantiles, "
                           "selection rate, samples, the training curve and each evaluation's accuracy with its 95% "
                           "Wilson interval.",
                           "RUN.h5", NULL, 0, 1};
    char *pos[1] = {NULL};
    int npos = args_parse(&spec, argc, argv, pos);
    if (npos != 1) lr_die_input(NULL, "inspect needs one run file (lightreasoner inspect run.h5)");
    const char *path = pos[0];
    if (access(path, R_OK) != 0) lr_die_input(path, "cannot read the file");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failures are reported as our own errors */
    if (H5Fis_hdf5(path) <= 0) lr_die_input(path, "not an HDF5 file (or a damaged one)");
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) lr_die_input(path, "cannot open the HDF5 file (damaged or cut off?)");
    char *schema = h5peek_attr_str(f, "/", "schema");
    int has_eval = h5peek_exists(f, "/eval"), has_train = h5peek_exists(f, "/train");
    if (schema && strcmp(schema, "lightreasoner.run") != 0) {
        H5Fclose(f);
        lr_die_input(path, "not a lightreasoner run file (schema '%s')", schema);
    }
    if (!schema && !has_eval && !has_train && !h5peek_exists(f, "/sweep")) { /* a sweep table has only /sweep */
        H5Fclose(f);
        lr_die_input(path, "not a lightreasoner run file (no schema attribute, no /eval or /train)");
    }
    double complete = 0;
    if (schema && (h5peek_attr_double(f, "/", "complete", &complete) != 0 || complete != 1)) {
        H5Fclose(f);
        lr_die_input(path, "the run file is incomplete (cut off mid-write); it is not trusted");
    }
    free(schema);
    header(f, path);
    section_sampling(f);
    section_train(f);
    section_eval(f);
    sweep_print(f, stdout); /* a sweep table (jobs/sweep.sbatch) */
    H5Fclose(f);
    return 0;
}
