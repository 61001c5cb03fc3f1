/* LoRA adapter initialisation (lora.h). */
#include "trainer/lora.h"

#include <math.h>
#include <string.h>

#include "trainer/rng.h"

void lora_init(lr_lora *a, uint64_t seed) {
    for (int s = 0; s < a->n_slots; s++) {
        const lora_slot *sl = &a->slots[s];
        /* kaiming_uniform_(a=sqrt 5): gain sqrt(2/6), bound gain*sqrt(3/in) = 1/sqrt(in) */
        const float bound = (float)(1.0 / sqrt((double)sl->in));
        lr_rng r = {rng_key(rng_key(seed, RNG_TAG_INIT), (uint64_t)s), 0};
        float *A = a->w + sl->a; /* (r, in) */
        for (size_t i = 0; i < (size_t)a->cfg.r * sl->in; i++) A[i] = (2.0f * rng_unit(rng_next(&r)) - 1.0f) * bound;
        memset(a->w + sl->b, 0, (size_t)sl->out * a->cfg.r * sizeof(float)); /* B (out, r) = 0 */
    }
}
