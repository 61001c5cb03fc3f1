/* `lightreasoner train` as users run it: data parallelism, resume, bad input.
 *   - 1 vs 2 vs 4 trainer ranks under mpirun (global batch 6, so 4 ranks get
 *     uneven shares): per-step losses within 1e-5 of the 1-rank run;
 *   - SIGKILL after a step and inside a checkpoint save, then --resume:
 *     per-step losses identical to the uninterrupted run (1 rank and 2 ranks);
 *   - samples over --max-length skipped and counted;
 *   - NaN/Inf steps skipped, counted, and the run stops after K in a row;
 *   - bad input (no /samples, damaged file, adapter of another shape, label
 *     id outside the vocabulary, changed flags on --resume, existing /train)
 *     -> exit 2 with a message naming the file. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/runfile_h5.h"
#include "io/safetensors.h"
#include "test_train_util.h"
#include "test_util.h"
#include "trainer/rng.h"

#define MAX_LEN 20
#define COMMON "--micro-batch 2 --grad-accum 3 --max-steps 6 --save-every 2 --lr 2e-3 --max-length 20 --seed 3 --quiet"

static const char *mpirun(int n) {
    static char buf[512];
    if (n == 0) return "LR_MPI=0 OMP_NUM_THREADS=1";
    snprintf(buf, sizeof buf,
             "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" mpirun --allow-run-as-root --oversubscribe -np %d "
             "-x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1",
             n);
    return buf;
}

static int n_long_expected;

/* 12 traces of the expert's vocabulary, 3 samples each at random steps;
 * bad_label puts an id outside the vocabulary into one label. */
static void make_run_p(const char *path, int with_samples, int bad_label, int poison);
static void make_run(const char *path, int with_samples, int bad_label) { make_run_p(path, with_samples, bad_label, 0); }

/* poison: traces 2 and 6..11 start with token POISON (a NaN embedding row
 * in the poisoned model copy). */
#define POISON 407
static void make_run_p(const char *path, int with_samples, int bad_label, int poison) {
    enum { NT = 12, SPT = 3 };
    int32_t tokens[NT * 40];
    int64_t off[NT + 1] = {0}, trace[NT * SPT], lab_off[NT * SPT + 1] = {0};
    int32_t plen[NT], step[NT * SPT], ids[NT * SPT * 5];
    float w[NT * SPT * 5];
    lr_rng r = {rng_key(2024, 1), 0};
    int ns = 0, nl = 0;
    n_long_expected = 0;
    for (int t = 0; t < NT; t++) {
        plen[t] = 3 + (int)(rng_next(&r) % 8);
        const int gen = 5 + (int)(rng_next(&r) % (t == 0 ? 1 : 20)); /* trace 0 short, others up to 24 */
        for (int i = 0; i < plen[t] + gen; i++) tokens[off[t] + i] = (int32_t)(rng_next(&r) % 408);
        if (poison && (t == 2 || t >= 6)) tokens[off[t]] = POISON;
        off[t + 1] = off[t] + plen[t] + gen;
        for (int k = 0; k < SPT; k++) {
            trace[ns] = t;
            step[ns] = (int32_t)(rng_next(&r) % (uint64_t)gen);
            if (plen[t] + step[ns] > MAX_LEN) n_long_expected++;
            const int m = 1 + (int)(rng_next(&r) % 5);
            double sum = 0;
            for (int j = 0; j < m; j++) {
                ids[nl + j] = (int32_t)((rng_next(&r) % 80) * 5 + j); /* distinct */
                w[nl + j] = 0.1f + rng_unit(rng_next(&r));
                sum += w[nl + j];
            }
            for (int j = 0; j < m; j++) w[nl + j] = (float)(w[nl + j] / sum);
            nl += m;
            lab_off[++ns] = nl;
        }
    }
    if (bad_label) ids[nl - 1] = 408;
    test_run_data d = {.n_traces = NT, .tokens = tokens, .trace_offsets = off, .prompt_len = plen, .n_samples = ns,
                       .trace = trace, .step = step, .lab_off = lab_off, .lab_ids = ids, .lab_w = w,
                       .expert = test_data_path("sample/expert"), .vocab = 408, .with_samples = with_samples};
    test_write_runfile(path, &d);
}


static double *losses(const char *run, long *n) {
    double *v = NULL;
    *n = test_read_log(run, "loss", &v);
    return v;
}

static int64_t train_attr(const char *run, const char *name) {
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t v = -1;
    if (f >= 0) {
        hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
        if (g >= 0) {
            h5u_read_attr_i64(g, name, run, &v);
            H5Gclose(g);
        }
        H5Fclose(f);
    }
    return v;
}

/* /train's string attribute name (malloc'd; NULL when absent). */
static char *train_attr_str(const char *run, const char *name) {
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *v = NULL;
    if (f >= 0) {
        hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
        if (g >= 0) {
            if (h5u_read_attr_str(g, name, run, &v) != 0) v = NULL;
            H5Gclose(g);
        }
        H5Fclose(f);
    }
    return v;
}

/* Trains a fresh copy of the data set with `np` ranks (0 = no MPI). */
static double *train_fresh(const char *dir, const char *tag, int np, long *n) {
    char run[512];
    snprintf(run, sizeof run, "%s/%s.h5", dir, tag);
    make_run(run, 1, 0);
    char *out = NULL;
    int rc = test_sh(&out, "%s %s train --run %s " COMMON, mpirun(np), test_bin(), run);
    EXPECT(rc == 0, "train (%s, %d ranks): exit %d: %s", tag, np, rc, out);
    free(out);
    return losses(run, n);
}

static void check_ranks(const char *dir, double **l1_out) {
    long n1, n2, n4;
    double *l1 = train_fresh(dir, "r1", 0, &n1);
    double *l2 = train_fresh(dir, "r2", 2, &n2);
    double *l4 = train_fresh(dir, "r4", 4, &n4);
    EXPECT(n1 == 6 && n2 == 6 && n4 == 6, "log lengths %ld %ld %ld", n1, n2, n4);
    double d2 = 0, d4 = 0;
    for (long i = 0; i < n1 && i < n2 && i < n4; i++) {
        d2 = fmax(d2, fabs(l2[i] - l1[i]));
        d4 = fmax(d4, fabs(l4[i] - l1[i]));
    }
    printf("ranks: per-step losses %.6f .. %.6f; max |2 ranks - 1| %.3g, |4 ranks - 1| %.3g\n", l1[0], l1[n1 - 1], d2,
           d4);
    EXPECT(d2 <= 1e-5 && d4 <= 1e-5, "losses depend on the rank count: %g %g", d2, d4);
    char run[512];
    snprintf(run, sizeof run, "%s/r1.h5", dir);
    EXPECT(train_attr(run, "n_skipped_long") == n_long_expected, "n_skipped_long %lld, expected %d",
           (long long)train_attr(run, "n_skipped_long"), n_long_expected);
    EXPECT(train_attr(run, "n_samples") == 36 - n_long_expected, "n_samples");
    printf("max-length: %d of 36 samples skipped and counted\n", n_long_expected);
    *l1_out = l1;
    free(l2), free(l4);
}

static void check_resume(const char *dir, const char *hook, int np, const double *want) {
    char run[512];
    snprintf(run, sizeof run, "%s/resume_%s_%d.h5", dir, hook, np);
    for (char *p = run + strlen(dir); *p; p++)
        if (*p == ':') *p = '_';
    make_run(run, 1, 0);
    char *out = NULL;
    int rc = test_sh(&out, "LR_TEST_DIE_AT=%s %s %s train --run %s " COMMON, hook, mpirun(np), test_bin(), run);
    EXPECT(rc != 0, "the test hook %s did not kill the run", hook);
    free(out);
    long n0 = 0;
    double *part = losses(run, &n0);
    rc = test_sh(&out, "%s %s train --run %s --resume " COMMON, mpirun(np), test_bin(), run);
    EXPECT(rc == 0, "resume after %s: exit %d: %s", hook, rc, out);
    free(out);
    long n = 0;
    double *got = losses(run, &n);
    int same = n == 6;
    for (long i = 0; same && i < n; i++) same = got[i] == want[i];
    printf("resume after kill at %s (%d rank%s): %ld steps were saved, resumed run %s\n", hook, np ? np : 1,
           np > 1 ? "s" : "", n0 > 0 ? n0 : 0, same ? "identical" : "DIFFERENT");
    EXPECT(same, "resumed losses differ from the uninterrupted run (%s)", hook);
    EXPECT(train_attr(run, "steps_done") == 6, "steps_done after resume");
    rc = test_sh(&out, "ls %s | grep -c train.tmp", dir);
    EXPECT(out && atoi(out) == 0, "temporary files left behind: %s", out);
    free(out);
    free(part), free(got);
}

/* The whole data set as one batch: the loss must go down step after step. */
static void check_learning(const char *dir) {
    char run[512];
    snprintf(run, sizeof run, "%s/learn.h5", dir);
    make_run(run, 1, 0);
    char *out = NULL;
    int rc = test_sh(&out, "%s %s train --run %s --micro-batch 11 --grad-accum 3 --max-steps 6 --lr 1e-2 --max-length 20 "
                      "--dropout 0 --shuffle 0 --save-every 0 --quiet",
                mpirun(0), test_bin(), run);
    EXPECT(rc == 0, "full-batch run: exit %d: %s", rc, out);
    free(out);
    long n = 0;
    double *l = losses(run, &n);
    int down = n == 6;
    for (long i = 1; i < n; i++) down = down && l[i] < l[i - 1];
    printf("full-batch training: loss %.4f -> %.4f over %ld steps\n", n ? l[0] : 0.0, n ? l[n - 1] : 0.0, n);
    EXPECT(down, "the full-batch loss does not decrease monotonically");
    free(l);
}

/* A copy of the expert whose embedding row POISON is NaN. */
static void make_poisoned_model(const char *dst) {
    const char *src = test_data_path("sample/expert");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cp %s/*.json %s/", dst, dst, src, dst);
    EXPECT(test_sh(NULL, "%s", cmd) == 0, "copy model files");
    st_set s;
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    if (st_open_file(&s, p) != 0) {
        EXPECT(0, "open %s", p);
        return;
    }
    st_write_tensor *w = calloc((size_t)s.n_tensors, sizeof *w);
    float *emb = NULL;
    for (int i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        w[i].name = t->name, w[i].dtype = t->dtype, w[i].ndim = t->ndim, w[i].data = t->data;
        memcpy(w[i].shape, t->shape, sizeof w[i].shape);
        if (!strcmp(t->name, "model.embed_tokens.weight")) {
            emb = malloc(t->nbytes);
            memcpy(emb, t->data, t->nbytes);
            for (int64_t j = 0; j < t->shape[1]; j++) emb[POISON * t->shape[1] + j] = NAN;
            w[i].data = emb;
        }
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dst);
    EXPECT(emb && st_write_file(p, w, s.n_tensors, NULL, NULL, 0) == 0, "write the poisoned model");
    free(emb);
    free(w);
    st_close(&s);
}

static void check_nan(const char *dir) {
    char run[512], model[512];
    snprintf(run, sizeof run, "%s/nan.h5", dir);
    snprintf(model, sizeof model, "%s/nan_model", dir);
    make_poisoned_model(model);
    make_run_p(run, 1, 0, 1);
    char *out = NULL;
    int rc = test_sh(&out, "%s %s train --run %s --model %s --micro-batch 2 --grad-accum 1 --max-steps 30 --shuffle 0 "
                      "--max-bad-steps 3 --max-length 20", /* not --quiet: it silences the warnings checked here */
                mpirun(0), test_bin(), run, model);
    EXPECT(rc == 1 && out && strstr(out, "training stopped") && strstr(out, "3 consecutive"),
           "diverging run: exit %d: %s", rc, out);
    EXPECT(out && strstr(out, "update skipped"), "skipped steps are reported: %s", out);
    free(out);
    double *sk = NULL;
    long n = test_read_log(run, "skipped", &sk);
    long bad = 0, isolated = 0;
    for (long i = 0; i < n; i++) {
        bad += sk[i] != 0;
        if (i + 1 < n && sk[i] != 0 && i > 0 && sk[i - 1] == 0 && sk[i + 1] == 0) isolated++;
    }
    EXPECT(n >= 4 && n < 30 && sk[n - 1] == 1 && sk[n - 2] == 1 && sk[n - 3] == 1, "the run ends on 3 skipped steps");
    EXPECT(bad > 3, "an earlier isolated bad step was skipped and training went on (%ld bad)", bad);
    EXPECT(train_attr(run, "n_bad_steps") == bad, "n_bad_steps attribute %lld vs %ld",
           (long long)train_attr(run, "n_bad_steps"), bad);
    /* the checkpoint written at the stop is finite (peft_adapter_load refuses NaN) */
    rc = test_sh(&out, "%s export --run %s --out %s/nan_export --quiet && %s merge --model %s --adapter %s/nan_export "
                  "--out %s/nan_merged --quiet",
            test_bin(), run, dir, test_bin(), test_data_path("sample/expert"), dir, dir);
    EXPECT(rc == 0, "the checkpoint after NaN steps is usable: %s", out);
    free(out);
    printf("NaN/Inf: %ld steps, %ld skipped (%ld isolated), stopped after 3 in a row; checkpoint finite\n", n, bad,
           isolated);
    free(sk);
}

static void expect_input_error(const char *what, const char *cmd, const char *needle) {
    char *out = NULL;
    int rc = test_sh(&out, "%s", cmd);
    EXPECT(rc == 2 && out && strstr(out, "lightreasoner: error: ") && (!needle || strstr(out, needle)),
           "%s: exit %d: %s", what, rc, out);
    free(out);
}

static void check_bad_input(const char *dir) {
    char run[512], cmd[4096];
    const char *bin = test_bin();
    snprintf(run, sizeof run, "%s/nosamples.h5", dir);
    make_run(run, 0, 0);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --quiet", bin, run);
    expect_input_error("run file without /samples", cmd, "no /samples");
    snprintf(cmd, sizeof cmd, "%s %s train --run %s --quiet", mpirun(2), bin, run);
    expect_input_error("run file without /samples, 2 ranks", cmd, "no /samples");

    snprintf(run, sizeof run, "%s/garbage.h5", dir);
    FILE *f = fopen(run, "wb");
    fputs("this is not HDF5\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --quiet", bin, run);
    expect_input_error("damaged run file", cmd, "garbage.h5");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s/missing.h5 --quiet", bin, dir);
    expect_input_error("missing run file", cmd, "missing.h5");

    snprintf(run, sizeof run, "%s/badlabel.h5", dir);
    make_run(run, 1, 1);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --quiet", bin, run);
    expect_input_error("label id outside the vocabulary", cmd, "vocabulary");

    snprintf(run, sizeof run, "%s/ok.h5", dir);
    make_run(run, 1, 0);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --init-adapter %s --quiet", bin, run,
             test_data_path("train/adapter_tied_all"));
    expect_input_error("adapter of another model", cmd, "expected");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --target-modules q_proj,x_proj --quiet", bin, run);
    expect_input_error("unknown target module", cmd, "x_proj");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s export --run %s --out %s/none", bin, run, dir);
    expect_input_error("export before training", cmd, "no /train");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s merge --model %s --adapter %s --out %s/m", bin,
             test_data_path("sample/expert"), test_data_path("train/adapter_tied_all"), dir);
    expect_input_error("merge with an adapter of another shape", cmd, "expected");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s merge --model %s --adapter %s --out %s", bin,
             test_data_path("sample/expert"), test_data_path("train/adapter_expert_qvd"),
             test_data_path("sample/expert"));
    expect_input_error("merge onto the base model itself", cmd, "refusing");

    /* existing /train: needs --resume or --overwrite; --resume with other flags is refused */
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --max-steps 2 --micro-batch 2 --grad-accum 1 --quiet", bin,
             run);
    EXPECT(test_sh(NULL, "%s", cmd) == 0, "short training run");
    char *fw = train_attr_str(run, "frozen_weights");
    EXPECT(fw && !strcmp(fw, "f32"), "/train frozen_weights: %s", fw ? fw : "(none)");
    free(fw);
    expect_input_error("second run without --resume", cmd, "--resume");
    snprintf(cmd, sizeof cmd,
             "LR_MPI=0 %s train --run %s --max-steps 2 --micro-batch 2 --grad-accum 1 --lr 1 --resume --quiet", bin,
             run);
    expect_input_error("--resume with another lr", cmd, "configuration differs");
    snprintf(cmd, sizeof cmd,
             "LR_MPI=0 %s train --run %s --max-steps 2 --micro-batch 2 --grad-accum 1 --lr 1 --overwrite --quiet", bin,
             run);
    EXPECT(test_sh(NULL, "%s", cmd) == 0, "--overwrite");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s train --run %s --dropout 1.5 --quiet", bin, run);
    expect_input_error("impossible dropout", cmd, "dropout");
    /* LR_TRAIN_WEIGHTS: a bad value before any work; bf16 on weights that load as fp32 warns and trains as f32 */
    snprintf(cmd, sizeof cmd, "LR_MPI=0 LR_TRAIN_WEIGHTS=BF16 %s train --run %s --overwrite --quiet", bin, run);
    expect_input_error("unknown LR_TRAIN_WEIGHTS", cmd, "LR_TRAIN_WEIGHTS");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 LR_TRAIN_WEIGHTS=bf16 %s train --run %s --max-steps 1 --overwrite 2>&1", bin,
             run);
    char *out = NULL;
    const int rc = test_sh(&out, "%s", cmd);
    EXPECT(rc == 0 && out && strstr(out, "train as f32"), "LR_TRAIN_WEIGHTS=bf16 on fp32 weights: exit %d: %s", rc,
           out ? out : "");
    free(out);
    fw = train_attr_str(run, "frozen_weights");
    EXPECT(fw && !strcmp(fw, "f32"), "/train frozen_weights after LR_TRAIN_WEIGHTS=bf16 on fp32 weights: %s",
           fw ? fw : "(none)");
    free(fw);
}

int main(void) {
    const char *dir = test_fresh_dir("train_cli");
    double *l1 = NULL;
    check_ranks(dir, &l1);
    if (l1) {
        check_resume(dir, "step:3", 0, l1);
        check_resume(dir, "save:4", 0, l1);
        long n2;
        double *l2 = train_fresh(dir, "r2b", 2, &n2);
        check_resume(dir, "step:3", 2, l2);
        free(l2);
    }
    free(l1);
    check_learning(dir);
    check_nan(dir);
    check_bad_input(dir);
    return test_finish("test_train_cli");
}
