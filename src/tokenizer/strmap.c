#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"

#define EMPTY UINT32_MAX

uint32_t lr_tok_strmap_hash(const char *key, size_t len) {
    /* FNV-1a: keys are short (tokens), so a simple byte hash is enough. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

void lr_tok_strmap_init(lr_tok_strmap *m) {
    memset(m, 0, sizeof *m);
    m->cap = 1024;
    m->slots = xmalloc(m->cap * sizeof *m->slots);
    for (size_t i = 0; i < m->cap; i++) m->slots[i].len = EMPTY;
}

void lr_tok_strmap_free(lr_tok_strmap *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static void grow(lr_tok_strmap *m) {
    size_t cap = m->cap * 2;
    lr_tok_strmap_slot *s = xmalloc(cap * sizeof *s);
    for (size_t i = 0; i < cap; i++) s[i].len = EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].len == EMPTY) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].len != EMPTY) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

static lr_tok_strmap_slot *find(const lr_tok_strmap *m, const char *key, size_t len, uint32_t h) {
    size_t j = h & (m->cap - 1);
    for (;;) {
        lr_tok_strmap_slot *s = &m->slots[j];
        if (s->len == EMPTY) return s;
        if (s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0) return s;
        j = (j + 1) & (m->cap - 1);
    }
}

void lr_tok_strmap_put(lr_tok_strmap *m, const char *key, size_t len, int32_t value) {
    LR_CHECK(len < EMPTY, "key too long");
    if (2 * (m->n + 1) > m->cap) grow(m);
    uint32_t h = lr_tok_strmap_hash(key, len);
    lr_tok_strmap_slot *s = find(m, key, len, h);
    if (s->len != EMPTY) {
        s->value = value;
        return;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 1 << 16;
        while (m->arena_len + len + 1 > cap) cap *= 2;
        m->arena = xrealloc(m->arena, cap);
        m->arena_cap = cap;
    }
    LR_CHECK(m->arena_len + len + 1 < EMPTY, "string map arena over 4 GiB");
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = 0;
    s->off = (uint32_t)m->arena_len;
    s->len = (uint32_t)len;
    s->hash = h;
    s->value = value;
    m->arena_len += len + 1;
    m->n++;
}

int32_t lr_tok_strmap_get(const lr_tok_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    lr_tok_strmap_slot *s = find(m, key, len, lr_tok_strmap_hash(key, len));
    return s->len == EMPTY ? -1 : s->value;
}
