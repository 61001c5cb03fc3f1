/* PEFT LoRA adapter directories: adapter_model.safetensors +
 * adapter_config.json, as peft's save_pretrained writes them and
 * PeftModel.from_pretrained reads them.
 *
 * Keys: base_model.model.model.layers.<l>.<self_attn|mlp>.<m>.lora_A.weight
 * (r, in) and ...lora_B.weight (out, r). The reader also accepts the
 * in-memory form with the adapter name (lora_A.default.weight) and any float
 * dtype. Adapters this runtime cannot apply exactly are refused with a
 * clear error: DoRA, bias other than "none", fan_in_fan_out,
 * rank_pattern/alpha_pattern, modules_to_save, embedding or lm_head LoRA. */
#ifndef LR_PEFT_ADAPTER_H
#define LR_PEFT_ADAPTER_H

#include "io/model_config.h"
#include "trainer/lora.h"

/* Loads the adapter in dir for a model of config mc (model_dir names the
 * model in errors). Target modules come from the tensors present; every
 * shape is checked against the model. NULL + lr_error on any problem
 * (exit code 2 material). */
lr_lora *peft_adapter_load(const char *dir, const lr_model_config *mc, const char *model_dir);

/* Writes dir/adapter_model.safetensors (fp32), dir/adapter_config.json
 * (the keys and defaults peft 0.21.2 writes, peft_version included) and,
 * unless one exists, a README.md model card as save_pretrained does (each
 * atomically; dir is created). base_model goes to base_model_name_or_path
 * through peft_base_model_name. 0 ok; -1 + lr_error. */
int peft_adapter_save(const char *dir, const lr_lora *a, const char *base_model);
/* base_model_name_or_path for a base model given as `given` (a directory or
 * a Hub id): the Hub id when the directory has one (a Hugging Face cache
 * snapshot .../models--ORG--NAME/snapshots/..., or a config.json whose
 * _name_or_path is "org/name"), else `given` unchanged. Fresh string. */
char *peft_base_model_name(const char *given);

#endif
