/* Training forward / backward of the decoder with LoRA (train_net.h).
 *
 * Layer l, T packed tokens (d model width, I intermediate):
 *   h1  = rmsnorm(x)                         x (T, d) = layer input   [saved]
 *   qkv = h1 Wqkvᵀ + b + LoRA_{q,k,v}(h1);   rope(q, k)               [saved]
 *   att = attention(q, k, v)                                          [saved]
 *   xm  = x + att Woᵀ + LoRA_o(att)                                   [saved]
 *   h2  = rmsnorm(xm)
 *   gu  = h2 Wguᵀ + b + LoRA_{gate,up}(h2)                            [saved]
 *   x'  = xm + swiglu(gu) Wdownᵀ + LoRA_down(swiglu(gu))
 * h1, h2 and swiglu(gu) are recomputed in the backward (one cheap pass
 * each) instead of stored. Each LoRA keeps u = s · dropout(in) Aᵀ (T, r);
 * dropout masks are regenerated from their counter-based keys.
 * The backward is the same list in reverse; the frozen weights get no
 * gradients, only activations flow through them (dX = dY W). Below the
 * lowest adapted layer nothing is needed, so the backward stops there.
 *
 * Every op is a backend op (model/backend.h) and every float buffer below
 * (activations, the adapter's copy, its gradient) is backend memory; only
 * the integer metadata (positions, rows, offsets, dropout keys) and the
 * losses are host arrays, as the backend contract has it. */
#include "trainer/train_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "model/backend.h"
#include "trainer/rng.h"

static const char *const weights_names[] = {"f32", "bf16", "bf16-round"};

int tr_weights_from_env(tr_weights *w) {
    const char *v = getenv("LR_TRAIN_WEIGHTS");
    *w = TR_WEIGHTS_F32;
    if (!v || !*v) return 0;
    for (int i = 0; i < 3; i++)
        if (!strcmp(v, weights_names[i])) {
            *w = (tr_weights)i;
            return 0;
        }
    lr_error_set("LR_TRAIN_WEIGHTS", "'%s' is not f32, bf16 or bf16-round", v);
    return -1;
}

const char *tr_weights_name(tr_weights w) { return weights_names[w]; }

tr_weights tr_weights_apply(lr_model *m, tr_weights w, int warn) {
    if (w != TR_WEIGHTS_F32 && model_weight_dtype(m) != LR_BF16) {
        if (warn)
            lr_warn("LR_TRAIN_WEIGHTS=%s: the checkpoint's weights are not all bf16, so they load as fp32 and train "
                    "as f32",
                    weights_names[w]);
        w = TR_WEIGHTS_F32;
    }
    lr_backend *be = model_backend(m);
    be->bf16_split = w == TR_WEIGHTS_BF16;
    be->bf16_weights_only = w != TR_WEIGHTS_F32;
    return w;
}

typedef struct {
    float *x;                  /* (T, d) layer input */
    float *qkv;                /* (T, qkv_dim) q, k after RoPE; v */
    float *att;                /* (T, q_dim) attention output */
    float *xm;                 /* (T, d) residual after attention */
    float *gu;                 /* (T, 2I) gate | up pre-activations */
    float *u[LORA_N_MODULES];  /* (T, r) s · dropout(in) Aᵀ of each adapted module */
} layer_acts;

struct tr_net {
    lr_decoder_view m; /* the frozen decoder (model.h) */
    lr_backend *be;    /* every op and every float buffer below */
    lr_lora *a;
    float *w;          /* (n_params) backend copy of a->w */
    float *gw;         /* (n_params) backend gradient buffer */
    int recompute;
    int lowest;        /* lowest layer with an adapter: the backward stops there */
    int cap, seq_cap;  /* tokens / sequences the buffers hold */
    layer_acts *acts;  /* (n_layers + 1): acts[L].x is the last layer's output */
    layer_acts shared; /* recompute: the one set of per-layer buffers besides x */
    /* scratch (T rows unless noted) */
    float *h;          /* (T, d) normed input of a sub-block */
    float *act;        /* (T, I) swiglu output */
    float *xdrop;      /* (T, max_in) dropped-out LoRA input */
    float *g;          /* (T, d) gradient of the residual stream */
    float *dh;         /* (T, d) */
    float *dact;       /* (T, I) */
    float *dgu;        /* (T, 2I) */
    float *datt;       /* (T, q_dim) */
    float *dqkv;       /* (T, qkv_dim) */
    float *du;         /* (T, r) */
    float *ltmp;       /* (T, max_in) LoRA input gradient before dropout */
    float *xtmp;       /* (T, d) recomputed layer output (discarded) */
    float *sel_x;      /* (n_seq, d) last rows of the final residual */
    float *sel;        /* (n_seq, d) after the final norm */
    float *dsel;       /* (n_seq, d) */
    float *z;          /* (n_seq, V) logits at the last positions */
    float *dz;         /* (n_seq, V) */
    /* host metadata */
    int32_t *pos;      /* (T) positions */
    int *rows;         /* (n_seq) last row of each sequence */
    int *q_off;        /* (n_seq + 1) */
    int *n_past;       /* (n_seq) zeros */
    int64_t *kv_row;   /* (n_seq) */
    uint64_t *row_key; /* (T) dropout key of each row: (step, sample, position) */
    uint64_t *mod_key; /* (T) row key for one (layer, module) */
    double *loss;      /* (n_seq) */
    float *logits;     /* (logits_cap, V) backend: tr_net_logits' rows before the copy out */
    int logits_cap;
    lr_attn_batch ab;  /* the micro-batch's sequences, for attention */
    int max_in;
    int training;      /* dropout on for this pass */
    float p;           /* dropout probability */
};

tr_net *tr_net_new(lr_model *model, lr_lora *a, int recompute) {
    lr_decoder_view v;
    model_decoder_view(model, &v);
    lr_backend *be = v.be;
    if (!(be->gemm && be->matmul_dx && be->rmsnorm_backward && be->rope_backward && be->swiglu_backward && be->attention_backward &&
          be->dropout && be->kl_loss && be->copy_cols && be->add_cols && be->scale && be->scatter_rows && be->zero))
        lr_die_input("train", "the %s backend cannot train (it has no training ops); train on the CPU", be->name);
    LR_CHECK(a->n_layers == v.n_layers, "adapter has %d layers, model %d", a->n_layers, v.n_layers);
    tr_net *n = xcalloc(1, sizeof *n);
    n->m = v;
    n->be = be;
    n->a = a;
    n->w = be->alloc(be, (a->n_params ? a->n_params : 1) * sizeof(float));
    n->gw = be->alloc(be, (a->n_params ? a->n_params : 1) * sizeof(float));
    n->recompute = recompute;
    n->acts = xcalloc((size_t)v.n_layers + 1, sizeof *n->acts);
    n->lowest = v.n_layers;
    for (int s = 0; s < a->n_slots; s++) {
        if (a->slots[s].layer < n->lowest) n->lowest = a->slots[s].layer;
        if (a->slots[s].in > n->max_in) n->max_in = a->slots[s].in;
    }
    n->p = (float)a->cfg.dropout;
    return n;
}

static void bfree(tr_net *n, float *p) {
    if (p) n->be->free(n->be, p);
}

static void free_set(tr_net *n, layer_acts *s) {
    bfree(n, s->x), bfree(n, s->qkv), bfree(n, s->att), bfree(n, s->xm), bfree(n, s->gu);
    for (int k = 0; k < LORA_N_MODULES; k++) bfree(n, s->u[k]);
    memset(s, 0, sizeof *s);
}

static void free_buffers(tr_net *n) {
    const int L = n->m.n_layers;
    for (int l = 0; l <= L; l++) {
        if (n->recompute) bfree(n, n->acts[l].x), n->acts[l].x = NULL;
        else free_set(n, &n->acts[l]);
    }
    free_set(n, &n->shared);
    float *f[] = {n->h, n->act, n->xdrop, n->g, n->dh, n->dact, n->dgu, n->datt, n->dqkv, n->du, n->ltmp, n->xtmp};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) bfree(n, f[i]);
    free(n->pos), free(n->row_key), free(n->mod_key);
    n->h = n->act = n->xdrop = n->g = n->dh = n->dact = n->dgu = n->datt = n->dqkv = n->du = n->ltmp = n->xtmp = NULL;
    n->pos = NULL;
    n->row_key = n->mod_key = NULL;
    n->cap = 0;
}

static void free_seq_buffers(tr_net *n) {
    bfree(n, n->sel_x), bfree(n, n->sel), bfree(n, n->dsel), bfree(n, n->z), bfree(n, n->dz);
    free(n->rows), free(n->q_off), free(n->n_past), free(n->kv_row), free(n->loss);
    n->sel_x = n->sel = n->dsel = n->z = n->dz = NULL;
    n->rows = n->q_off = n->n_past = NULL;
    n->kv_row = NULL;
    n->loss = NULL;
    n->seq_cap = 0;
}

void tr_net_free(tr_net *n) {
    if (!n) return;
    free_buffers(n);
    free_seq_buffers(n);
    bfree(n, n->w), bfree(n, n->gw), bfree(n, n->logits);
    free(n->acts);
    free(n);
}

/* n floats of zero-filled backend memory */
static float *fzalloc(tr_net *n, size_t nf) { return n->be->alloc(n->be, (nf ? nf : 1) * sizeof(float)); }

static void alloc_set(tr_net *n, layer_acts *s, int T, int with_x) {
    const lr_decoder_view *m = &n->m;
    if (with_x) s->x = fzalloc(n, (size_t)T * m->d);
    s->qkv = fzalloc(n, (size_t)T * m->qkv_dim);
    s->att = fzalloc(n, (size_t)T * m->q_dim);
    s->xm = fzalloc(n, (size_t)T * m->d);
    s->gu = fzalloc(n, (size_t)T * 2 * m->inter);
    for (int k = 0; k < LORA_N_MODULES; k++)
        if (n->a->cfg.targets & (1u << k)) s->u[k] = fzalloc(n, (size_t)T * n->a->cfg.r);
}

size_t tr_net_activation_floats(const tr_net *n, int T) {
    const lr_decoder_view *m = &n->m;
    int n_mod = 0;
    for (int k = 0; k < LORA_N_MODULES; k++) n_mod += (n->a->cfg.targets >> k) & 1;
    const size_t set = (size_t)m->qkv_dim + m->q_dim + m->d + 2 * (size_t)m->inter + (size_t)n_mod * n->a->cfg.r;
    const size_t L = (size_t)m->n_layers;
    const size_t saved = n->recompute ? (L + 1) * m->d + set : (L + 1) * m->d + L * set;
    const size_t scratch = (size_t)4 * m->d + 2 * (size_t)m->inter + 2 * (size_t)m->inter + m->q_dim + m->qkv_dim +
                           n->a->cfg.r + 2 * (size_t)n->max_in;
    return (size_t)T * (saved + scratch);
}

static void reserve(tr_net *n, int T, int n_seq) {
    const lr_decoder_view *m = &n->m;
    const int L = m->n_layers;
    if (T > n->cap) {
        free_buffers(n);
        for (int l = 0; l <= L; l++) {
            if (n->recompute || l == L) n->acts[l].x = fzalloc(n, (size_t)T * m->d);
            else alloc_set(n, &n->acts[l], T, 1);
        }
        if (n->recompute) alloc_set(n, &n->shared, T, 0);
        n->h = fzalloc(n, (size_t)T * m->d);
        n->act = fzalloc(n, (size_t)T * m->inter);
        n->xdrop = fzalloc(n, (size_t)T * n->max_in);
        n->g = fzalloc(n, (size_t)T * m->d);
        n->dh = fzalloc(n, (size_t)T * m->d);
        n->dact = fzalloc(n, (size_t)T * m->inter);
        n->dgu = fzalloc(n, (size_t)T * 2 * m->inter);
        n->datt = fzalloc(n, (size_t)T * m->q_dim);
        n->dqkv = fzalloc(n, (size_t)T * m->qkv_dim);
        n->du = fzalloc(n, (size_t)T * n->a->cfg.r);
        n->ltmp = fzalloc(n, (size_t)T * n->max_in);
        n->xtmp = fzalloc(n, (size_t)T * m->d);
        n->pos = xmalloc((size_t)T * sizeof *n->pos);
        n->row_key = xmalloc((size_t)T * sizeof *n->row_key);
        n->mod_key = xmalloc((size_t)T * sizeof *n->mod_key);
        n->cap = T;
    }
    if (n_seq > n->seq_cap) {
        free_seq_buffers(n);
        n->sel_x = fzalloc(n, (size_t)n_seq * m->d);
        n->sel = fzalloc(n, (size_t)n_seq * m->d);
        n->dsel = fzalloc(n, (size_t)n_seq * m->d);
        n->z = fzalloc(n, (size_t)n_seq * m->vocab);
        n->dz = fzalloc(n, (size_t)n_seq * m->vocab);
        n->rows = xmalloc((size_t)n_seq * sizeof *n->rows);
        n->q_off = xmalloc((size_t)(n_seq + 1) * sizeof *n->q_off);
        n->n_past = xcalloc((size_t)n_seq, sizeof *n->n_past);
        n->kv_row = xmalloc((size_t)n_seq * sizeof *n->kv_row);
        n->loss = xmalloc((size_t)n_seq * sizeof *n->loss);
        n->seq_cap = n_seq;
    }
}

/* Checks the batch and fills positions, offsets, rows and dropout keys. */
static int prepare(tr_net *n, const tr_batch *b, uint64_t dropout_key, int check_labels, int *T_out) {
    const lr_decoder_view *m = &n->m;
    long T = 0;
    if (b->n_seq < 1) {
        lr_error_set("train", "empty micro-batch");
        return -1;
    }
    for (int s = 0; s < b->n_seq; s++) {
        if (b->lens[s] < 1 || b->lens[s] > m->max_len) {
            lr_error_set("train", "sequence %d has %d tokens (must be in [1, %d])", s, b->lens[s], m->max_len);
            return -1;
        }
        T += b->lens[s];
    }
    if (T > (1L << 30)) {
        lr_error_set("train", "micro-batch of %ld tokens is too large", T);
        return -1;
    }
    for (long i = 0; i < T; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= m->vocab) {
            lr_error_set("train", "token id %d outside the vocabulary [0, %d)", (int)b->tokens[i], m->vocab);
            return -1;
        }
    const int nl = tr_batch_n_loss(b);
    if (b->loss_pos) {
        if (nl < 1 || !b->loss_seq) {
            lr_error_set("train", "a packed micro-batch needs >= 1 loss position");
            return -1;
        }
        for (int j = 0; j < nl; j++)
            if (b->loss_seq[j] < 0 || b->loss_seq[j] >= b->n_seq || b->loss_pos[j] < 0 ||
                b->loss_pos[j] >= b->lens[b->loss_seq[j]] || (j && b->loss_seq[j] == b->loss_seq[j - 1] &&
                                                              b->loss_pos[j] <= b->loss_pos[j - 1])) {
                lr_error_set("train", "loss position %d (sequence %d, token %d) is outside its sequence or out of order",
                             j, b->loss_seq[j], b->loss_pos[j]);
                return -1;
            }
    }
    if (check_labels)
        for (int s = 0; s < nl; s++)
            for (int64_t k = b->lab_off[s]; k < b->lab_off[s + 1]; k++)
                if (b->lab_ids[k] < 0 || b->lab_ids[k] >= m->vocab || !(b->lab_w[k] >= 0.0f) || !isfinite(b->lab_w[k])) {
                    lr_error_set("train", "label entry %lld (id %d, weight %g) is outside the vocabulary or not a "
                                          "finite non-negative weight", (long long)k, (int)b->lab_ids[k],
                                 (double)b->lab_w[k]);
                    return -1;
                }
    reserve(n, (int)T, b->n_seq > nl ? b->n_seq : nl);
    n->q_off[0] = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int o = n->q_off[s], len = b->lens[s];
        n->q_off[s + 1] = o + len;
        n->kv_row[s] = o;
        if (!b->loss_pos) n->rows[s] = o + len - 1;
        const uint64_t sk = rng_key(dropout_key, (uint64_t)(b->key ? b->key[s] : s));
        for (int p = 0; p < len; p++) {
            n->pos[o + p] = p;
            n->row_key[o + p] = rng_key(sk, (uint64_t)p);
        }
    }
    if (b->loss_pos)
        for (int j = 0; j < nl; j++) n->rows[j] = n->q_off[b->loss_seq[j]] + b->loss_pos[j];
    n->ab = (lr_attn_batch){.n_seq = b->n_seq, .q_off = n->q_off, .n_past = n->n_past, .kv_row = n->kv_row};
    *T_out = (int)T;
    return 0;
}

static layer_acts *acts_of(tr_net *n, int l) { return n->recompute ? &n->shared : &n->acts[l]; }

/* Dropout keys of every row for (layer, module) into n->mod_key. */
static const uint64_t *module_keys(tr_net *n, int layer, int module, int T) {
    const uint64_t lm = (uint64_t)layer * LORA_N_MODULES + (uint64_t)module;
    for (int r = 0; r < T; r++) n->mod_key[r] = rng_key(n->row_key[r], lm);
    return n->mod_key;
}

/* LoRA forward of one module: u (T, r) = s · dropout(x) Aᵀ;
 * y (T, ldy)[:, :out] += u Bᵀ.  x (T, in). */
static void lora_forward(tr_net *n, const lora_slot *sl, const float *x, float *u, float *y, int ldy, int T) {
    lr_backend *be = n->be;
    const int r = n->a->cfg.r;
    const float *A = n->w + sl->a; /* (r, in) */
    const float *B = n->w + sl->b; /* (out, r) */
    const float *xd = x;           /* (T, in) */
    if (n->training && n->p > 0.0f) {
        be->dropout(be, x, sl->in, n->xdrop, sl->in, T, sl->in, module_keys(n, sl->layer, sl->module, T), n->p);
        xd = n->xdrop;
    }
    be->matmul(be, xd, sl->in, lr_weight_f32(A), NULL, u, r, T, r, sl->in, 0);
    be->scale(be, u, (size_t)T * r, n->a->scale);
    be->matmul(be, u, r, lr_weight_f32(B), NULL, y, ldy, T, sl->out, r, 1);
}

/* LoRA backward of one module, given dy (T, ldy)[:, :out] and the forward's
 * x (T, in) and u (T, r): gA (r, in) += duᵀ dropout(x), gB (out, r) += dyᵀ u
 * with du = s · dy B; dx (T, in) += dropout'(du A) when dx != NULL. */
static void lora_backward(tr_net *n, const lora_slot *sl, const float *x, const float *u, const float *dy, int ldy,
                          float *dx, int T) {
    lr_backend *be = n->be;
    const int r = n->a->cfg.r, in = sl->in, out = sl->out;
    const float *A = n->w + sl->a; /* (r, in) */
    const float *B = n->w + sl->b; /* (out, r) */
    float *gA = n->gw + sl->a, *gB = n->gw + sl->b;
    const int drop = n->training && n->p > 0.0f;
    const uint64_t *keys = drop ? module_keys(n, sl->layer, sl->module, T) : NULL;
    const float *xd = x; /* (T, in) */
    if (drop) {
        be->dropout(be, x, in, n->xdrop, in, T, in, keys, n->p);
        xd = n->xdrop;
    }
    be->gemm(be, 1, 0, out, r, T, 1.0f, dy, ldy, u, r, 1.0f, gB, r);            /* gB += dyᵀ u */
    be->gemm(be, 0, 0, T, r, out, n->a->scale, dy, ldy, B, r, 0.0f, n->du, r);  /* du = s · dy B */
    be->gemm(be, 1, 0, r, in, T, 1.0f, n->du, r, xd, in, 1.0f, gA, in);         /* gA += duᵀ xd */
    if (!dx) return;
    if (!drop) {
        be->gemm(be, 0, 0, T, in, r, 1.0f, n->du, r, A, in, 1.0f, dx, in);      /* dx += du A */
        return;
    }
    be->gemm(be, 0, 0, T, in, r, 1.0f, n->du, r, A, in, 0.0f, n->ltmp, in);     /* ltmp = du A */
    be->dropout(be, n->ltmp, in, n->ltmp, in, T, in, keys, n->p);
    be->add_cols(be, dx, in, n->ltmp, in, T, in);
}

/* Column offset of a module's output in its fused activation, and that
 * activation's row length. */
static void out_place(const lr_decoder_view *m, int module, int *off, int *ld) {
    switch (module) {
    case LORA_Q: *off = 0, *ld = m->qkv_dim; return;
    case LORA_K: *off = m->q_dim, *ld = m->qkv_dim; return;
    case LORA_V: *off = m->q_dim + m->kv_dim, *ld = m->qkv_dim; return;
    case LORA_GATE: *off = 0, *ld = 2 * m->inter; return;
    case LORA_UP: *off = m->inter, *ld = 2 * m->inter; return;
    default: *off = 0, *ld = m->d; return; /* o, down: into the residual stream */
    }
}

static void layer_forward(tr_net *n, int l, int T, const float *x, layer_acts *a, float *x_out) {
    const lr_decoder_view *m = &n->m;
    lr_backend *be = n->be;
    const lr_layer *ly = &m->layers[l];
    const int d = m->d, I = m->inter;
    const float eps = m->eps;
    int off, ld;

    be->rmsnorm(be, x, ly->attn_norm, n->h, T, d, eps);                                  /* h (T, d) */
    be->matmul(be, n->h, d, ly->wqkv, ly->bqkv, a->qkv, m->qkv_dim, T, m->qkv_dim, d, 0); /* qkv (T, qkv_dim) */
    for (int k = LORA_Q; k <= LORA_V; k++) {
        const lora_slot *sl = lora_slot_at(n->a, l, k);
        if (!sl) continue;
        out_place(m, k, &off, &ld);
        lora_forward(n, sl, n->h, a->u[k], a->qkv + off, ld, T);
    }
    be->rope(be, a->qkv, m->qkv_dim, T, m->n_heads + m->n_kv_heads, m->head_dim, n->pos, m->inv_freq);
    be->attention(be, a->qkv, m->qkv_dim, a->qkv + m->q_dim, a->qkv + m->q_dim + m->kv_dim, m->qkv_dim, a->att,
                  m->n_heads, m->n_kv_heads, m->head_dim, m->attn_scale, &n->ab); /* att (T, q_dim) */
    be->copy_cols(be, a->xm, d, x, d, T, d);
    be->matmul(be, a->att, m->q_dim, ly->wo, ly->bo, a->xm, d, T, d, m->q_dim, 1); /* xm = x + o_proj(att) */
    const lora_slot *so = lora_slot_at(n->a, l, LORA_O);
    if (so) lora_forward(n, so, a->att, a->u[LORA_O], a->xm, d, T);
    be->rmsnorm(be, a->xm, ly->mlp_norm, n->h, T, d, eps);                       /* h (T, d) */
    be->matmul(be, n->h, d, ly->wgu, ly->bgu, a->gu, 2 * I, T, 2 * I, d, 0);     /* gu (T, 2I) */
    for (int k = LORA_GATE; k <= LORA_UP; k++) {
        const lora_slot *sl = lora_slot_at(n->a, l, k);
        if (!sl) continue;
        out_place(m, k, &off, &ld);
        lora_forward(n, sl, n->h, a->u[k], a->gu + off, ld, T);
    }
    be->swiglu(be, a->gu, n->act, T, I);                                          /* act (T, I) */
    be->copy_cols(be, x_out, d, a->xm, d, T, d);
    be->matmul(be, n->act, I, ly->wdown, ly->bdown, x_out, d, T, d, I, 1);        /* x' = xm + down(act) */
    const lora_slot *sd = lora_slot_at(n->a, l, LORA_DOWN);
    if (sd) lora_forward(n, sd, n->act, a->u[LORA_DOWN], x_out, d, T);
}

/* Backward of layer l: n->g (T, d) holds ∂/∂(layer output) and becomes
 * ∂/∂(layer input) when need_dx (else it is left undefined). LoRA
 * gradients accumulate into n->gw. */
static void layer_backward(tr_net *n, int l, int T, int need_dx) {
    const lr_decoder_view *m = &n->m;
    lr_backend *be = n->be;
    const lr_layer *ly = &m->layers[l];
    const int d = m->d, I = m->inter;
    const float eps = m->eps;
    layer_acts *a = acts_of(n, l);
    const float *x = n->acts[l].x; /* (T, d) layer input */
    if (n->recompute) layer_forward(n, l, T, x, a, n->xtmp);
    int off, ld;

    /* ---- MLP: x' = xm + down(swiglu(gu)) */
    be->matmul_dx(be, n->g, ly->wdown, n->dact, T, d, I);                                     /* dact (T, I) = g Wdown */
    const lora_slot *sd = lora_slot_at(n->a, l, LORA_DOWN);
    if (sd) {
        be->swiglu(be, a->gu, n->act, T, I); /* act (T, I), recomputed: the down LoRA's input */
        lora_backward(n, sd, n->act, a->u[LORA_DOWN], n->g, d, n->dact, T);
    }
    be->swiglu_backward(be, a->gu, n->dact, n->dgu, T, I);                                     /* dgu (T, 2I) */
    be->matmul_dx(be, n->dgu, ly->wgu, n->dh, T, 2 * I, d);                                   /* dh2 (T, d) = dgu Wgu */
    if (lora_slot_at(n->a, l, LORA_GATE) || lora_slot_at(n->a, l, LORA_UP))
        be->rmsnorm(be, a->xm, ly->mlp_norm, n->h, T, d, eps); /* h2 (T, d), recomputed: the gate/up LoRA input */
    for (int k = LORA_GATE; k <= LORA_UP; k++) {
        const lora_slot *sl = lora_slot_at(n->a, l, k);
        if (!sl) continue;
        out_place(m, k, &off, &ld);
        lora_backward(n, sl, n->h, a->u[k], n->dgu + off, ld, n->dh, T);
    }
    be->rmsnorm_backward(be, a->xm, ly->mlp_norm, n->dh, n->g, T, d, eps);                    /* g = ∂/∂xm */

    /* ---- attention: xm = x + o_proj(attention(rope(qkv(h1)))) */
    be->matmul_dx(be, n->g, ly->wo, n->datt, T, d, m->q_dim); /* datt (T, q_dim) = g Wo */
    const lora_slot *so = lora_slot_at(n->a, l, LORA_O);
    if (so) lora_backward(n, so, a->att, a->u[LORA_O], n->g, d, n->datt, T);
    be->attention_backward(be, a->qkv, m->qkv_dim, a->qkv + m->q_dim, a->qkv + m->q_dim + m->kv_dim, m->qkv_dim,
                           n->datt, n->dqkv, n->dqkv + m->q_dim, n->dqkv + m->q_dim + m->kv_dim, m->qkv_dim,
                           m->n_heads, m->n_kv_heads, m->head_dim, m->attn_scale, &n->ab); /* dqkv (T, qkv_dim) */
    be->rope_backward(be, n->dqkv, m->qkv_dim, T, m->n_heads + m->n_kv_heads, m->head_dim, n->pos, m->inv_freq);
    if (lora_slot_at(n->a, l, LORA_Q) || lora_slot_at(n->a, l, LORA_K) || lora_slot_at(n->a, l, LORA_V))
        be->rmsnorm(be, x, ly->attn_norm, n->h, T, d, eps); /* h1 (T, d), recomputed: the q/k/v LoRA input */
    if (need_dx)
        be->matmul_dx(be, n->dqkv, ly->wqkv, n->dh, T, m->qkv_dim, d); /* dh1 (T, d) = dqkv Wqkv */
    for (int k = LORA_Q; k <= LORA_V; k++) {
        const lora_slot *sl = lora_slot_at(n->a, l, k);
        if (!sl) continue;
        out_place(m, k, &off, &ld);
        lora_backward(n, sl, n->h, a->u[k], n->dqkv + off, ld, need_dx ? n->dh : NULL, T);
    }
    if (need_dx) be->rmsnorm_backward(be, x, ly->attn_norm, n->dh, n->g, T, d, eps); /* g = ∂/∂x */
}

/* Forward of every layer; the final residual ends in acts[L].x. */
static void forward_layers(tr_net *n, const tr_batch *b, int T) {
    const lr_decoder_view *m = &n->m;
    m->be->embed(m->be, m->embed, b->tokens, T, m->d, n->acts[0].x); /* x0 (T, d) */
    for (int l = 0; l < m->n_layers; l++) layer_forward(n, l, T, n->acts[l].x, acts_of(n, l), n->acts[l + 1].x);
}

int tr_net_step(tr_net *n, const tr_batch *b, uint64_t dropout_key, double grad_scale, float *grad, double *loss) {
    const lr_decoder_view *m = &n->m;
    lr_backend *be = n->be;
    const int L = m->n_layers, d = m->d, V = m->vocab, ns = tr_batch_n_loss(b);
    const float eps = m->eps;
    const size_t pbytes = n->a->n_params * sizeof(float);
    int T = 0;
    if (prepare(n, b, dropout_key, 1, &T) != 0) return -1;
    be->upload(be, n->w, n->a->w, pbytes);  /* the adapter as the optimizer left it */
    be->upload(be, n->gw, grad, pbytes);    /* gradients accumulate over micro-batches */
    n->training = 1;
    forward_layers(n, b, T);

    /* ---- head at the loss positions: z = rmsnorm(x_L[rows]) lm_headᵀ */
    be->gather_rows(be, n->acts[L].x, d, n->rows, ns, n->sel_x);                               /* sel_x (ns, d) */
    be->rmsnorm(be, n->sel_x, m->final_norm, n->sel, ns, d, eps);                              /* sel (ns, d) */
    be->matmul(be, n->sel, d, m->lm_head, NULL, n->z, V, ns, V, d, 0);                         /* z (ns, V) */
    be->kl_loss(be, n->z, ns, V, b->lab_off, b->lab_ids, b->lab_w, grad_scale, loss, n->dz);   /* dz (ns, V) */
    be->matmul_dx(be, n->dz, m->lm_head, n->dsel, ns, V, d);                                  /* dsel = dz lm_head */
    be->zero(be, n->g, (size_t)T * d * sizeof(float));                                         /* g (T, d) = ∂/∂x_L */
    be->zero(be, n->sel, (size_t)ns * d * sizeof(float));
    be->rmsnorm_backward(be, n->sel_x, m->final_norm, n->dsel, n->sel, ns, d, eps); /* reuse sel as ∂/∂sel_x */
    be->scatter_rows(be, n->sel, d, n->rows, ns, n->g); /* rows are distinct: each loss position's gradient lands once */

    for (int l = L - 1; l >= n->lowest; l--) layer_backward(n, l, T, l > n->lowest);
    n->training = 0;
    be->download(be, grad, n->gw, pbytes);
    return 0;
}

int tr_net_logits(tr_net *n, const tr_batch *b, int all_positions, float *logits) {
    const lr_decoder_view *m = &n->m;
    lr_backend *be = n->be;
    const int L = m->n_layers, d = m->d, V = m->vocab;
    const float eps = m->eps;
    int T = 0;
    if (prepare(n, b, 0, 0, &T) != 0) return -1;
    be->upload(be, n->w, n->a->w, n->a->n_params * sizeof(float));
    n->training = 0;
    forward_layers(n, b, T);
    const float *x = n->acts[L].x; /* (T, d) */
    const int rows = all_positions ? T : tr_batch_n_loss(b);
    if (rows > n->logits_cap) {
        bfree(n, n->logits);
        n->logits = fzalloc(n, (size_t)rows * V);
        n->logits_cap = rows;
    }
    if (all_positions) {
        be->rmsnorm(be, x, m->final_norm, n->h, T, d, eps);                     /* (T, d) */
        be->matmul(be, n->h, d, m->lm_head, NULL, n->logits, V, T, V, d, 0);    /* (T, V) */
    } else {
        be->gather_rows(be, x, d, n->rows, rows, n->sel_x);
        be->rmsnorm(be, n->sel_x, m->final_norm, n->sel, rows, d, eps);
        be->matmul(be, n->sel, d, m->lm_head, NULL, n->logits, V, rows, V, d, 0);
    }
    be->download(be, logits, n->logits, (size_t)rows * V * sizeof(float)); /* the caller's host buffer */
    return 0;
}
