/* Merging a LoRA adapter into base weights on disk, W += s · B · A: a
 * merged Hugging Face model directory (the base's dtype and sharding;
 * config and tokenizer files copied), for transformers or any other
 * runtime (`merge`). A loaded model takes an adapter through the model
 * API instead (model.h model_apply_adapter: --adapter of `generate`,
 * `logprobs` and `eval`). */
#ifndef LR_LORA_MERGE_H
#define LR_LORA_MERGE_H

/* 0 ok; -1 + lr_error (bad adapter, shape mismatch, out_dir = model_dir,
 * unwritable output). */
int lora_merge_dir(const char *model_dir, const char *adapter_dir, const char *out_dir, int quiet);

#endif
