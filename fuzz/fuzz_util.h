/* Shared by the libFuzzer harnesses (docs/fuzzing.md): a byte consumer that
 * turns the fuzzer's input into structured choices, a private scratch
 * directory (tmpfs when there is one) for the readers that take a path, and
 * file helpers. Header-only: each harness is one executable. */
#ifndef LR_FUZZ_UTIL_H
#define LR_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- bytes -> choices (the input is consumed front to back; an exhausted
 * input yields zeros, so every input is a complete description) */
typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}
static inline uint64_t fz_u64(fz_in *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}
/* Mostly small signed values, sometimes an extreme one: the lies that
 * matter for offsets and counts. */
static inline int64_t fz_int(fz_in *in) {
    uint8_t b = fz_u8(in);
    if (b < 0xF0) return (int64_t)b - 16;
    switch (b & 7) {
    case 0: return INT64_MAX;
    case 1: return INT64_MIN;
    case 2: return INT32_MAX;
    case 3: return INT32_MIN;
    case 4: return (int64_t)1 << 40;
    default: return (int64_t)fz_u64(in);
    }
}
static inline double fz_real(fz_in *in) {
    static const double pick[] = {0.0, 1.0, -1.0, 0.5, -0.25, 1e-30, -1e30, 3.0, -7.5, 1e38};
    uint8_t b = fz_u8(in);
    if (b < 200) return pick[b % 10] * (1.0 + (b / 10) * 0.01);
    if (b < 210) return (b & 1) ? -1.0 / 0.0 : 1.0 / 0.0;
    if (b < 220) return 0.0 / 0.0;
    uint64_t u = fz_u64(in);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- scratch directory: one per process, removed at exit */
static char fz_dir_path[256];
static void fz_dir_cleanup(void) {
    if (!fz_dir_path[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir_path);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fz_dir_path);
}
static inline const char *fz_dir(void) {
    if (!fz_dir_path[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(fz_dir_path, sizeof fz_dir_path, "%s/lrfuzz.%ld", base, (long)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", fz_dir_path, fz_dir_path);
        if (system(cmd) != 0) abort();
        atexit(fz_dir_cleanup);
    }
    return fz_dir_path;
}
/* "<scratch>/<name>" in a static buffer (one at a time per call site). */
static inline const char *fz_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fz_dir(), name);
    return buf;
}
static inline void fz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}
/* Splits data at the first NUL byte: the parts of a multi-file input. */
static inline size_t fz_split(const uint8_t *data, size_t size, size_t *second_off) {
    const uint8_t *z = memchr(data, 0, size);
    if (!z) {
        *second_off = size;
        return size;
    }
    *second_off = (size_t)(z - data) + 1;
    return (size_t)(z - data);
}

#endif
