/* A growable array of token ids. */
#ifndef LR_TOK_IDVEC_H
#define LR_TOK_IDVEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/check.h"

typedef struct {
    int32_t *v;
    size_t n, cap;
} lr_idvec;

static inline void lr_idvec_reserve(lr_idvec *a, size_t extra) {
    if (a->n + extra <= a->cap) return;
    size_t cap = a->cap ? a->cap : 64;
    while (cap < a->n + extra) cap *= 2;
    a->v = xrealloc(a->v, cap * sizeof *a->v);
    a->cap = cap;
}

static inline void lr_idvec_push(lr_idvec *a, int32_t id) {
    lr_idvec_reserve(a, 1);
    a->v[a->n++] = id;
}

#endif
