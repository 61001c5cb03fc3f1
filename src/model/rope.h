/* Rotary-embedding inverse frequencies from a model config, computed in
 * fp32 the way transformers' modeling_rope_utils does (default, linear and
 * llama3 types), so that angles pos * inv_freq match bit for bit or within
 * an ulp. */
#ifndef LR_ROPE_H
#define LR_ROPE_H

#include "io/model_config.h"

/* Fills inv_freq (head_dim / 2). 0 ok; -1 + lr_error (naming `where`) for a
 * rope type or parameter the runtime does not support. */
int rope_inv_freq(const lr_model_config *c, const char *where, float *inv_freq);

#endif
