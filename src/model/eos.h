/* The set of token ids that end a generation, built in one place for
 * every command that generates (sample, eval, generate). */
#ifndef LR_MODEL_EOS_H
#define LR_MODEL_EOS_H

#include <stdint.h>

#include "io/model_config.h"
#include "model/model.h"

/* Room for both config files' ids, the tokenizer's and a few stop tokens. */
#define LR_EOS_SET_MAX (2 * LR_MAX_EOS + 8)

typedef struct {
    int32_t ids[LR_EOS_SET_MAX];
    int n;
} lr_eos_set;

/* The model directory's EOS ids (generation_config.json's, then
 * config.json's: the order transformers' generate() reads them), then
 * tokenizer_eos (the tokenizer's eos_token; < 0: none), each id once. */
void model_eos_set(const lr_model *m, int32_t tokenizer_eos, lr_eos_set *s);

/* Adds id unless it is < 0 or already there (the set keeps at most
 * LR_EOS_SET_MAX ids; more are not added). */
void lr_eos_add(lr_eos_set *s, int32_t id);

/* 1 when id is one of the n ids. */
int lr_is_eos(const int32_t *ids, int n, int32_t id);

#endif
