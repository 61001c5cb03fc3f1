/* KV cache: per layer, per slot, contiguous (max_len, kv_dim) blocks of keys
 * and values in backend memory, plus per-slot lengths (model_internal.h). */
#include "common/check.h"
#include "common/error.h"
#include "model/model_internal.h"

lr_kv_cache *kv_cache_new(const lr_model *cm, int n_slots, int max_len) {
    lr_model *m = (lr_model *)cm; /* the cache allocates through the model's backend */
    if (n_slots < 1 || max_len < 1) {
        lr_error_set(m->dir, "KV cache needs at least one slot and one position (got %d x %d)", n_slots, max_len);
        return NULL;
    }
    lr_kv_cache *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->n_slots = n_slots;
    c->max_len = max_len;
    c->n_layers = m->cfg.n_layers;
    c->kv_dim = m->kv_dim;
    c->dtype = m->be->kv_dtype;
    const size_t n = (size_t)c->n_layers * n_slots * max_len * c->kv_dim;
    c->k = m->be->alloc(m->be, n * lr_dtype_size(c->dtype));
    c->v = m->be->alloc(m->be, n * lr_dtype_size(c->dtype));
    c->len = xcalloc((size_t)n_slots, sizeof *c->len);
    c->mark = xcalloc((size_t)n_slots, 1);
    return c;
}

void kv_cache_free(lr_kv_cache *c) {
    if (!c) return;
    c->m->be->free(c->m->be, c->k);
    c->m->be->free(c->m->be, c->v);
    free(c->len);
    free(c->mark);
    free(c);
}

void kv_cache_clear_slot(lr_kv_cache *c, int slot) {
    LR_CHECK(slot >= 0 && slot < c->n_slots, "KV cache slot %d out of range [0, %d)", slot, c->n_slots);
    c->len[slot] = 0; /* stale rows are overwritten before they are read */
}

int kv_cache_len(const lr_kv_cache *c, int slot) {
    LR_CHECK(slot >= 0 && slot < c->n_slots, "KV cache slot %d out of range [0, %d)", slot, c->n_slots);
    return c->len[slot];
}

int kv_cache_n_slots(const lr_kv_cache *c) { return c->n_slots; }
int kv_cache_max_len(const lr_kv_cache *c) { return c->max_len; }
size_t kv_cache_bytes(const lr_kv_cache *c) {
    return 2 * (size_t)c->n_layers * c->n_slots * c->max_len * c->kv_dim * lr_dtype_size(c->dtype);
}
