/* RoPE inverse frequencies (see rope.h). Each step mirrors the fp32 torch
 * expression in transformers' modeling_rope_utils.py:
 *   inv_freq = 1 / base ** (arange(0, dim, 2).float() / dim)
 *   linear:  inv_freq /= factor
 *   llama3:  wavelen = 2π / inv_freq; low band (wavelen > old/low_ff) divided
 *            by factor; medium band smoothed between the two. */
#include "model/rope.h"

#include <math.h>

#include "common/error.h"

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
        float e = (float)(2 * i) / (float)dim;
        float p = (float)pow((double)base, (double)e);
        inv_freq[i] = 1.0f / p;
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
        const float factor = (float)c->rope_factor, lo_ff = (float)c->rope_low_freq_factor,
                    hi_ff = (float)c->rope_high_freq_factor, old = (float)c->rope_original_max_position;
        if (!(factor > 0.0f) || !(lo_ff > 0.0f) || !(hi_ff > lo_ff) || !(old > 0.0f)) {
            lr_error_set(where,
                         "llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                         "original_max_position_embeddings > 0 (got %g, %g, %g, %d)",
                         c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                         c->rope_original_max_position);
            return -1;
        }
        const float low_wavelen = old / lo_ff, high_wavelen = old / hi_ff;
        const float two_pi = (float)(2.0 * M_PI);
        for (int i = 0; i < half; i++) {
            const float f = inv_freq[i];
            const float wavelen = two_pi / f;
            float scaled = wavelen > low_wavelen ? f / factor : f;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                const float smooth = (old / wavelen - lo_ff) / (hi_ff - lo_ff);
                scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
            }
            inv_freq[i] = scaled;
        }
        return 0;
    }
    }
    lr_error_set(where, "unsupported rope type %d", (int)c->rope_type);
    return -1;
}
