/* RoPE inverse frequencies (see rope.h), bit for bit as transformers computes
 * them in fp32 on the CPU (modeling_rope_utils.py + PyTorch's kernels):
 *
 *   inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))
 *     arange / dim     fp32 division
 *     base ** e        torch.pow(Scalar, Tensor): a vectorised loop whose
 *                      full 2-vector blocks use SLEEF's powf (1-ulp, with FMA)
 *                      and whose tail uses the scalar std::pow = libm powf
 *     1.0 / t          Tensor.__rtruediv__ = t.reciprocal() * 1.0
 *   linear:  inv_freq / factor                        (fp32 division)
 *   llama3:  low/high_freq_wavelen = old / low|high   (Python double, then
 *                                                      fp32 in comparisons)
 *            wavelen = 2π / inv_freq = reciprocal(inv_freq) * fp32(2π)
 *            old / wavelen = reciprocal(wavelen) * old
 *            smooth  = (old / wavelen - low) / fp32(high - low)
 *            smoothed = (1 - smooth) * f / factor + smooth * f  (left to right)
 *
 * Every step below is one fp32 operation, none fused into an FMA (GCC does
 * not contract in ISO C mode; the pragma tells clang, which would). */
#include "model/rope.h"

#include <math.h>

#ifdef LR_HAVE_SLEEF
#include <sleef.h>
#if (defined(__x86_64__) || defined(__i386__)) && !defined(FP_FAST_FMA)
/* sleef.h declares the FMA builds only when compiling for FMA (FP_FAST_FMA);
 * libsleef exports them always, and they are called after a CPU check. */
float Sleef_powf1_u10purecfma(float x, float y);
#endif
#endif

#include "common/error.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* PyTorch's x86-64 wheels run the AVX-512 kernels where the CPU has them:
 * Vectorized<float> holds 16 lanes and the loop steps 2 vectors at a time.
 * (On an AVX2-only CPU torch steps 16; the two agree whenever head_dim / 2
 * is a multiple of 32: head_dim 64, 128, 256, ...) */
#define TORCH_POW_BLOCK 32

/* base ** e as torch's pow kernel computes element i of n. */
static float torch_pow(float base, float e, int i, int n) {
    const int vectorised = i < n / TORCH_POW_BLOCK * TORCH_POW_BLOCK;
#ifdef LR_HAVE_SLEEF
    if (vectorised) {
#if defined(__x86_64__) || defined(__i386__)
        /* torch's SLEEF kernels use FMA; the purecfma build is the same
         * algorithm one lane at a time. Without FMA: 1-ulp differences. */
        if (__builtin_cpu_supports("fma")) return Sleef_powf1_u10purecfma(base, e);
        return Sleef_powf1_u10purec(base, e);
#else
        return Sleef_powf_u10(base, e);
#endif
    }
#else
    (void)vectorised; /* built without SLEEF: libm powf everywhere (1 ulp) */
#endif
    return powf(base, e);
}

int rope_have_exact_pow(void) {
#if defined(LR_HAVE_SLEEF) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("fma") != 0;
#else
    return 0;
#endif
}

int rope_inv_freq(const lr_model_config *c, const char *where, float *inv_freq) {
    const int dim = c->head_dim, half = dim / 2;
    if (dim <= 0 || dim % 2) {
        lr_error_set(where, "head_dim %d must be positive and even for rotary embeddings", dim);
        return -1;
    }
    const float base = (float)c->rope_theta;
    if (!(base > 1.0f)) {
        lr_error_set(where, "rope_theta %g must be > 1", c->rope_theta);
        return -1;
    }
    for (int i = 0; i < half; i++) {
        const float e = (float)(2 * i) / (float)dim;
        const float p = torch_pow(base, e, i, half);
        inv_freq[i] = 1.0f / p; /* reciprocal, then * 1.0 (exact) */
    }
    switch (c->rope_type) {
    case ROPE_DEFAULT: return 0;
    case ROPE_LINEAR: {
        const float f = (float)c->rope_factor;
        if (!(f > 0.0f)) {
            lr_error_set(where, "rope_scaling factor %g must be > 0", c->rope_factor);
            return -1;
        }
        for (int i = 0; i < half; i++) inv_freq[i] /= f;
        return 0;
    }
    case ROPE_LLAMA3: {
        const double lo_d = c->rope_low_freq_factor, hi_d = c->rope_high_freq_factor,
                     old_d = c->rope_original_max_position;
        const float factor = (float)c->rope_factor, lo_ff = (float)lo_d, old = (float)old_d;
        if (!(factor > 0.0f) || !(lo_d > 0.0) || !(hi_d > lo_d) || !(old_d > 0.0)) {
            lr_error_set(where,
                         "llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                         "original_max_position_embeddings > 0 (got %g, %g, %g, %d)",
                         c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                         c->rope_original_max_position);
            return -1;
        }
        /* Python floats (double), rounded to fp32 where they meet the tensor. */
        const float low_wavelen = (float)(old_d / lo_d), high_wavelen = (float)(old_d / hi_d);
        const float span = (float)(hi_d - lo_d);
        const float two_pi = (float)(2.0 * M_PI);
        for (int i = 0; i < half; i++) {
            const float f = inv_freq[i];
            const float wavelen = (1.0f / f) * two_pi;
            const float scaled = wavelen > low_wavelen ? f / factor : f;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                const float ratio = (1.0f / wavelen) * old;
                const float smooth = (ratio - lo_ff) / span;
                const float a = ((1.0f - smooth) * scaled) / factor;
                const float b = smooth * scaled;
                inv_freq[i] = a + b;
            } else {
                inv_freq[i] = scaled;
            }
        }
        return 0;
    }
    }
    lr_error_set(where, "unsupported rope type %d", (int)c->rope_type);
    return -1;
}
