/* The stand-alone GPU check's test binary (gpu_test.c: main and report
 * helpers; gpu_test_ops.c: each backend op on the device under test vs the
 * CPU backend; gpu_test_model.c: the SPEC §5 numerics contract on whole
 * models and the performance set; gpu_test_scorer.c: the scorer and its
 * contrast op; gpu_test_train.c: the LoRA trainer). */
#ifndef LR_GPU_TEST_H
#define LR_GPU_TEST_H

#include <stdio.h>

#include "model/backend.h"

/* The device under test: "cuda" (the CUDA backend), "cpu-emu" (the CPU
 * backend in bf16 emulation: lets the harness itself run without a GPU),
 * "cpu" (the plain CPU backend: the harness against itself) or "cpu-faulty"
 * (a CPU backend with a wrong rmsnorm: the checks must fail; ops, train). */
extern const char *g_dut;
/* --quick: fewer and smaller GEMM shapes (the CPU-only self-checks). */
extern int g_quick;

/* A new backend for the device under test, or NULL (no GPU). */
lr_backend *gt_dut_backend(void);
/* Makes be's rmsnorm wrong (the cpu-faulty device under test). */
void gt_make_faulty(lr_backend *be);
/* A model on the CPU (dut 0) or on the device under test (dut 1: CUDA, the
 * bf16 emulation, the plain or the faulty CPU); weights_f32 for training.
 * NULL (printed) on failure. */
struct lr_model *gt_load(const char *dir, int dut, int weights_f32);

/* One JSON report: checks are appended as objects of an array. */
typedef struct {
    FILE *f;
    int n;        /* checks written */
    int failures; /* checks that failed */
} gt_report;

void gt_open(gt_report *r, const char *path, const char *stage);
/* {"name": name, "pass": ok, <extra JSON fields>}; prints one line too. */
void gt_check(gt_report *r, const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Closes the array and the object; returns the failure count. */
int gt_close(gt_report *r);

/* An environment switch set for one variant run and put back after it, so
 * that a stage run with switches of its own (gpu_check.sh's _safe reruns)
 * keeps them for the rest of the run. */
typedef struct {
    const char *name;
    char *old; /* its value before, or NULL: unset */
} gt_env;
gt_env gt_env_set(const char *name, const char *value);
void gt_env_restore(gt_env e); /* {NULL, NULL}: nothing to restore */

/* bench/opprof.c: per-op timers of a model's backend (each op waits for its
 * kernels): the perf and train stages' --profile */
void opprof_install(struct lr_model *m);
void opprof_uninstall(struct lr_model *m);
void opprof_report(FILE *f, const char *title, double passes);

double gt_now(void); /* seconds, monotonic */
/* Deterministic uniform in [-1, 1) from a splitmix64 state. */
float gt_uniform(unsigned long long *s);

int gt_ops(gt_report *r);
int gt_contract(gt_report *r, const char *model_dir, int n_seq, int max_len);
/* prof: when not NULL, the per-op profile of one more scoring pass and 4
 * more decode steps per batch (markdown, bench/opprof.c) */
int gt_perf(gt_report *r, const char *model_dir, int score_tokens, int decode_steps, FILE *prof);
/* The scorer on the device under test vs on the CPU (gpu_test_scorer.c):
 * n_traces greedy traces of up to gen_len tokens from random prompts. */
int gt_scorer(gt_report *r, const char *expert_dir, const char *amateur_dir, int n_traces, int gen_len);
/* The LoRA trainer on the device under test vs on the CPU (gpu_test_train.c):
 * `steps` steps of 8 samples; with perf_dir, one 16-sample step's time, and
 * with prof too that step's per-op profile (markdown). */
int gt_train(gt_report *r, const char *expert_dir, int steps, const char *perf_dir, FILE *prof);

#endif
