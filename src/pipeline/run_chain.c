/* The sequential pipeline chain (see pipeline.h). */
#include "pipeline/run_chain.h"

#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "inspect/h5peek.h"
#include "pipeline/stage.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *run_chain_demo_dir(void) {
    char cand[4][PATH_MAX + 64];
    int n = 0;
    const char *env = getenv("LR_DATA_DIR");
    if (env && *env) snprintf(cand[n++], sizeof cand[0], "%s/demo", env);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        /* build tree <src>/build/lightreasoner; installed <prefix>/bin */
        snprintf(cand[n++], sizeof cand[0], "%s/../data/demo", exe);
        snprintf(cand[n++], sizeof cand[0], "%s/../share/lightreasoner/data/demo", exe);
    }
    snprintf(cand[n++], sizeof cand[0], "data/demo");
    for (int i = 0; i < n; i++) {
        char probe[sizeof cand[0] + 16];
        snprintf(probe, sizeof probe, "%.4100s/expert", cand[i]);
        if (is_dir(probe)) {
            char *r = realpath(cand[i], NULL);
            return r ? r : strdup(cand[i]);
        }
    }
    return NULL;
}

/* Runs one stage; on failure names it. */
static int stage(const run_chain_opts *o, const char *what, stage_argv *a) {
    if (!o->quiet) fprintf(stderr, "run: == %s ==\n", what);
    int rc = stage_run(o->launcher, a, o->quiet);
    stage_argv_free(a);
    if (rc != 0) fprintf(stderr, "lightreasoner: error: run: stage '%s' failed (exit %d)\n", what, rc);
    return rc;
}

static void add_common(const run_chain_opts *o, stage_argv *a) {
    if (o->threads > 0) stage_argv_addf(a, "--threads=%ld", o->threads);
    if (o->quiet) stage_argv_add(a, "--quiet");
}

static int eval_stage(const run_chain_opts *o, const char *name, const char *model) {
    stage_argv a = {0};
    stage_argv_add(&a, "eval");
    stage_argv_addf(&a, "--model=%s", model);
    stage_argv_addf(&a, "--benchmark=%s", o->benchmark);
    stage_argv_addf(&a, "--out=%s", o->out);
    stage_argv_addf(&a, "--name=%s", name);
    stage_argv_addf(&a, "--max-new-tokens=%ld", o->eval_max_new_tokens);
    if (o->eval_limit > 0) stage_argv_addf(&a, "--limit=%ld", o->eval_limit);
    if (o->batch > 0) stage_argv_addf(&a, "--batch=%ld", o->batch);
    if (o->resume) stage_argv_add(&a, "--resume");
    add_common(o, &a);
    char what[64];
    snprintf(what, sizeof what, "eval %s", name);
    return stage(o, what, &a);
}

/* "before  41.5% [34.9%, 48.4%] (83/200)" from /eval/<name>. */
static int eval_line(hid_t f, const char *name, double *acc) {
    char g[128];
    snprintf(g, sizeof g, "/eval/%s", name);
    double lo = 0, hi = 0, n = 0, k = 0;
    if (h5peek_attr_double(f, g, "accuracy", acc) != 0) return -1;
    h5peek_attr_double(f, g, "accuracy_ci95_low", &lo);
    h5peek_attr_double(f, g, "accuracy_ci95_high", &hi);
    h5peek_attr_double(f, g, "n_problems", &n);
    h5peek_attr_double(f, g, "n_correct", &k);
    printf("expert accuracy %-6s %5.1f%%  95%% CI [%.1f%%, %.1f%%]  (%g/%g)\n", name, 100 * *acc, 100 * lo, 100 * hi, k,
           n);
    return 0;
}

static void summary(const run_chain_opts *o) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(o->out, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    double ns = 0, nd = 0, loss0 = 0, loss1 = 0, before = 0, after = 0;
    h5peek_attr_double(f, "/samples", "n_samples", &ns);
    h5peek_attr_double(f, "/samples", "n_steps", &nd);
    int64_t n = 0;
    double *loss = h5peek_doubles(f, "/train/log/loss", &n);
    printf("\nrun file %s\n", o->out);
    printf("samples  %g of %g generated steps selected (KL >= %g)\n", ns, nd, o->beta);
    if (loss && n > 0) {
        int64_t w = n >= 10 ? n / 10 : 1;
        for (int64_t i = 0; i < w; i++) loss0 += loss[i] / (double)w, loss1 += loss[n - 1 - i] / (double)w;
        printf("train    %lld steps, loss %.4f -> %.4f (mean of first/last %lld)\n", (long long)n, loss0, loss1,
               (long long)w);
    }
    free(loss);
    int hb = eval_line(f, "before", &before) == 0;
    int ha = eval_line(f, "after", &after) == 0;
    if (hb && ha) printf("change   %+.1f points (one run; see docs/pipeline.md for the spread over seeds)\n",
                         100 * (after - before));
    H5Fclose(f);
}

int run_chain(const run_chain_opts *o) {
    if (mkdir(o->workdir, 0777) != 0 && !is_dir(o->workdir))
        lr_die_input(o->workdir, "cannot create the work directory");
    char adapter[PATH_MAX], merged[PATH_MAX];
    snprintf(adapter, sizeof adapter, "%s/adapter", o->workdir);
    snprintf(merged, sizeof merged, "%s/merged", o->workdir);
    int rc;

    stage_argv a = {0};
    stage_argv_add(&a, "sample");
    stage_argv_addf(&a, "--expert=%s", o->expert);
    stage_argv_addf(&a, "--amateur=%s", o->amateur);
    stage_argv_addf(&a, "--problems=%s", o->problems);
    stage_argv_addf(&a, "--out=%s", o->out);
    stage_argv_addf(&a, "--alpha=%.15g", o->alpha);
    stage_argv_addf(&a, "--beta=%.15g", o->beta);
    stage_argv_addf(&a, "--max-new-tokens=%ld", o->max_new_tokens);
    if (o->max_problems > 0) stage_argv_addf(&a, "--max-problems=%ld", o->max_problems);
    if (o->batch > 0) stage_argv_addf(&a, "--batch=%ld", o->batch);
    if (o->samplers > 0) stage_argv_addf(&a, "--samplers=%ld", o->samplers);
    if (o->scorers > 0) stage_argv_addf(&a, "--scorers=%ld", o->scorers);
    stage_argv_add(&a, o->resume ? "--resume" : "--overwrite");
    add_common(o, &a);
    if ((rc = stage(o, "sample", &a))) return rc;

    if (!o->no_eval && (rc = eval_stage(o, "before", o->expert))) return rc;

    stage_argv_add(&a, "train");
    stage_argv_addf(&a, "--run=%s", o->out);
    stage_argv_addf(&a, "--model=%s", o->expert);
    stage_argv_addf(&a, "--lr=%.15g", o->lr);
    stage_argv_addf(&a, "--max-steps=%ld", o->max_steps);
    stage_argv_addf(&a, "--micro-batch=%ld", o->micro_batch);
    stage_argv_addf(&a, "--grad-accum=%ld", o->grad_accum);
    stage_argv_addf(&a, "--lora-r=%ld", o->lora_r);
    stage_argv_addf(&a, "--lora-alpha=%ld", 2 * o->lora_r);
    stage_argv_addf(&a, "--target-modules=%s", o->target_modules);
    stage_argv_addf(&a, "--seed=%ld", o->seed);
    stage_argv_addf(&a, "--save-every=%ld", o->save_every);
    stage_argv_addf(&a, "--export=%s", adapter);
    stage_argv_add(&a, o->resume ? "--resume" : "--overwrite");
    add_common(o, &a);
    {
        /* --trainers N: the train step gets N ranks ("srun ... -n N") */
        char launch[1024];
        const char *saved = o->launcher;
        run_chain_opts t = *o;
        if (o->trainers > 0 && o->launcher && *o->launcher) {
            snprintf(launch, sizeof launch, "%s -n %ld", saved, o->trainers);
            t.launcher = launch;
        }
        if ((rc = stage(&t, "train", &a))) return rc;
    }

    if (!o->no_eval) {
        /* merge runs in one process: it only reads and writes files */
        stage_argv_add(&a, "merge");
        stage_argv_addf(&a, "--model=%s", o->expert);
        stage_argv_addf(&a, "--adapter=%s", adapter);
        stage_argv_addf(&a, "--out=%s", merged);
        stage_argv_add(&a, "--quiet");
        if ((rc = stage_run(NULL, &a, o->quiet))) {
            stage_argv_free(&a);
            fprintf(stderr, "lightreasoner: error: run: stage 'merge' failed (exit %d)\n", rc);
            return rc;
        }
        stage_argv_free(&a);
        if ((rc = eval_stage(o, "after", merged))) return rc;
    }
    summary(o);
    return 0;
}
