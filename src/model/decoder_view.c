/* The read-only decoder view, backend and weight dtype accessors (model.h). */
#include "model/model.h"
#include "model/model_internal.h"

void model_decoder_view(const lr_model *m, lr_decoder_view *v) {
    v->be = m->be;
    v->n_layers = m->cfg.n_layers;
    v->n_heads = m->cfg.n_heads;
    v->n_kv_heads = m->cfg.n_kv_heads;
    v->max_len = m->cfg.max_position_embeddings;
    v->d = m->d, v->q_dim = m->q_dim, v->kv_dim = m->kv_dim, v->qkv_dim = m->qkv_dim;
    v->inter = m->inter, v->vocab = m->vocab, v->head_dim = m->head_dim;
    v->eps = (float)m->cfg.rms_norm_eps;
    v->attn_scale = m->attn_scale;
    v->inv_freq = m->inv_freq;
    v->embed = m->embed;
    v->final_norm = m->final_norm;
    v->lm_head = m->lm_head;
    v->layers = m->layers;
}

lr_backend *model_backend(const lr_model *m) { return m->be; }

lr_dtype model_weight_dtype(const lr_model *m) { return m->wdtype; }
