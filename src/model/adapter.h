/* Reading PEFT LoRA adapter directories: adapter_model.safetensors +
 * adapter_config.json, as peft's save_pretrained writes them and
 * PeftModel.from_pretrained reads them (the writer is the trainer's,
 * trainer/peft_adapter.h; model_apply_adapter in model.h applies one).
 *
 * Keys: base_model.model.model.layers.<l>.<self_attn|mlp>.<m>.lora_A.weight
 * (r, in) and ...lora_B.weight (out, r). The reader also accepts the
 * in-memory form with the adapter name (lora_A.default.weight) and any float
 * dtype. Adapters this runtime cannot apply exactly are refused with a
 * clear error: DoRA, bias other than "none", fan_in_fan_out,
 * rank_pattern/alpha_pattern, modules_to_save, embedding or lm_head LoRA. */
#ifndef LR_MODEL_ADAPTER_H
#define LR_MODEL_ADAPTER_H

#include "io/model_config.h"
#include "model/lora.h"

/* Loads the adapter in dir for a model of config mc (model_dir names the
 * model in errors). Target modules come from the tensors present; every
 * shape is checked against the model. NULL + lr_error on any problem
 * (exit code 2 material). */
lr_lora *peft_adapter_load(const char *dir, const lr_model_config *mc, const char *model_dir);

#endif
