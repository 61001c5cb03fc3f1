/* Rotary-embedding inverse frequencies from a model config, computed in
 * fp32 with the operations transformers + PyTorch use on the CPU (default,
 * linear and llama3 types), so that inv_freq equals transformers' bit for
 * bit and the angles pos * inv_freq (one fp32 product, as HF) do too. */
#ifndef LR_ROPE_H
#define LR_ROPE_H

#include "io/model_config.h"

/* Fills inv_freq (head_dim / 2). 0 ok; -1 + lr_error (naming `where`) for a
 * rope type or parameter the runtime does not support. */
int rope_inv_freq(const lr_model_config *c, const char *where, float *inv_freq);

/* 1 when inv_freq is bit-exact for every head_dim: built with SLEEF and the
 * CPU has FMA (torch's vectorised pow). Otherwise the elements torch takes
 * through its vectorised pow (the first head_dim/2 rounded down to a
 * multiple of 32) may differ by 1 ulp. */
int rope_have_exact_pow(void);

#endif
