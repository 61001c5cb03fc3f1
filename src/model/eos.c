/* The EOS set (eos.h). */
#include "model/eos.h"

void lr_eos_add(lr_eos_set *s, int32_t id) {
    if (id < 0 || lr_is_eos(s->ids, s->n, id)) return;
    if (s->n < LR_EOS_SET_MAX) s->ids[s->n++] = id;
}

void model_eos_set(const lr_model *m, int32_t tokenizer_eos, lr_eos_set *s) {
    s->n = 0;
    const lr_generation_config *g = model_generation_config(m);
    const lr_model_config *c = model_config(m);
    for (int i = 0; i < g->n_eos; i++) lr_eos_add(s, g->eos_token_ids[i]);
    for (int i = 0; i < c->n_eos; i++) lr_eos_add(s, c->eos_token_ids[i]);
    lr_eos_add(s, tokenizer_eos);
}

int lr_is_eos(const int32_t *ids, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}
