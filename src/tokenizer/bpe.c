#include "tokenizer/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "tokenizer/bytelevel.h"

#define EMPTY_KEY UINT64_MAX
#define CACHE_SLOTS (1u << 17)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_PIECE 256 /* longer pieces are rare and not worth keeping */

static inline size_t merge_hash(uint64_t k, size_t cap) {
    k ^= k >> 29;
    k *= 0xBF58476D1CE4E5B9ull;
    k ^= k >> 32;
    return (size_t)k & (cap - 1);
}

void lr_bpe_init(lr_bpe *m) {
    memset(m, 0, sizeof *m);
    lr_tok_strmap_init(&m->vocab);
    m->unk_id = -1;
    m->merges_cap = 1024;
    m->merges = xmalloc(m->merges_cap * sizeof *m->merges);
    for (size_t i = 0; i < m->merges_cap; i++) m->merges[i].key = EMPTY_KEY;
    m->cache = xcalloc(1, sizeof *m->cache);
    pthread_mutex_init(&m->cache->mu, NULL);
}

void lr_bpe_free(lr_bpe *m) {
    lr_tok_strmap_free(&m->vocab);
    free(m->merges);
    if (m->cache) {
        pthread_mutex_destroy(&m->cache->mu);
        free(m->cache->slots);
        free(m->cache->keys);
        free(m->cache->ids);
        free(m->cache);
    }
    memset(m, 0, sizeof *m);
}

static lr_merge_slot *merge_find(const lr_bpe *m, uint64_t key) {
    size_t j = merge_hash(key, m->merges_cap);
    while (m->merges[j].key != EMPTY_KEY && m->merges[j].key != key) j = (j + 1) & (m->merges_cap - 1);
    return &m->merges[j];
}

static void merges_grow(lr_bpe *m) {
    lr_merge_slot *old = m->merges;
    size_t oc = m->merges_cap;
    m->merges_cap *= 2;
    m->merges = xmalloc(m->merges_cap * sizeof *m->merges);
    for (size_t i = 0; i < m->merges_cap; i++) m->merges[i].key = EMPTY_KEY;
    for (size_t i = 0; i < oc; i++)
        if (old[i].key != EMPTY_KEY) *merge_find(m, old[i].key) = old[i];
    free(old);
}

static void merge_error(const char *loc_fmt, const char *file, long index, const char *problem, const char *a,
                        size_t al, const char *b, size_t bl) {
    char where[4200];
    snprintf(where, sizeof where, loc_fmt, file, index);
    lr_error_set(where, "merge '%.*s %.*s' %s", (int)al, a, (int)bl, b, problem);
}

int lr_bpe_add_merge(lr_bpe *m, const char *a, size_t al, const char *b, size_t bl, int32_t rank,
                     const char *loc_fmt, const char *file, long index) {
    int32_t ia = lr_tok_strmap_get(&m->vocab, a, al), ib = lr_tok_strmap_get(&m->vocab, b, bl);
    if (ia < 0 || ib < 0) {
        merge_error(loc_fmt, file, index, "uses a token that is not in the vocabulary", a, al, b, bl);
        return -1;
    }
    char stackbuf[256];
    char *ab = al + bl <= sizeof stackbuf ? stackbuf : xmalloc(al + bl);
    memcpy(ab, a, al);
    memcpy(ab + al, b, bl);
    int32_t inew = lr_tok_strmap_get(&m->vocab, ab, al + bl);
    if (ab != stackbuf) free(ab);
    if (inew < 0) {
        merge_error(loc_fmt, file, index, "makes a token that is not in the vocabulary", a, al, b, bl);
        return -1;
    }
    if (2 * (m->n_merges + 1) > m->merges_cap) merges_grow(m);
    uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
    lr_merge_slot *s = merge_find(m, key);
    /* A repeated pair keeps its later rank, as HF's map insertion does. */
    if (s->key == EMPTY_KEY) m->n_merges++;
    s->key = key;
    s->rank = rank;
    s->new_id = inew;
    return 0;
}

void lr_bpe_finish(lr_bpe *m) {
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t n = lr_bytelevel_encode((const char *)&(unsigned char){(unsigned char)b}, 1, u);
        m->byte_id[b] = lr_tok_strmap_get(&m->vocab, u, n);
    }
}

/* ---- the merge loop (the same order of merges as HF's word.rs: always the
 * lowest rank first, and among equal ranks the leftmost) */

typedef struct {
    int32_t id;
    int prev, next; /* neighbours in the live list; -1 = none */
    int alive;
} symbol;

typedef struct {
    int32_t rank, new_id;
    int pos;
} cand;

static inline int cand_less(const cand *x, const cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

typedef struct {
    cand *v;
    size_t n, cap;
} heap;

static void heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) s = l, best = &h->v[l];
        if (r < h->n && cand_less(&h->v[r], best)) s = r;
        if (s == i) break;
        h->v[i] = h->v[s];
        i = s;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static void push_pair(const lr_bpe *m, heap *h, const symbol *sym, int pos) {
    int nx = sym[pos].next;
    if (nx < 0) return;
    uint64_t key = (uint64_t)(uint32_t)sym[pos].id << 32 | (uint32_t)sym[nx].id;
    const lr_merge_slot *s = merge_find(m, key);
    if (s->key != EMPTY_KEY) heap_push(h, (cand){s->rank, s->new_id, pos});
}

static void merge_piece(const lr_bpe *m, const char *piece, size_t n, lr_idvec *out) {
    symbol small[64];
    symbol *sym = n <= 64 ? small : xmalloc(n * sizeof *sym);
    int ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = m->byte_id[(unsigned char)piece[i]];
        if (id < 0) { /* a byte the vocabulary lacks */
            if (m->unk_id < 0) continue;
            if (m->fuse_unk && ns > 0 && sym[ns - 1].id == m->unk_id) continue;
            id = m->unk_id;
        }
        sym[ns] = (symbol){id, ns - 1, -1, 1};
        if (ns > 0) sym[ns - 1].next = ns;
        ns++;
    }
    heap h = {0};
    for (int i = 0; i + 1 < ns; i++) push_pair(m, &h, sym, i);
    while (h.n) {
        cand c = heap_pop(&h);
        symbol *s = &sym[c.pos];
        if (!s->alive || s->next < 0) continue;
        /* Stale entries are recognised by the pair no longer producing
         * the same token (HF checks exactly this). */
        uint64_t key = (uint64_t)(uint32_t)s->id << 32 | (uint32_t)sym[s->next].id;
        const lr_merge_slot *ms = merge_find(m, key);
        if (ms->key == EMPTY_KEY || ms->new_id != c.new_id) continue;
        int right = s->next;
        s->id = c.new_id;
        s->next = sym[right].next;
        sym[right].alive = 0;
        if (s->next >= 0) sym[s->next].prev = c.pos;
        if (s->prev >= 0) push_pair(m, &h, sym, s->prev);
        push_pair(m, &h, sym, c.pos);
    }
    free(h.v);
    lr_idvec_reserve(out, (size_t)ns);
    for (int i = 0; i < ns; i++)
        if (sym[i].alive) out->v[out->n++] = sym[i].id;
    if (sym != small) free(sym);
}

/* ---- cache */

static int cache_lookup(lr_bpe_cache *c, const char *p, size_t n, uint32_t h, lr_idvec *out) {
    if (!c->slots) return 0;
    size_t j = h & (CACHE_SLOTS - 1);
    for (;;) {
        lr_bpe_cache_slot *s = &c->slots[j];
        if (s->key_len == UINT32_MAX) return 0;
        if (s->hash == h && s->key_len == n && memcmp(c->keys + s->key_off, p, n) == 0) {
            lr_idvec_reserve(out, s->ids_len);
            memcpy(out->v + out->n, c->ids + s->ids_off, s->ids_len * sizeof *out->v);
            out->n += s->ids_len;
            return 1;
        }
        j = (j + 1) & (CACHE_SLOTS - 1);
    }
}

static void cache_insert(lr_bpe_cache *c, const char *p, size_t n, uint32_t h, const int32_t *ids, size_t k) {
    if (!c->slots || c->n >= CACHE_MAX_ENTRIES) { /* start afresh when full */
        if (!c->slots) c->slots = xmalloc(CACHE_SLOTS * sizeof *c->slots);
        for (size_t i = 0; i < CACHE_SLOTS; i++) c->slots[i].key_len = UINT32_MAX;
        c->n = c->keys_len = c->ids_len = 0;
    }
    if (c->keys_len + n > c->keys_cap) {
        c->keys_cap = (c->keys_len + n) * 2;
        c->keys = xrealloc(c->keys, c->keys_cap);
    }
    if (c->ids_len + k > c->ids_cap) {
        c->ids_cap = (c->ids_len + k) * 2;
        c->ids = xrealloc(c->ids, c->ids_cap * sizeof *c->ids);
    }
    size_t j = h & (CACHE_SLOTS - 1);
    while (c->slots[j].key_len != UINT32_MAX) j = (j + 1) & (CACHE_SLOTS - 1);
    memcpy(c->keys + c->keys_len, p, n);
    memcpy(c->ids + c->ids_len, ids, k * sizeof *ids);
    c->slots[j] = (lr_bpe_cache_slot){h, (uint32_t)c->keys_len, (uint32_t)n, (uint32_t)c->ids_len, (uint32_t)k};
    c->keys_len += n;
    c->ids_len += k;
    c->n++;
}

void lr_bpe_encode(const lr_bpe *m, const char *piece, size_t n, lr_idvec *out) {
    if (m->ignore_merges) {
        char stackbuf[512];
        char *bl = 2 * n <= sizeof stackbuf ? stackbuf : xmalloc(2 * n);
        size_t bn = lr_bytelevel_encode(piece, n, bl);
        int32_t id = lr_tok_strmap_get(&m->vocab, bl, bn);
        if (bl != stackbuf) free(bl);
        if (id >= 0) {
            lr_idvec_push(out, id);
            return;
        }
    }
    if (n == 1 && m->byte_id[(unsigned char)piece[0]] >= 0) {
        lr_idvec_push(out, m->byte_id[(unsigned char)piece[0]]);
        return;
    }
    int cacheable = n <= CACHE_MAX_PIECE;
    uint32_t h = 0;
    if (cacheable) {
        h = lr_tok_strmap_hash(piece, n);
        pthread_mutex_lock(&m->cache->mu);
        int hit = cache_lookup(m->cache, piece, n, h, out);
        pthread_mutex_unlock(&m->cache->mu);
        if (hit) return;
    }
    size_t start = out->n;
    merge_piece(m, piece, n, out);
    if (cacheable && out->n > start) { /* nothing to cache when a vocabulary without byte tokens gave no id */
        pthread_mutex_lock(&m->cache->mu);
        cache_insert(m->cache, piece, n, h, out->v + start, out->n - start);
        pthread_mutex_unlock(&m->cache->mu);
    }
}
