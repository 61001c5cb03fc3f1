/* A model with random weights from a config alone (no files): benchmarks
 * and tests of shapes too large to commit. Weights ~ U(-a, a) with a =
 * std*sqrt(3), biases likewise, RMSNorm weights 1; deterministic in seed. */
#include <math.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/hash.h"
#include "model/model_internal.h"
#include "model/rope.h"

static void fill(lr_model *m, float *dst, size_t n, uint64_t *state, float amp) {
    /* Generated on the host in blocks, uploaded for device backends. */
    float buf[4096];
    for (size_t o = 0; o < n; o += 4096) {
        const size_t k = n - o < 4096 ? n - o : 4096;
        for (size_t i = 0; i < k; i++) {
            const uint64_t z = lr_splitmix64(state);
            buf[i] = amp * (float)((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
        }
        m->be->upload(m->be, dst + o, buf, k * sizeof(float));
    }
}

static float *rand_f32(lr_model *m, size_t n, uint64_t *st, float amp) {
    float *p = m->be->alloc(m->be, n * sizeof(float));
    fill(m, p, n, st, amp);
    return p;
}

static float *ones(lr_model *m, size_t n) {
    float *p = m->be->alloc(m->be, n * sizeof(float));
    float one = 1.0f;
    for (size_t i = 0; i < n; i++) m->be->upload(m->be, p + i, &one, sizeof one);
    return p;
}

lr_model *model_new_random(const lr_model_config *c, uint64_t seed, float std, const lr_model_opts *opts) {
    if (c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads || c->head_dim <= 0 || c->head_dim % 2 ||
        c->hidden_size <= 0 || c->intermediate_size <= 0 || c->vocab_size <= 0 || c->n_layers <= 0 ||
        c->max_position_embeddings <= 0) {
        lr_error_set("random model", "inconsistent config dimensions");
        return NULL;
    }
    lr_model *m = xcalloc(1, sizeof *m);
    m->cfg = *c;
    m->gen.bos_token_id = m->gen.pad_token_id = -1;
    m->gen.max_new_tokens = -1;
    m->dir = xstrdup("(random model)");
    if (model_init_runtime(m, m->dir, opts) != 0) {
        model_free(m);
        return NULL;
    }
    const float a = std * sqrtf(3.0f);
    uint64_t st = seed;
    const size_t d = (size_t)m->d, I = (size_t)m->inter;
    m->embed = lr_weight_f32(rand_f32(m, (size_t)m->vocab * d, &st, a));
    m->final_norm = ones(m, d);
    m->lm_head = c->tie_word_embeddings ? m->embed : lr_weight_f32(rand_f32(m, (size_t)m->vocab * d, &st, a));
    m->layers = xcalloc((size_t)c->n_layers, sizeof *m->layers);
    for (int l = 0; l < c->n_layers; l++) {
        lr_layer *ly = &m->layers[l];
        ly->attn_norm = ones(m, d);
        ly->mlp_norm = ones(m, d);
        ly->wqkv = lr_weight_f32(rand_f32(m, (size_t)m->qkv_dim * d, &st, a));
        ly->wo = lr_weight_f32(rand_f32(m, d * (size_t)m->q_dim, &st, a));
        ly->wgu = lr_weight_f32(rand_f32(m, 2 * I * d, &st, a));
        ly->wdown = lr_weight_f32(rand_f32(m, d * I, &st, a));
        if (c->attention_bias) ly->bqkv = rand_f32(m, (size_t)m->qkv_dim, &st, a);
        if (c->o_proj_bias) ly->bo = rand_f32(m, d, &st, a);
        if (c->mlp_bias) {
            ly->bgu = rand_f32(m, 2 * I, &st, a);
            ly->bdown = rand_f32(m, d, &st, a);
        }
    }
    return m;
}
