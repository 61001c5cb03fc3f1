/* LoRA deltas merged into a loaded model's weights (model.h model_add_lora):
 * W (out, in) += s · B (out, r) · A (r, in), one backend gemm per delta
 * into the fp32 rows of the (fused) matrix that holds the linear; and a
 * whole PEFT adapter directory so (model_apply_adapter: --adapter). */
#include "common/check.h"
#include "common/error.h"
#include "model/adapter.h"
#include "model/model.h"
#include "model/model_internal.h"

int model_add_lora(lr_model *m, int layer, int which, int r, int in, int out, float scale, const float *A,
                   const float *B) {
    if (layer < 0 || layer >= m->cfg.n_layers || which < 0 || which >= LR_N_LINEAR || r < 1) {
        lr_error_set(m->dir, "LoRA delta for layer %d, linear %d, rank %d is outside the model", layer, which, r);
        return -1;
    }
    lr_backend *be = m->be;
    if (!be->gemm) {
        lr_error_set(m->dir, "the %s backend cannot merge adapters (no gemm op)", be->name);
        return -1;
    }
    lr_layer *ly = &m->layers[layer];
    const size_t d = (size_t)m->d, ni = (size_t)m->inter;
    /* the linear's (in, out) and its rows in the fused matrix; a bf16
     * matrix is widened first: the merge is in fp32 */
    int want_in = m->d, want_out = 0;
    float *W = NULL; /* (out, in) */
    switch (which) {
    case LR_LINEAR_Q: want_out = m->q_dim, W = model_weight_f32(m, &ly->wqkv, (size_t)m->qkv_dim * d); break;
    case LR_LINEAR_K:
        want_out = m->kv_dim, W = model_weight_f32(m, &ly->wqkv, (size_t)m->qkv_dim * d) + (size_t)m->q_dim * d;
        break;
    case LR_LINEAR_V:
        want_out = m->kv_dim;
        W = model_weight_f32(m, &ly->wqkv, (size_t)m->qkv_dim * d) + (size_t)(m->q_dim + m->kv_dim) * d;
        break;
    case LR_LINEAR_O: want_in = m->q_dim, want_out = m->d, W = model_weight_f32(m, &ly->wo, d * (size_t)m->q_dim); break;
    case LR_LINEAR_GATE: want_out = m->inter, W = model_weight_f32(m, &ly->wgu, 2 * ni * d); break;
    case LR_LINEAR_UP: want_out = m->inter, W = model_weight_f32(m, &ly->wgu, 2 * ni * d) + ni * d; break;
    default: want_in = m->inter, want_out = m->d, W = model_weight_f32(m, &ly->wdown, d * ni); break;
    }
    if (in != want_in || out != want_out) {
        lr_error_set(m->dir, "LoRA delta of shape [%d, %d] for a linear of shape [%d, %d] (layer %d)", out, in,
                     want_out, want_in, layer);
        return -1;
    }
    const size_t na = (size_t)r * in, nb = (size_t)out * r;
    float *dA = be->alloc(be, na * sizeof(float)); /* (r, in) */
    float *dB = be->alloc(be, nb * sizeof(float)); /* (out, r) */
    be->upload(be, dA, A, na * sizeof(float));
    be->upload(be, dB, B, nb * sizeof(float));
    be->gemm(be, 0, 0, out, in, r, scale, dB, r, dA, in, 1.0f, W, in);
    be->free(be, dA);
    be->free(be, dB);
    return 0;
}

int model_apply_adapter(lr_model *m, const char *adapter_dir) {
    lr_lora *a = peft_adapter_load(adapter_dir, model_config(m), model_dir(m));
    if (!a) return -1;
    int rc = 0;
    for (int s = 0; s < a->n_slots && rc == 0; s++) {
        const lora_slot *sl = &a->slots[s];
        rc = model_add_lora(m, sl->layer, sl->module, a->cfg.r, sl->in, sl->out, a->scale, a->w + sl->a,
                            a->w + sl->b);
    }
    lora_free(a);
    return rc;
}
