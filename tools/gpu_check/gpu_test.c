/* gpu_test: the stand-alone GPU check's test binary (tools/gpu_check.sh).
 *
 *   gpu_test ops      [--dut cuda|cpu-emu|cpu|cpu-faulty] --json FILE
 *   gpu_test contract [--dut ...] --json FILE --model DIR [--model DIR ...]
 *   gpu_test perf     --json FILE --model DIR [--score-tokens N] [--decode-steps N] [--profile FILE.md]
 *   gpu_test scorer   [--dut ...] --json FILE --model EXPERT --model AMATEUR [--seqs TRACES] [--max-len NEW_TOKENS]
 *   gpu_test train    [--dut ...] --json FILE --model EXPERT [--steps N] [--perf-model DIR] [--profile FILE.md]
 *
 * Exit 0: every check passed; 1: a check failed; 2: usage; 77: the device
 * under test is CUDA and there is no usable GPU (nothing was checked). */
#include "gpu_test.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/cuda/cuda_device.h"

const char *g_dut = "cuda";
int g_quick = 0;

/* cpu-faulty: the CPU backend with a wrong rmsnorm (the first row scaled
 * by 1.25), so the dry run can show that the checks fail when an op is wrong. */
static void (*g_rmsnorm)(lr_backend *, const float *, const float *, float *, int, int, float);
static void faulty_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps) {
    g_rmsnorm(be, x, w, y, M, d, eps);
    for (int i = 0; i < d && M > 0; i++) y[i] *= 1.25f;
}

void gt_make_faulty(lr_backend *be) {
    g_rmsnorm = be->rmsnorm;
    be->rmsnorm = faulty_rmsnorm;
}

lr_backend *gt_dut_backend(void) {
    if (!strcmp(g_dut, "cpu-faulty")) {
        lr_backend *be = lr_backend_cpu_new(0);
        gt_make_faulty(be);
        return be;
    }
    if (!strcmp(g_dut, "cpu")) return lr_backend_cpu_new(0);
    if (!strcmp(g_dut, "cpu-emu")) {
        lr_backend *be = lr_backend_cpu_new(0);
        lr_backend_emulate_bf16(be);
        return be;
    }
    if (lr_cuda_device_count() < 1) return NULL;
    return lr_backend_cuda_new(0, 0);
}

void gt_open(gt_report *r, const char *path, const char *stage) {
    r->f = fopen(path, "w");
    if (!r->f) {
        fprintf(stderr, "gpu_test: cannot write %s\n", path);
        exit(2);
    }
    r->n = r->failures = 0;
    char dev[256] = "cpu";
    if (!strcmp(g_dut, "cuda") && lr_cuda_device_name(0, dev, sizeof dev) != 0) strcpy(dev, "none");
    fprintf(r->f, "{\"stage\": \"%s\", \"dut\": \"%s\", \"device\": \"%s\", \"checks\": [\n", stage, g_dut, dev);
}

/* printf writes inf, -inf, nan for non-finite doubles, which no JSON parser
 * reads (report.py would drop the whole stage): as values they become
 * Infinity, -Infinity, NaN (Python's json reads these). */
static void json_nonfinite(char *s, size_t cap) {
    char out[2048];
    size_t o = 0;
    for (const char *p = s; *p && o + 10 < sizeof out;) {
        const int at_value = p == s || p[-1] == ' ' || p[-1] == '[' || p[-1] == ':';
        const char *rep = NULL;
        size_t skip = 0;
        if (at_value) {
            if (!strncmp(p, "-inf", 4)) rep = "-Infinity", skip = 4;
            else if (!strncmp(p, "inf", 3)) rep = "Infinity", skip = 3;
            else if (!strncmp(p, "-nan", 4)) rep = "NaN", skip = 4;
            else if (!strncmp(p, "nan", 3)) rep = "NaN", skip = 3;
            if (rep && (isalnum((unsigned char)p[skip]) || p[skip] == '"')) rep = NULL; /* a word, or a string */
        }
        if (rep) {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", rep);
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    if (o >= cap) o = cap - 1;
    memcpy(s, out, o);
    s[o] = 0;
}

void gt_check(gt_report *r, const char *name, int ok, const char *fmt, ...) {
    char extra[1024] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(extra, sizeof extra, fmt, ap);
    va_end(ap);
    json_nonfinite(extra, sizeof extra);
    fprintf(r->f, "%s  {\"name\": \"%s\", \"pass\": %s%s%s}", r->n ? ",\n" : "", name, ok ? "true" : "false",
            *extra ? ", " : "", extra);
    fflush(r->f);
    r->n++;
    if (!ok) r->failures++;
    printf("  %-4s %-44s %s\n", ok ? "ok" : "FAIL", name, extra);
    fflush(stdout);
}

int gt_close(gt_report *r) {
    fprintf(r->f, "\n], \"failures\": %d}\n", r->failures);
    fclose(r->f);
    return r->failures;
}

gt_env gt_env_set(const char *name, const char *value) {
    const char *old = getenv(name);
    gt_env e = {name, old ? strdup(old) : NULL};
    setenv(name, value, 1);
    return e;
}

void gt_env_restore(gt_env e) {
    if (!e.name) return; /* {NULL, NULL}: nothing was set */
    if (e.old) setenv(e.name, e.old, 1);
    else unsetenv(e.name);
    free(e.old);
}

double gt_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

float gt_uniform(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static void usage(void) {
    fprintf(stderr, "usage: gpu_test ops|contract|perf|scorer|train [--dut cuda|cpu-emu|cpu|cpu-faulty] --json FILE [--model DIR]... "
                    "[--score-tokens N] [--decode-steps N] [--profile FILE.md] [--seqs N] [--max-len N] [--steps N] "
                    "[--perf-model DIR] [--quick]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    const char *cmd = argv[1], *json = NULL, *models[8], *profile = NULL, *perf_model = NULL;
    int n_models = 0, score_tokens = 4096, decode_steps = 32, seqs = 16, max_len = 96, steps = 20;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            g_quick = 1;
            continue;
        }
        if (!v) usage();
        if (!strcmp(a, "--dut")) g_dut = v;
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--model") && n_models < 8) models[n_models++] = v;
        else if (!strcmp(a, "--score-tokens")) score_tokens = atoi(v);
        else if (!strcmp(a, "--decode-steps")) decode_steps = atoi(v);
        else if (!strcmp(a, "--seqs")) seqs = atoi(v);
        else if (!strcmp(a, "--max-len")) max_len = atoi(v);
        else if (!strcmp(a, "--profile")) profile = v;
        else if (!strcmp(a, "--perf-model")) perf_model = v;
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else usage();
        i++;
    }
    if (!json || (strcmp(g_dut, "cuda") && strcmp(g_dut, "cpu-emu") && strcmp(g_dut, "cpu-faulty") && strcmp(g_dut, "cpu")))
        usage();
    if (!strcmp(g_dut, "cuda") && lr_cuda_device_count() < 1) {
        printf("gpu_test %s: no CUDA device (none usable, or CUDA not compiled in): nothing checked\n", cmd);
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\"stage\": \"%s\", \"dut\": \"cuda\", \"skipped\": \"no CUDA device\", \"checks\": []}\n", cmd);
            fclose(f);
        }
        return 77;
    }
    FILE *prof = profile ? fopen(profile, "w") : NULL; /* perf, train: per-op profiles */
    if (profile && !prof) {
        fprintf(stderr, "gpu_test: cannot write %s\n", profile);
        return 2;
    }
    gt_report r;
    gt_open(&r, json, cmd);
    printf("gpu_test %s (device under test: %s)\n", cmd, g_dut);
    if (!strcmp(cmd, "ops")) {
        gt_ops(&r);
    } else if (!strcmp(cmd, "contract")) {
        if (n_models == 0) usage();
        for (int i = 0; i < n_models; i++) gt_contract(&r, models[i], seqs, max_len);
    } else if (!strcmp(cmd, "train")) {
        if (n_models != 1) usage();
        gt_train(&r, models[0], steps, perf_model, prof);
    } else if (!strcmp(cmd, "scorer")) {
        if (n_models != 2) usage();
        gt_scorer(&r, models[0], models[1], seqs, max_len);
    } else if (!strcmp(cmd, "perf")) {
        if (n_models != 1) usage();
        gt_perf(&r, models[0], score_tokens, decode_steps, prof);
    } else {
        usage();
    }
    if (prof) fclose(prof);
    const int fails = gt_close(&r);
    printf("gpu_test %s: %d check(s), %d failed\n", cmd, r.n, fails);
    return fails ? 1 : 0;
}
