/* Loading a Hugging Face Qwen2 / Llama checkpoint into the runtime's
 * weights (model_internal.h).
 *
 * Every tensor is checked for presence and exact shape. Projection and
 * embedding matrices keep their dtype when every one of them is bf16 on
 * disk (the usual release format) and the caller did not ask for fp32
 * (lr_model_opts.weights_f32, the trainer): the kernels widen bf16 -> fp32
 * exactly inside the GEMM, so results are bit-identical to widening at
 * load, with half the memory and half the bytes per decode step (a 7B
 * model fits in 16 GB instead of 30). Everything else (f16, f32, f64 on
 * disk, norms, biases) is fp32 in memory.
 *
 * q/k/v rows are fused into one (q_dim + 2*kv_dim, d) matrix and gate/up
 * into one (2*I, d) matrix so that each sub-block needs one big GEMM.
 * Mapped file pages are dropped after each tensor is converted so that a
 * 16-bit checkpoint's mapping does not add to the peak resident size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "io/safetensors.h"
#include "model/model_internal.h"

typedef struct {
    lr_model *m;
    st_set st;
    float *host_tmp; /* conversion buffer for device backends */
    size_t host_cap;
    int check_only;  /* pass 1: presence and shapes only, nothing allocated */
    int all_bf16;    /* pass 1: every matrix seen so far is bf16 on disk */
    lr_dtype wdt;    /* pass 2: dtype of the matrices in memory */
    long n_bad_tensors; /* tensors holding NaN/Inf (warned once each) */
} loader;

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static void drop_pages(const st_tensor *t) {
    const long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)t->data + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    uintptr_t b = ((uintptr_t)t->data + t->nbytes) & ~((uintptr_t)pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* NaN and infinity counts of a converted fp32 tensor (one fast pass). */
static void count_nonfinite(const float *x, size_t n, size_t *n_nan, size_t *n_inf) {
    size_t a = 0, b = 0;
#pragma omp parallel for if (n > (1 << 20)) schedule(static) reduction(+ : a, b)
    for (size_t i = 0; i < n; i++) {
        a += isnan(x[i]) != 0;
        b += isinf(x[i]) != 0;
    }
    *n_nan = a, *n_inf = b;
}

/* NaN and infinity counts of raw bf16 values (exponent all ones). */
static void count_nonfinite_bf16(const uint16_t *x, size_t n, size_t *n_nan, size_t *n_inf) {
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        const int special = (x[i] & 0x7f80u) == 0x7f80u;
        a += special && (x[i] & 0x7fu);
        b += special && !(x[i] & 0x7fu);
    }
    *n_nan = a, *n_inf = b;
}

static void note_nonfinite(loader *L, const st_tensor *t, const char *name, size_t n_nan, size_t n_inf) {
    if (!n_nan && !n_inf) return;
    /* warned, not refused: sampling and generation record and stop on
     * non-finite logits (docs/model.md); `tensors` lists every count */
    L->n_bad_tensors++;
    L->m->n_nonfinite_weights += n_nan + n_inf;
    lr_warn("%s: tensor '%s' holds %zu NaN and %zu Inf of %zu values (broken weights: outputs will not be finite)",
            L->st.paths[t->file_index], name, n_nan, n_inf, (size_t)t->numel);
}

static int load_into(loader *L, const char *name, int64_t rows, int64_t cols, float *dst);

/* A projection/embedding matrix [rows, cols] into w at element offset
 * `off` (row blocks of the fused qkv / gate-up matrices). In pass 1 it
 * checks the shape and notes whether the tensor is bf16 on disk. */
static int load_matrix(loader *L, const char *name, int64_t rows, int64_t cols, lr_weight w, size_t off) {
    if (L->check_only || L->wdt == LR_F32) {
        if (L->check_only) {
            const st_tensor *t = st_find(&L->st, name);
            if (t && t->dtype != ST_BF16) L->all_bf16 = 0;
        }
        return load_into(L, name, rows, cols, L->check_only ? NULL : (float *)w.data + off);
    }
    const st_tensor *t = st_find(&L->st, name); /* present, bf16 and of this shape: checked in pass 1 */
    LR_CHECK(t && t->dtype == ST_BF16, "tensor %s changed between the passes", name);
    const size_t n = (size_t)t->numel;
    uint16_t *dst = (uint16_t *)w.data + off; /* (rows, cols) */
    size_t n_nan, n_inf;
    count_nonfinite_bf16((const uint16_t *)t->data, n, &n_nan, &n_inf);
    note_nonfinite(L, t, name, n_nan, n_inf);
    L->m->be->upload(L->m->be, dst, t->data, n * sizeof(uint16_t));
    drop_pages(t);
    return 0;
}

/* Converts tensor `name` of shape [rows, cols] (cols = 0: 1-D [rows]) into
 * dst (backend memory, rows*max(cols,1) floats). In the check-only pass
 * (dst NULL) it only verifies presence and shape. */
static int load_into(loader *L, const char *name, int64_t rows, int64_t cols, float *dst) {
    const st_tensor *t = st_find(&L->st, name);
    if (!t) {
        lr_error_set(L->m->dir, "missing tensor '%s'", name);
        return -1;
    }
    const int ndim = cols ? 2 : 1;
    const int64_t want[2] = {rows, cols};
    int same = t->ndim == ndim && t->shape[0] == rows && (ndim == 1 || t->shape[1] == cols);
    if (!same) {
        char got[128], want_s[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want_s, sizeof want_s, ndim, want);
        lr_error_set(L->st.paths[t->file_index], "tensor '%s' has shape %s, expected %s", name, got, want_s);
        return -1;
    }
    if (L->check_only) return 0;
    const size_t n = (size_t)t->numel;
    lr_backend *be = L->m->be;
    float *conv = dst;
    if (!be->host_memory) {
        if (n > L->host_cap) {
            free(L->host_tmp);
            L->host_tmp = xmalloc(n * sizeof(float));
            L->host_cap = n;
        }
        conv = L->host_tmp;
    }
    if (st_to_f32(t, conv) != 0) {
        lr_error_set(L->st.paths[t->file_index], "tensor '%s' has dtype %s, not a floating-point type", name,
                     st_dtype_name(t->dtype));
        return -1;
    }
    size_t n_nan, n_inf;
    count_nonfinite(conv, n, &n_nan, &n_inf);
    note_nonfinite(L, t, name, n_nan, n_inf);
    if (!be->host_memory) be->upload(be, dst, conv, n * sizeof(float));
    drop_pages(t);
    return 0;
}

static float *alloc_f32(const loader *L, size_t n) {
    return L->check_only ? NULL : L->m->be->alloc(L->m->be, n * sizeof(float));
}

static lr_weight alloc_w(const loader *L, size_t n) {
    lr_weight w = {NULL, L->wdt};
    if (!L->check_only) w.data = L->m->be->alloc(L->m->be, n * lr_dtype_size(L->wdt));
    return w;
}

static int load_layer(loader *L, int i, lr_layer *ly) {
    lr_model *m = L->m;
    const lr_model_config *c = &m->cfg;
    const int d = m->d, I = m->inter;
    char nm[160];
#define NAME(fmt) (snprintf(nm, sizeof nm, "model.layers.%d." fmt, i), nm)
    ly->attn_norm = alloc_f32(L, (size_t)d);
    ly->mlp_norm = alloc_f32(L, (size_t)d);
    ly->wqkv = alloc_w(L, (size_t)m->qkv_dim * d);
    ly->wo = alloc_w(L, (size_t)d * m->q_dim);
    ly->wgu = alloc_w(L, (size_t)2 * I * d);
    ly->wdown = alloc_w(L, (size_t)d * I);
    if (load_into(L, NAME("input_layernorm.weight"), d, 0, ly->attn_norm) ||
        load_into(L, NAME("post_attention_layernorm.weight"), d, 0, ly->mlp_norm) ||
        load_matrix(L, NAME("self_attn.q_proj.weight"), m->q_dim, d, ly->wqkv, 0) ||
        load_matrix(L, NAME("self_attn.k_proj.weight"), m->kv_dim, d, ly->wqkv, (size_t)m->q_dim * d) ||
        load_matrix(L, NAME("self_attn.v_proj.weight"), m->kv_dim, d, ly->wqkv, (size_t)(m->q_dim + m->kv_dim) * d) ||
        load_matrix(L, NAME("self_attn.o_proj.weight"), d, m->q_dim, ly->wo, 0) ||
        load_matrix(L, NAME("mlp.gate_proj.weight"), I, d, ly->wgu, 0) ||
        load_matrix(L, NAME("mlp.up_proj.weight"), I, d, ly->wgu, (size_t)I * d) ||
        load_matrix(L, NAME("mlp.down_proj.weight"), d, I, ly->wdown, 0))
        return -1;
    if (c->attention_bias) {
        ly->bqkv = alloc_f32(L, (size_t)m->qkv_dim);
        if (load_into(L, NAME("self_attn.q_proj.bias"), m->q_dim, 0, ly->bqkv) ||
            load_into(L, NAME("self_attn.k_proj.bias"), m->kv_dim, 0, ly->bqkv + m->q_dim) ||
            load_into(L, NAME("self_attn.v_proj.bias"), m->kv_dim, 0, ly->bqkv + m->q_dim + m->kv_dim))
            return -1;
    }
    if (c->o_proj_bias) {
        ly->bo = alloc_f32(L, (size_t)d);
        if (load_into(L, NAME("self_attn.o_proj.bias"), d, 0, ly->bo)) return -1;
    }
    if (c->mlp_bias) {
        ly->bgu = alloc_f32(L, (size_t)2 * I);
        ly->bdown = alloc_f32(L, (size_t)d);
        if (load_into(L, NAME("mlp.gate_proj.bias"), I, 0, ly->bgu) ||
            load_into(L, NAME("mlp.up_proj.bias"), I, 0, ly->bgu + I) ||
            load_into(L, NAME("mlp.down_proj.bias"), d, 0, ly->bdown))
            return -1;
    }
#undef NAME
    return 0;
}

/* Both passes walk the same tensors: pass 1 (check_only) checks every name
 * and shape against config.json before anything sized from the config is
 * allocated, so a config that lies (vocab_size 2^30, 10^9 layers) is an
 * input error naming the tensor, not an out-of-memory failure. */
static int load_all(loader *L) {
    lr_model *m = L->m;
    const int d = m->d, V = m->vocab;
    lr_layer scratch_layer;
    m->embed = alloc_w(L, (size_t)V * d);
    m->final_norm = alloc_f32(L, (size_t)d);
    if (load_matrix(L, "model.embed_tokens.weight", V, d, m->embed, 0) ||
        load_into(L, "model.norm.weight", d, 0, m->final_norm))
        return -1;
    if (m->cfg.tie_word_embeddings) {
        m->lm_head = m->embed; /* HF ties even when the file also carries lm_head.weight */
    } else {
        m->lm_head = alloc_w(L, (size_t)V * d);
        if (load_matrix(L, "lm_head.weight", V, d, m->lm_head, 0)) return -1;
    }
    for (int i = 0; i < m->cfg.n_layers; i++) {
        memset(&scratch_layer, 0, sizeof scratch_layer);
        if (load_layer(L, i, L->check_only ? &scratch_layer : &m->layers[i]) != 0) return -1;
    }
    return 0;
}

int model_load_weights(lr_model *m) {
    loader L = {.m = m, .check_only = 1, .all_bf16 = 1, .wdt = LR_F32};
    if (st_open_dir(&L.st, m->dir) != 0) return -1;
    int rc = -1;
    if (load_all(&L) != 0) goto out;
    L.check_only = 0;
    L.wdt = m->wdtype = L.all_bf16 && !m->weights_f32 ? LR_BF16 : LR_F32;
    m->layers = xcalloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (load_all(&L) != 0) goto out;
    rc = 0;
out:
    free(L.host_tmp);
    st_close(&L.st);
    return rc;
}

void model_free_weights(lr_model *m) {
    lr_backend *be = m->be;
    if (m->layers) {
        for (int i = 0; i < m->cfg.n_layers; i++) {
            lr_layer *ly = &m->layers[i];
            const void *ps[] = {ly->attn_norm, ly->wqkv.data, ly->bqkv, ly->wo.data, ly->bo,
                                ly->mlp_norm, ly->wgu.data, ly->bgu, ly->wdown.data, ly->bdown};
            for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++)
                if (ps[j]) be->free(be, (void *)ps[j]);
        }
        free(m->layers);
        m->layers = NULL;
    }
    if (m->lm_head.data && m->lm_head.data != m->embed.data) be->free(be, (void *)m->lm_head.data);
    if (m->embed.data) be->free(be, (void *)m->embed.data);
    if (m->final_norm) be->free(be, m->final_norm);
    m->lm_head.data = m->embed.data = NULL;
    m->final_norm = NULL;
}

float *model_weight_f32(lr_model *m, lr_weight *w, size_t numel) {
    if (w->dtype == LR_F32) return (float *)w->data;
    lr_backend *be = m->be;
    float *f = be->alloc(be, numel * sizeof(float)); /* (numel) backend memory */
    /* widened on the host: a device backend's bf16 copied down and the fp32 up */
    const uint16_t *b = w->data;
    uint16_t *hb = NULL;
    float *hf = f;
    if (!be->host_memory) {
        hb = xmalloc(numel * sizeof *hb);
        be->download(be, hb, w->data, numel * sizeof *hb);
        b = hb;
        hf = xmalloc(numel * sizeof *hf);
    }
    for (size_t i = 0; i < numel; i++) {
        const uint32_t u = (uint32_t)b[i] << 16;
        memcpy(hf + i, &u, 4);
    }
    if (!be->host_memory) {
        be->upload(be, f, hf, numel * sizeof *hf);
        free(hb);
        free(hf);
    }
    /* a tied lm_head shares the embedding's buffer: widen both views */
    const int tied = m->lm_head.data == m->embed.data;
    if (w == &m->embed && tied) m->lm_head = lr_weight_f32(f);
    if (w == &m->lm_head && tied) m->embed = lr_weight_f32(f);
    be->free(be, (void *)w->data);
    *w = lr_weight_f32(f);
    return f;
}
