/* Helpers for the end-to-end eval tests: read /eval/<name> back with the
 * HDF5 C API (as a user would with h5py) and run the binary. */
#ifndef LR_TEST_EVAL_UTIL_H
#define LR_TEST_EVAL_UTIL_H

#include <stddef.h>

/* The tiny model directory the eval tests decode with. */
const char *eval_test_model(void);
/* mpirun prefix for n ranks (as root in containers, oversubscribed). */
const char *eval_mpirun(int n);
/* A fresh scratch directory under the test's working directory. */
const char *eval_scratch(const char *name);

char **h5_strings(const char *file, const char *dset, long *n); /* NULL when absent */
long *h5_longs(const char *file, const char *dset, long *n);
int h5_attr_num(const char *file, const char *obj, const char *attr, double *v); /* 0 ok */
int h5_has(const char *file, const char *path);
void free_strings(char **s, long n);

/* Compares two /eval groups: every dataset and every attribute except the
 * ones that legitimately differ between runs (timing, rank count, command
 * line). 1 when equal; else 0 with the first difference in why. */
int eval_groups_equal(const char *f1, const char *g1, const char *f2, const char *g2, char *why, size_t why_len);

/* Whole-file byte comparison (1 = identical). */
int files_identical(const char *a, const char *b);

#endif
