/* A few vector operations for the CPU kernels, one definition per
 * instruction set. The kernels in this folder are compiled once per ISA
 * (see kernels.c and cpu.cmake) with LR_ISA set:
 *   LR_ISA 2  AVX-512F (16 lanes)       -mavx512f -mavx512bw -mavx512vl -mfma
 *   LR_ISA 1  AVX2 + FMA (8 lanes)      -mavx2 -mfma
 *   LR_ISA 0  portable C (8 lanes)      no ISA flags (any x86-64, aarch64, ...)
 *
 * Batch invariance rests on one rule: a dot product over k is computed in
 * LANES independent fma chains, lane l taking k = l, l + LANES, ... in
 * ascending order (a tail is zero-padded, which adds exact zeros), and the
 * lanes are then summed in one fixed tree (vf_hsum4). The lane a product
 * lands in depends only on its k index, never on pointer alignment, on how
 * many rows are computed together or on which thread computes them. */
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
/* the first n (< LANES) floats of p, the rest zero; reads nothing past p + n */
static inline vf vf_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
/* bf16 (raw uint16) -> fp32 is exact: the bits go to the top half. */
static inline vf vf_load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
static inline vf vf_load_bf16_n(const uint16_t *p, int n) {
    const __m256i h = _mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
/* The fixed tree: fold lanes i and i + 8, then the 8-lane tree below. */
static inline __m256 fold16(vf a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}
#elif LR_ISA == 1
#include <immintrin.h>
#define LANES 8
typedef __m256 vf;
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vf vf_load_n(const float *p, int n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(m + 8 - n)));
}
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vf_load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline vf vf_load_bf16_n(const uint16_t *p, int n) {
    uint16_t t[8] = {0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vf_load_bf16(t);
}
static inline __m256 fold16(vf a) { return a; }
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
static inline vf vf_load_n(const float *p, int n) {
    vf r = vf_zero();
    memcpy(r.v, p, (size_t)n * sizeof(float));
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
static inline vf vf_load_bf16(const uint16_t *p) {
    vf r;
    for (int i = 0; i < 8; i++) {
        const uint32_t b = (uint32_t)p[i] << 16;
        memcpy(&r.v[i], &b, 4);
    }
    return r;
}
static inline vf vf_load_bf16_n(const uint16_t *p, int n) {
    uint16_t t[8] = {0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return vf_load_bf16(t);
}
#endif

/* out[0..3] = tree sums of a, b, c, d. The tree for 8 lanes v is
 * ((v0+v1) + (v2+v3)) + ((v4+v5) + (v6+v7)); 16 lanes first fold
 * v_i + v_{i+8}. Every element gets the same tree whatever its neighbours. */
static inline void vf_hsum4(vf a, vf b, vf c, vf d, float out[4]) {
#if LR_ISA >= 1
    const __m256 h1 = _mm256_hadd_ps(fold16(a), fold16(b)); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    const __m256 h2 = _mm256_hadd_ps(fold16(c), fold16(d));
    const __m256 h3 = _mm256_hadd_ps(h1, h2); /* a0123 b0123 c0123 d0123 | a4567 ... */
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h3), _mm256_extractf128_ps(h3, 1)));
#else
    const vf *v[4] = {&a, &b, &c, &d};
    for (int e = 0; e < 4; e++) {
        const float *x = v[e]->v;
        out[e] = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
    }
#endif
}

/* Fixed-order sums for the row ops (norms, softmax denominators, attention
 * dot products): 8 partial sums, element i into partial i % 8, then the
 * 8-lane tree. Written with plain arrays so that the order is the C
 * order whatever the compiler vectorises (no reassociation: ISO C mode
 * forbids it), independent of alignment and of the caller. */
static inline float fsum8_tree(const float p[8]) { return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])); }
static inline double dsum8_tree(const double p[8]) { return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])); }

static inline float dot_f32(const float *a, const float *b, int n) {
    float p[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) p[l] = LR_FMAF(a[i + l], b[i + l], p[l]);
    for (int l = 0; i + l < n; l++) p[l] = LR_FMAF(a[i + l], b[i + l], p[l]);
    return fsum8_tree(p);
}

#endif
