/* A few vector operations for the CPU kernels, one definition per
 * instruction set. The kernels in this folder are compiled once per ISA
 * (see kernels.c and cpu.cmake) with LR_ISA set:
 *   LR_ISA 2  AVX-512F (16 lanes)       -mavx512f -mavx512bw -mavx512vl -mfma
 *   LR_ISA 1  AVX2 + FMA (8 lanes)      -mavx2 -mfma
 *   LR_ISA 0  portable C (8 lanes)      no ISA flags (any x86-64, aarch64, ...)
 *
 * Batch invariance rests on fixed orders that depend only on an element's
 * own inputs: a matmul element is one fma chain over k in order (gemm.c),
 * and the row ops sum in the fixed partials and tree below, never in an
 * order set by alignment, by how many rows are computed together or by
 * which thread computes them. */
#ifndef LR_CPU_SIMD_H
#define LR_CPU_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef LR_ISA
#error "LR_ISA must be defined (0 generic, 1 avx2, 2 avx512)"
#endif

/* Multiply-add: one fused instruction where the ISA has it; the portable
 * build multiplies then adds (a software fmaf would be 20x slower). */
#if LR_ISA >= 1
#define LR_FMAF(a, b, c) fmaf((a), (b), (c))
#else
#define LR_FMAF(a, b, c) ((a) * (b) + (c))
#endif

#if LR_ISA == 2
#include <immintrin.h>
#define LANES 16
typedef __m512 vf;
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
#elif LR_ISA == 1
#include <immintrin.h>
#define LANES 8
typedef __m256 vf;
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
#else
#define LANES 8
typedef struct {
    float v[8];
} vf;
static inline vf vf_zero(void) {
    vf r;
    for (int i = 0; i < 8; i++) r.v[i] = 0.0f;
    return r;
}
static inline vf vf_load(const float *p) {
    vf r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline vf vf_fma(vf a, vf b, vf c) {
    for (int i = 0; i < 8; i++) c.v[i] = LR_FMAF(a.v[i], b.v[i], c.v[i]);
    return c;
}
static inline vf vf_set1(float x) {
    vf r;
    for (int i = 0; i < 8; i++) r.v[i] = x;
    return r;
}
static inline void vf_store(float *p, vf a) { memcpy(p, a.v, sizeof a.v); }
#endif

/* Fixed-order sums for the row ops (norms, softmax denominators, attention
 * dot products): 8 partial sums, element i into partial i % 8, then the
 * 8-lane tree. Written with plain arrays so that the order is the C
 * order whatever the compiler vectorises (no reassociation: ISO C mode
 * forbids it), independent of alignment and of the caller. */
static inline float fsum8_tree(const float p[8]) {
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
static inline double dsum8_tree(const double p[8]) {
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

#endif
