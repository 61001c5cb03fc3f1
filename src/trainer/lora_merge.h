/* Applying a LoRA adapter to base weights: W += s · B · A.
 *   - lora_merge_dir: a merged Hugging Face model directory on disk (the
 *     base's dtype and sharding; config and tokenizer files copied), for
 *     transformers or any other runtime;
 *   - lora_apply_to_model: loads a PEFT adapter and merges each of its
 *     deltas into a loaded model through the model API (model.h
 *     model_add_lora), which is how `generate`, `logprobs` and `eval` take
 *     --adapter. */
#ifndef LR_LORA_MERGE_H
#define LR_LORA_MERGE_H

#include "model/model.h"

/* 0 ok; -1 + lr_error (bad adapter, shape mismatch, out_dir = model_dir,
 * unwritable output). */
int lora_merge_dir(const char *model_dir, const char *adapter_dir, const char *out_dir, int quiet);

/* Loads the PEFT adapter in adapter_dir (checked against m's shapes) and
 * adds it into m's weights. 0 ok; -1 + lr_error. */
int lora_apply_to_model(lr_model *m, const char *adapter_dir);

#endif
