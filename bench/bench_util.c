#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long bench_peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *x, int n) {
    if (n <= 0) return 0.0;
    double *t = malloc(sizeof(double) * (size_t)n);
    memcpy(t, x, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    double m = (n & 1) ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
}

double bench_min(const double *x, int n) {
    double m = n > 0 ? x[0] : 0.0;
    for (int i = 1; i < n; i++)
        if (x[i] < m) m = x[i];
    return m;
}

int bench_threads(int flag_value) {
    if (flag_value > 0) return flag_value;
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && atoi(e) > 0) return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

int32_t bench_token(uint64_t seed, uint64_t i, int vocab) {
    return (int32_t)(splitmix64(seed * 1000003ULL + i) % (uint64_t)vocab);
}

const char *bench_arg(int argc, char **argv, const char *name, const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return dflt;
}

long bench_arg_long(int argc, char **argv, const char *name, long dflt) {
    const char *v = bench_arg(argc, argv, name, NULL);
    return v ? strtol(v, NULL, 10) : dflt;
}

static int json_first;

void bench_json_begin(void) {
    json_first = 1;
    fputc('{', stdout);
}

static void json_key(const char *key) {
    if (!json_first) fputs(", ", stdout);
    json_first = 0;
    printf("\"%s\": ", key);
}

void bench_json_str(const char *key, const char *v) {
    json_key(key);
    fputc('"', stdout);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', stdout);
        fputc(*p, stdout);
    }
    fputc('"', stdout);
}

void bench_json_num(const char *key, double v) {
    json_key(key);
    printf("%.6g", v);
}

void bench_json_int(const char *key, long long v) {
    json_key(key);
    printf("%lld", v);
}

void bench_json_arr(const char *key, const double *v, int n) {
    json_key(key);
    fputc('[', stdout);
    for (int i = 0; i < n; i++) printf(i ? ", %.6g" : "%.6g", v[i]);
    fputc(']', stdout);
}

void bench_json_end(void) {
    fputs("}\n", stdout);
    fflush(stdout);
}

float *bench_rand_floats(size_t n, unsigned seed) {
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 9) & 0xFFFF) / 65536.0f - 0.5f;
    }
    return p;
}
