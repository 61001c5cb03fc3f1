/* Small helpers shared by the bench programs (bench/bench_*.c): wall clock, peak
 * RSS, medians, the thread count, the deterministic token stream shared with
 * bench/hf_bench.py, and one-line JSON results on stdout. */
#ifndef LR_BENCH_UTIL_H
#define LR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

double bench_now(void);              /* monotonic seconds */
/* n floats uniform in [-0.5, 0.5) from an LCG seeded by seed, 64-byte aligned; exits when out of memory */
float *bench_rand_floats(size_t n, unsigned seed);
long bench_peak_rss_kb(void);        /* getrusage(RUSAGE_SELF).ru_maxrss */
double bench_median(const double *x, int n);
double bench_min(const double *x, int n);
/* --threads N, else OMP_NUM_THREADS, else the number of online CPUs. */
int bench_threads(int flag_value);

/* Token i of the bench stream for `seed`: splitmix64(seed * 1000003 + i) % vocab.
 * bench/hf_bench.py computes the same ids, so both sides score the same batch. */
int32_t bench_token(uint64_t seed, uint64_t i, int vocab);

/* Flag helpers: argv of the form --name value. */
const char *bench_arg(int argc, char **argv, const char *name, const char *dflt);
long bench_arg_long(int argc, char **argv, const char *name, long dflt);

/* JSON line builder: bench_json_begin() then fields, then bench_json_end()
 * prints the line on stdout. Not reentrant (one line at a time). */
void bench_json_begin(void);
void bench_json_str(const char *key, const char *v);
void bench_json_num(const char *key, double v);
void bench_json_int(const char *key, long long v);
void bench_json_arr(const char *key, const double *v, int n);
void bench_json_end(void);

#endif
