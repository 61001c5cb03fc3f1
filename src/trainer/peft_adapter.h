/* Writing PEFT LoRA adapter directories (adapter_model.safetensors +
 * adapter_config.json + README.md, as peft's save_pretrained writes them).
 * The reader, peft_adapter_load, is the model's (model/adapter.h: --adapter
 * applies adapters without the trainer); the trainer uses it for
 * --init-adapter. */
#ifndef LR_PEFT_ADAPTER_H
#define LR_PEFT_ADAPTER_H

#include "model/adapter.h"
#include "trainer/lora.h"

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
