/* The decoder pass over a packed ragged batch, and the two entry points
 * built on it: model_forward (teacher-forced, no cache) and model_extend
 * (append to KV-cache slots: prefill or decode).
 *
 * Tokens of all sequences are packed back to back (no padding), so every
 * projection is one GEMM with M = tokens in the chunk; attention keeps the
 * sequences apart through lr_attn_batch. lm_head runs only on the rows whose
 * logits are wanted. Calls only the backend (backend.h). */
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "model/model_internal.h"

/* Tokens per decoder pass: large enough for full-size GEMMs, small enough
 * that activations stay ~100-200 MB on a 0.5B-1.5B model. Longer inputs
 * are processed in several passes (sequences whole in model_forward, pieces
 * of a prompt in model_extend). */
#define DEFAULT_CHUNK_TOKENS 4096

static void *grow(lr_model *m, void *p, size_t bytes) {
    if (p) m->be->free(m->be, p);
    return m->be->alloc(m->be, bytes);
}

void model_workspace_reserve(lr_model *m, int rows, int logit_rows, int logits_scratch) {
    lr_workspace *w = &m->ws;
    if (rows > w->cap) {
        const size_t n = (size_t)rows, F = sizeof(float);
        w->x = grow(m, w->x, n * m->d * F);
        w->h = grow(m, w->h, n * m->d * F);
        w->qkv = grow(m, w->qkv, n * m->qkv_dim * F);
        w->att = grow(m, w->att, n * m->q_dim * F);
        w->gu = grow(m, w->gu, n * 2 * m->inter * F);
        w->act = grow(m, w->act, n * m->inter * F);
        w->sel = grow(m, w->sel, n * m->d * F);
        w->pos = xrealloc(w->pos, n * sizeof *w->pos);
        w->dst_row = xrealloc(w->dst_row, n * sizeof *w->dst_row);
        w->rows = xrealloc(w->rows, n * sizeof *w->rows);
        w->q_off = xrealloc(w->q_off, (n + 1) * sizeof *w->q_off);
        w->n_past = xrealloc(w->n_past, n * sizeof *w->n_past);
        w->kv_row = xrealloc(w->kv_row, n * sizeof *w->kv_row);
        w->cap = rows;
    }
    if ((!m->be->host_memory || logits_scratch) && logit_rows > w->logits_cap) {
        w->logits = grow(m, w->logits, (size_t)logit_rows * m->vocab * sizeof(float));
        w->logits_cap = logit_rows;
    }
}

void model_workspace_free(lr_model *m) {
    lr_workspace *w = &m->ws;
    float *dev[] = {w->x, w->h, w->qkv, w->att, w->gu, w->act, w->sel, w->logits};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) m->be->free(m->be, dev[i]);
    free(w->pos);
    free(w->dst_row);
    free(w->rows);
    free(w->q_off);
    free(w->n_past);
    free(w->kv_row);
    free(w->piece);
    memset(w, 0, sizeof *w);
}

/* Where a decoder pass puts the logits of its output rows: host memory
 * (logits), backend memory (logits with on_backend = 1: no copy), or
 * nowhere but the workspace, only each row's greedy id and finiteness
 * returned (ids, finite). */
typedef struct {
    float *logits;
    int on_backend;
    int32_t *ids;
    uint8_t *finite;
    double temperature, top_p; /* > 0: ids sampled (sample_rows) with the draws u (n_out), else greedy */
    const double *u;
} logits_dst;

static logits_dst to_host(float *logits) { return (logits_dst){logits, 0, NULL, NULL, 0, 1, NULL}; }

/* One decoder pass over T packed tokens (host ids). Positions are in
 * ws.pos, the attention batch in ab; with a cache c the new keys/values go
 * to cache rows ws.dst_row (within each layer's block) and attention reads
 * the cache, otherwise the batch's own k/v rows. Logits of the n_out rows
 * listed in rows (NULL: all T rows in order) go to logits (n_out, V), host;
 * or, when ids != NULL, stay in the workspace (ws.logits, reserved with
 * logits_scratch) and only each row's greedy id and finiteness come back
 * (ids, finite: (n_out), host). */
static void decoder_pass(lr_model *m, const int32_t *tokens, int T, const lr_attn_batch *ab, lr_kv_cache *c,
                         const int *rows, int n_out, logits_dst dst) {
    float *logits = dst.logits;
    int32_t *ids = dst.ids;
    uint8_t *finite = dst.finite;
    lr_backend *be = m->be;
    const lr_model_config *cf = &m->cfg;
    lr_workspace *w = &m->ws;
    const int d = m->d, I = m->inter, V = m->vocab;
    float *x = w->x;     /* (T, d) */
    float *h = w->h;     /* (T, d) */
    float *qkv = w->qkv; /* (T, qkv_dim): q | k | v */
    float *att = w->att; /* (T, q_dim) */
    float *gu = w->gu;   /* (T, 2I) */
    float *act = w->act; /* (T, I) */
    const float eps = (float)cf->rms_norm_eps;
    const size_t layer_bytes = c ? (size_t)c->n_slots * c->max_len * c->kv_dim * lr_dtype_size(c->dtype) : 0;

    be->embed(be, m->embed, tokens, T, d, x);
    for (int l = 0; l < cf->n_layers; l++) {
        const lr_layer *ly = &m->layers[l];
        be->rmsnorm(be, x, ly->attn_norm, h, T, d, eps);
        be->matmul(be, h, d, ly->wqkv, ly->bqkv, qkv, m->qkv_dim, T, m->qkv_dim, d, 0);
        const float *kq = qkv + m->q_dim, *vq = qkv + m->q_dim + m->kv_dim; /* (T, qkv_dim) views */
        void *kl = c ? (char *)c->k + l * layer_bytes : NULL; /* (n_slots * max_len, kv_dim) of c->dtype */
        void *vl = c ? (char *)c->v + l * layer_bytes : NULL;
        if (c && be->rope_kv_store) {
            be->rope_kv_store(be, qkv, m->qkv_dim, T, cf->n_heads, cf->n_kv_heads, m->head_dim, w->pos, m->inv_freq,
                              kl, vl, w->dst_row);
        } else { /* q heads and k heads are adjacent in each row: one rope call */
            be->rope(be, qkv, m->qkv_dim, T, cf->n_heads + cf->n_kv_heads, m->head_dim, w->pos, m->inv_freq);
            if (c) be->kv_store(be, kl, vl, w->dst_row, kq, vq, m->qkv_dim, T, m->kv_dim);
        }
        /* attention reads the cache, or without one the batch's own k / v columns */
        const void *ka = c ? (const void *)kl : (const void *)kq, *va = c ? (const void *)vl : (const void *)vq;
        be->attention(be, qkv, m->qkv_dim, ka, va, c ? m->kv_dim : m->qkv_dim, att, cf->n_heads, cf->n_kv_heads,
                      m->head_dim, m->attn_scale, ab);
        be->matmul(be, att, m->q_dim, ly->wo, ly->bo, x, d, T, d, m->q_dim, 1); /* x += o_proj(att) */
        be->rmsnorm(be, x, ly->mlp_norm, h, T, d, eps);
        be->matmul(be, h, d, ly->wgu, ly->bgu, gu, 2 * I, T, 2 * I, d, 0);
        be->swiglu(be, gu, act, T, I);
        be->matmul(be, act, I, ly->wdown, ly->bdown, x, d, T, d, I, 1); /* x += down(act) */
    }
    float *sel = w->sel; /* (n_out, d) */
    if (rows) {
        be->gather_rows(be, x, d, rows, n_out, h);
        be->rmsnorm(be, h, m->final_norm, sel, n_out, d, eps);
    } else {
        be->rmsnorm(be, x, m->final_norm, sel, n_out, d, eps);
    }
    if (n_out == 0) return;
    float *out = (be->host_memory || dst.on_backend) && !ids ? logits : w->logits; /* (n_out, V) */
    be->matmul(be, sel, d, m->lm_head, NULL, out, V, n_out, V, d, 0);
    if (ids && dst.temperature > 0.0) be->sample_rows(be, out, n_out, V, dst.temperature, dst.top_p, dst.u, ids, finite);
    else if (ids) be->argmax_rows(be, out, n_out, V, ids, finite);
    else if (out != logits) be->download(be, logits, out, (size_t)n_out * V * sizeof(float));
}

/* A greedy decode step (one new token per sequence, every row's id back)
 * through the backend's step graphs when it has them: the same ops with
 * the same arguments each step but for the host metadata, so a backend
 * may record the step once and replay it (backend.h). When the backend
 * could not replay, nothing ran and the step runs again without a graph.
 * A top-p step is never bracketed: its nucleus is finished on the host
 * (no backend can record it), and a bracket would only mark the key as
 * never recordable for the temperature-only steps that share it. */
static void decode_step(lr_model *m, const int32_t *tokens, int T, const lr_attn_batch *ab, lr_kv_cache *c,
                        logits_dst dst) {
    lr_backend *be = m->be;
    if (be->graph_begin && !(dst.temperature > 0.0 && dst.top_p < 1.0)) {
        /* what fixes the ops' shapes and buffers (greedy and sampled steps
         * differ in their last op); the backend checks the rest */
        const uint64_t shape = (uint64_t)T << 1 | (dst.temperature > 0.0);
        const uint64_t key = lr_mix64((uint64_t)(uintptr_t)m ^ lr_mix64((uint64_t)(uintptr_t)c ^ lr_mix64(shape)));
        be->graph_begin(be, key);
        decoder_pass(m, tokens, T, ab, c, m->ws.rows, T, dst);
        if (be->graph_end(be) == 0) return;
    }
    decoder_pass(m, tokens, T, ab, c, m->ws.rows, T, dst);
}

static int check_tokens(const lr_model *m, const int32_t *tokens, long n) {
    for (long i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->vocab) {
            lr_error_set(m->dir, "token id %d at index %ld is outside the vocabulary [0, %d)", (int)tokens[i], i,
                         m->vocab);
            return -1;
        }
    return 0;
}

static int context_error(const lr_model *m, const char *what, int idx, long len) {
    lr_error_set(m->dir, "context overflow: %s %d needs %ld positions, the model's context is %d (max_position_embeddings)",
                 what, idx, len, m->cfg.max_position_embeddings);
    return -1;
}

void model_set_chunk_tokens(lr_model *m, int n) { m->chunk_tokens = n > 0 ? n : DEFAULT_CHUNK_TOKENS; }

/* model_forward, model_forward_last(_dev): logits of every position
 * (all_positions), of each sequence's last position, or (n_last != NULL)
 * of the last n_last[s] positions of sequence s; to host memory, or, when
 * dev_logits != NULL, to the workspace in backend memory (*dev_logits). */
static int forward_impl(lr_model *m, const int32_t *tokens, const int *lens, int n_seq, int all_positions,
                        const int *n_last, float *logits, const float **dev_logits) {
    long total = 0, total_out = 0;
    for (int s = 0; s < n_seq; s++) {
        if (lens[s] < 1) {
            lr_error_set(m->dir, "sequence %d is empty", s);
            return -1;
        }
        if (lens[s] > m->cfg.max_position_embeddings) return context_error(m, "sequence", s, lens[s]);
        if (n_last && (n_last[s] < 0 || n_last[s] > lens[s])) {
            lr_error_set(m->dir, "sequence %d: logits of its last %d positions asked for, it has %d", s, n_last[s],
                         lens[s]);
            return -1;
        }
        total += lens[s];
        total_out += n_last ? n_last[s] : all_positions ? lens[s] : 1;
    }
    if (check_tokens(m, tokens, total) != 0) return -1;
    const int V = m->vocab;
    const int on_backend = dev_logits != NULL;
    if (on_backend) { /* every pass's rows in one backend buffer */
        if (total_out > 0x7fffffffL) {
            lr_error_set(m->dir, "%ld logits rows in one call", total_out);
            return -1;
        }
        model_workspace_reserve(m, 0, (int)total_out, 1);
        logits = m->ws.logits;
        *dev_logits = logits;
    }
    int s0 = 0;
    long tok0 = 0, out0 = 0; /* out0: logits rows written so far */
    while (s0 < n_seq) {
        /* Whole sequences, at least one, up to m->chunk_tokens tokens. */
        int s1 = s0, T = 0, n_out = 0;
        while (s1 < n_seq && (s1 == s0 || T + lens[s1] <= m->chunk_tokens)) {
            n_out += n_last ? n_last[s1] : all_positions ? lens[s1] : 1;
            T += lens[s1++];
        }
        const int ns = s1 - s0;
        model_workspace_reserve(m, T, n_out, 0);
        lr_workspace *w = &m->ws;
        w->q_off[0] = 0;
        int r = 0;
        for (int i = 0; i < ns; i++) {
            const int L = lens[s0 + i], o = w->q_off[i];
            w->q_off[i + 1] = o + L;
            w->n_past[i] = 0;
            w->kv_row[i] = o;
            if (n_last)
                for (int p = L - n_last[s0 + i]; p < L; p++) w->rows[r++] = o + p;
            else
                w->rows[i] = o + L - 1;
            for (int p = 0; p < L; p++) w->pos[o + p] = p;
        }
        lr_attn_batch ab = {.n_seq = ns, .q_off = w->q_off, .n_past = w->n_past, .kv_row = w->kv_row};
        const int every = !n_last && all_positions;
        logits_dst dst = to_host(logits ? logits + (size_t)out0 * V : NULL); /* NULL: no rows asked for */
        dst.on_backend = on_backend;
        decoder_pass(m, tokens + tok0, T, &ab, NULL, every ? NULL : w->rows, n_out, dst);
        out0 += n_out;
        tok0 += T;
        s0 = s1;
    }
    return 0;
}

int model_forward(lr_model *m, const int32_t *tokens, const int *lens, int n_seq, int all_positions, float *logits) {
    return forward_impl(m, tokens, lens, n_seq, all_positions, NULL, logits, NULL);
}

int model_forward_last(lr_model *m, const int32_t *tokens, const int *lens, const int *n_last, int n_seq,
                       float *logits) {
    return forward_impl(m, tokens, lens, n_seq, 0, n_last, logits, NULL);
}

int model_forward_last_dev(lr_model *m, const int32_t *tokens, const int *lens, const int *n_last, int n_seq,
                           const float **logits) {
    *logits = NULL;
    return forward_impl(m, tokens, lens, n_seq, 0, n_last, NULL, logits);
}

void model_sync(lr_model *m) {
    if (!m->be->host_memory) m->be->download(m->be, NULL, NULL, 0); /* waits for the queued work */
}

/* model_extend, model_extend_greedy and model_extend_sample: the last
 * rows' logits go to last_logits, or their ids (greedy, or sampled when
 * pick->temperature > 0) to next_ids / finite. */
typedef struct {
    double temperature, top_p;
    const double *u; /* (n) */
} pick_spec;

static int extend_impl(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new, int n,
                       float *last_logits, float *all_logits, int32_t *next_ids, uint8_t *finite,
                       const pick_spec *pick) {
    if (c->m != m) {
        lr_error_set(m->dir, "KV cache belongs to another model");
        return -1;
    }
    long total = 0;
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= c->n_slots) {
            for (int j = 0; j < i; j++) c->mark[slots[j]] = 0;
            lr_error_set(m->dir, "KV cache slot %d out of range [0, %d)", slots[i], c->n_slots);
            return -1;
        }
        if (c->mark[slots[i]]) {
            for (int j = 0; j < i; j++) c->mark[slots[j]] = 0;
            lr_error_set(m->dir, "KV cache slot %d appears twice in one extend call", slots[i]);
            return -1;
        }
        c->mark[slots[i]] = 1;
        int bad = 0;
        const long need = (long)c->len[slots[i]] + n_new[i];
        if (n_new[i] < 1)
            bad = 1, lr_error_set(m->dir, "extend of slot %d with %d tokens (need at least 1)", slots[i], n_new[i]);
        else if (need > m->cfg.max_position_embeddings)
            bad = 1, context_error(m, "slot", slots[i], need);
        else if (need > c->max_len)
            bad = 1, lr_error_set(m->dir, "KV cache overflow: slot %d would hold %ld tokens, capacity %d", slots[i],
                                  need, c->max_len);
        if (bad) {
            for (int j = 0; j <= i; j++) c->mark[slots[j]] = 0;
            return -1;
        }
        total += n_new[i];
    }
    for (int i = 0; i < n; i++) c->mark[slots[i]] = 0;
    if (check_tokens(m, tokens, total) != 0) return -1;
    const int V = m->vocab;
    /* Walk the packed stream in chunks of up to m->chunk_tokens tokens; a long
     * prompt is split into pieces (later pieces attend to earlier ones
     * through the cache). A chunk covers a contiguous range of the stream. */
    lr_workspace *w = &m->ws;
    if (n > w->piece_cap) {
        free(w->piece);
        w->piece = xmalloc((size_t)3 * n * sizeof *w->piece);
        w->piece_cap = n;
    }
    int *pe = w->piece, *poff = pe + n, *plen = poff + n; /* pieces of a chunk: (entry, offset, length) */
    int e = 0, e_off = 0; /* cursor: entry e, token e_off within it */
    long tok0 = 0;
    int n_done = 0; /* entries whose last token has been processed */
    while (e < n) {
        int T = 0, np = 0;
        while (e < n && T < m->chunk_tokens) {
            int take = n_new[e] - e_off;
            if (take > m->chunk_tokens - T) take = m->chunk_tokens - T;
            pe[np] = e, poff[np] = e_off, plen[np] = take, np++;
            T += take;
            e_off += take;
            if (e_off == n_new[e]) e++, e_off = 0;
        }
        model_workspace_reserve(m, T, all_logits ? T : np, next_ids != NULL);
        int n_out = 0;
        w->q_off[0] = 0;
        for (int i = 0; i < np; i++) {
            const int slot = slots[pe[i]], o = w->q_off[i], past = c->len[slot];
            w->q_off[i + 1] = o + plen[i];
            w->n_past[i] = past;
            w->kv_row[i] = (int64_t)slot * c->max_len;
            for (int p = 0; p < plen[i]; p++) {
                w->pos[o + p] = past + p;
                w->dst_row[o + p] = (int64_t)slot * c->max_len + past + p;
            }
            if (poff[i] + plen[i] == n_new[pe[i]]) w->rows[n_out++] = o + plen[i] - 1; /* entry completes here */
        }
        lr_attn_batch ab = {
            .n_seq = np, .q_off = w->q_off, .n_past = w->n_past, .kv_row = w->kv_row, .kv_dtype = c->dtype};
        if (all_logits) {
            float *out = all_logits + (size_t)tok0 * V;
            decoder_pass(m, tokens + tok0, T, &ab, c, NULL, T, to_host(out));
            if (last_logits)
                for (int i = 0; i < n_out; i++)
                    memcpy(last_logits + (size_t)(n_done + i) * V, out + (size_t)w->rows[i] * V, (size_t)V * sizeof(float));
        } else if (last_logits && n_out > 0) {
            decoder_pass(m, tokens + tok0, T, &ab, c, w->rows, n_out, to_host(last_logits + (size_t)n_done * V));
        } else if (next_ids && n_out > 0) {
            logits_dst dst = {NULL, 0, next_ids + n_done, finite + n_done, 0, 1, NULL};
            if (pick && pick->temperature > 0.0)
                dst.temperature = pick->temperature, dst.top_p = pick->top_p, dst.u = pick->u + n_done;
            if (np == T && n_out == T) decode_step(m, tokens + tok0, T, &ab, c, dst);
            else decoder_pass(m, tokens + tok0, T, &ab, c, w->rows, n_out, dst);
        } else {
            decoder_pass(m, tokens + tok0, T, &ab, c, w->rows, 0, to_host(NULL)); /* fills the cache only */
        }
        for (int i = 0; i < np; i++) c->len[slots[pe[i]]] += plen[i];
        n_done += n_out;
        tok0 += T;
    }
    return 0;
}

int model_extend(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new, int n,
                 float *last_logits, float *all_logits) {
    return extend_impl(m, c, slots, tokens, n_new, n, last_logits, all_logits, NULL, NULL, NULL);
}

int model_extend_greedy(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new,
                        int n, int32_t *next_ids, uint8_t *finite) {
    return extend_impl(m, c, slots, tokens, n_new, n, NULL, NULL, next_ids, finite, NULL);
}

int model_extend_sample(lr_model *m, lr_kv_cache *c, const int *slots, const int32_t *tokens, const int *n_new, int n,
                        double temperature, double top_p, const double *u, int32_t *next_ids, uint8_t *finite) {
    if (temperature > 0.0 && !m->be->sample_rows) {
        lr_error_set(m->dir, "the %s backend cannot sample rows where the logits are", m->be->name);
        return -1;
    }
    const pick_spec pick = {temperature, top_p, u};
    return extend_impl(m, c, slots, tokens, n_new, n, NULL, NULL, next_ids, finite, &pick);
}

int model_can_sample_rows(const lr_model *m) { return m->be->sample_rows != NULL; }
