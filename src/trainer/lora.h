/* The trainer's side of a LoRA adapter: what an adapter is (lr_lora, its
 * slots, module names, peft's keys) is model/lora.h; training adds its
 * initialisation. */
#ifndef LR_LORA_H
#define LR_LORA_H

#include <stdint.h>

#include "model/lora.h"

/* peft's default init: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with
 * a = sqrt 5), B = 0; deterministic in seed (rng.h stream per slot). */
void lora_init(lr_lora *a, uint64_t seed);

#endif
