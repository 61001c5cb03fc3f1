/* expf for vectorised loops: Cody-Waite range reduction and a degree-6
 * polynomial (the Cephes expf coefficients), about 1 ulp from libm's expf
 * over [-86.9, 88.7], written so that GCC vectorises it inside `omp simd`
 * loops (libm's expf is a scalar call there without -ffast-math). Inputs
 * below -86.9 give 0 (exp < 2e-38), above 88.72 give +inf; NaN propagates. */
#ifndef LR_FAST_EXP_H
#define LR_FAST_EXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float lr_expf(float x) {
    const float hi = 88.72f, lo = -86.9f; /* 2^(n-1) stays a normal float */
    /* NaN takes the x = 0 path (the result is replaced by x below): converting
     * NaN to int32 and shifting it would be undefined behaviour (UBSan). */
    const float xc = x > hi ? hi : (x < lo ? lo : (x == x ? x : 0.0f));
    const float n = rintf(xc * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, xc); /* ln2 split: exact high part */
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p * r, r, r) + 1.0f;
    const int32_t bits = ((int32_t)n + 126) << 23; /* 2^(n-1): n = 128 near the top */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = (p * 2.0f) * scale;
    y = x > hi ? INFINITY : (x < lo ? 0.0f : y);
    return x != x ? x : y;
}

#endif
