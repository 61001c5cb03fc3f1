/* Model lifecycle: config + weights from a Hugging Face directory, the
 * backend, accessors (model.h). The math is in forward.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "model/device.h"
#include "model/model_internal.h"
#include "model/rope.h"

/* Largest head_dim the CPU rope keeps its cos/sin on the stack for. */
#define MAX_HEAD_DIM 1024

int model_init_runtime(lr_model *m, const char *where, const lr_model_opts *opts) {
    const lr_model_config *c = &m->cfg;
    m->d = c->hidden_size;
    m->head_dim = c->head_dim;
    m->q_dim = c->n_heads * c->head_dim;
    m->kv_dim = c->n_kv_heads * c->head_dim;
    m->qkv_dim = m->q_dim + 2 * m->kv_dim;
    m->inter = c->intermediate_size;
    m->vocab = c->vocab_size;
    m->attn_scale = (float)(1.0 / sqrt((double)c->head_dim));
    m->inv_freq = xmalloc((size_t)(c->head_dim / 2) * sizeof(float));
    if (rope_inv_freq(c, where, m->inv_freq) != 0) return -1;
    model_set_chunk_tokens(m, 0);
    m->be = model_backend_new(opts, where); /* --device: device.c */
    if (!m->be) return -1;
    m->weights_f32 = opts ? opts->weights_f32 : 0;
    const char *emu = getenv("LR_EMULATE_BF16"); /* a CPU emulation of the GPU: CPU backend only */
    if (m->be->host_memory && ((opts && opts->emulate_bf16) || (emu && !strcmp(emu, "1"))))
        lr_backend_emulate_bf16(m->be);
    return 0;
}

lr_model *model_load(const char *dir, const lr_model_opts *opts) {
    if (!lr_is_dir(dir)) {
        lr_error_set(dir, "not a model directory (expected config.json and *.safetensors)");
        return NULL;
    }
    lr_model *m = xcalloc(1, sizeof *m);
    m->dir = xstrdup(dir);
    if (model_config_load_dir(&m->cfg, &m->gen, dir) != 0) goto fail;
    const lr_model_config *c = &m->cfg;
    char *cfg_path = lr_path_join(dir, "config.json");
    if (c->head_dim > MAX_HEAD_DIM) {
        lr_error_set(cfg_path, "head_dim %d is larger than the supported %d", c->head_dim, MAX_HEAD_DIM);
        free(cfg_path);
        goto fail;
    }
    int rc = model_init_runtime(m, cfg_path, opts);
    free(cfg_path);
    if (rc != 0) goto fail;
    model_announce_device(opts ? opts->quiet : 0);
    if (model_load_weights(m) != 0) goto fail;
    return m;
fail:
    model_free(m);
    return NULL;
}

void model_free(lr_model *m) {
    if (!m) return;
    if (m->be) {
        model_workspace_free(m);
        model_free_weights(m);
        lr_backend_destroy(m->be);
    }
    free(m->inv_freq);
    free(m->dir);
    free(m);
}

const lr_model_config *model_config(const lr_model *m) { return &m->cfg; }
const lr_generation_config *model_generation_config(const lr_model *m) { return &m->gen; }
int model_vocab_size(const lr_model *m) { return m->vocab; }
const char *model_dir(const lr_model *m) { return m->dir; }
int model_n_threads(const lr_model *m) { return m->be->n_threads; }
void model_set_threads(lr_model *m, int n_threads) { m->be->set_threads(m->be, n_threads); }

size_t model_weight_bytes(const lr_model *m) {
    const lr_model_config *c = &m->cfg;
    /* matrices in the weights' dtype, norms and biases in fp32 */
    size_t mat = (size_t)m->qkv_dim * m->d + (size_t)m->d * m->q_dim + (size_t)3 * m->inter * m->d;
    size_t vec = 2 * (size_t)m->d;
    if (c->attention_bias) vec += (size_t)m->qkv_dim;
    if (c->o_proj_bias) vec += (size_t)m->d;
    if (c->mlp_bias) vec += (size_t)2 * m->inter + m->d;
    mat = mat * (size_t)c->n_layers + (size_t)m->vocab * m->d;
    if (!c->tie_word_embeddings) mat += (size_t)m->vocab * m->d;
    vec = vec * (size_t)c->n_layers + m->d;
    return mat * lr_dtype_size(m->wdtype) + vec * sizeof(float);
}
