/* Helpers shared by the model tests: golden tensors from
 * tests/data/model/goldens/<name>.safetensors, model paths, comparisons. */
#ifndef LR_TEST_MODEL_UTIL_H
#define LR_TEST_MODEL_UTIL_H

#include <stdint.h>

#include "io/safetensors.h"

#define N_TEST_MODELS 3
extern const char *const test_model_names[N_TEST_MODELS];

/* "<test data>/model/<name>" */
const char *test_model_dir(const char *name);

typedef struct {
    st_set st;
    int open;
} golden;
/* Opens goldens/<name>.safetensors; 0 ok (failure is recorded as a test failure). */
int golden_open(golden *g, const char *name);
void golden_close(golden *g);
/* Fresh copies of a golden tensor (aborts the test when missing); *n = numel. */
float *golden_f32(golden *g, const char *key, long *n);
int32_t *golden_i32(golden *g, const char *key, long *n);
/* Shape dimension i of a golden tensor. */
long golden_dim(golden *g, const char *key, int i);

/* Largest |a - b| / max(1, rms(row of b)) over rows of V values: an
 * absolute bound for logits of order 1 and a relative one for rows of
 * larger logits. An fp32 GEMM that sums in another order (OpenBLAS's order
 * depends on M) moves every logit of a row by a few ulp of the row's scale:
 * the error enters through the hidden state, δlogit_v = δh·e_v. */
double max_scaled_diff(const float *a, const float *b, long n, int V);
/* Largest |a - b| over n and its index (in *where). */
double max_abs_diff(const float *a, const float *b, long n, long *where);

#endif
