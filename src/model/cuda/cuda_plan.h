/* Host-side planning for the CUDA backend: plain C (also valid C++), no
 * CUDA headers, header-only (static inline), so the CUDA library and the
 * CPU unit test (tests/test_cuda_plan.c) each compile their own copy and no
 * library depends on another for it.
 *  - the cuBLASLt plan cache: one entry (descriptors + the algorithm the
 *    heuristic chose) per GEMM shape, keyed by everything that can change
 *    the choice (dtype, M, N, K, strides, bias, accumulate, the pointers'
 *    alignment); open addressing, linear probing, cleared when full;
 *  - the attention plans, built from an lr_attn_batch: per packed query
 *    row its position and the first KV row of its sequence (the row
 *    kernel), or per tile of up to `tile` query rows of one sequence its
 *    first row, row count, first position and KV row (the tiled kernel). */
#ifndef LR_CUDA_PLAN_H
#define LR_CUDA_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"

/* Everything a cached GEMM plan depends on. Compared field by field. */
typedef struct {
    int wdtype;     /* lr_dtype of the weight (A) */
    int M, N, K;    /* y (M, N) = x (M, K) . w (N, K)^T */
    int ldb, ldc;   /* strides of the GEMM input as the GEMM sees it, and of y */
    int bias;       /* 1: bias in the epilogue */
    int accumulate; /* 1: beta = 1 */
    int align_a, align_b, align_c; /* pointer alignment in bytes (1..256, a power of two) */
    int op;         /* 0: matmul (above); the trainer's (lr_gemm_train_key): LR_GEMM_OP_TRAIN + (ta << 1 | tb)
                     * for gemm, LR_GEMM_OP_DX for matmul_dx with bf16 weights */
    int lda;        /* the trainer's: A's stride */
} lr_gemm_key;
enum { LR_GEMM_OP_TRAIN = 1, LR_GEMM_OP_DX = 5 };

/* The largest power of two, at most 256, that divides the address (256 for NULL). */
static inline int lr_ptr_align(const void *p) {
    const uintptr_t a = (uintptr_t)p;
    if (a == 0) return 256;
    int al = 1;
    while (al < 256 && (a & (uintptr_t)(2 * al - 1)) == 0) al *= 2;
    return al;
}

static inline lr_gemm_key lr_gemm_key_make(lr_dtype wdtype, int M, int N, int K, int ldb, int ldc, int bias,
                                           int accumulate, const void *a, const void *b, const void *c) {
    lr_gemm_key k;
    memset(&k, 0, sizeof k);
    k.wdtype = (int)wdtype;
    k.M = M, k.N = N, k.K = K;
    k.ldb = ldb, k.ldc = ldc;
    k.bias = bias != 0;
    k.accumulate = accumulate != 0;
    k.align_a = lr_ptr_align(a);
    k.align_b = lr_ptr_align(b);
    k.align_c = lr_ptr_align(c);
    return k;
}

/* The key of a trainer GEMM (op: LR_GEMM_OP_TRAIN + (ta << 1 | tb), or
 * LR_GEMM_OP_DX), its shape as the op's arguments give it. */
static inline lr_gemm_key lr_gemm_train_key(int op, lr_dtype dtype, int M, int N, int K, int lda, int ldb, int ldc,
                                            const void *a, const void *b, const void *c) {
    lr_gemm_key k = lr_gemm_key_make(dtype, M, N, K, ldb, ldc, 0, 0, a, b, c);
    k.op = op, k.lda = lda;
    return k;
}

static inline int lr_gemm_key_eq(const lr_gemm_key *x, const lr_gemm_key *y) {
    return x->wdtype == y->wdtype && x->M == y->M && x->N == y->N && x->K == y->K && x->ldb == y->ldb &&
           x->ldc == y->ldc && x->bias == y->bias && x->accumulate == y->accumulate && x->align_a == y->align_a &&
           x->align_b == y->align_b && x->align_c == y->align_c && x->op == y->op && x->lda == y->lda;
}

static inline uint64_t lr_gemm_key_hash(const lr_gemm_key *k) {
    const int f[13] = {k->wdtype, k->M,       k->N,       k->K,       k->ldb, k->ldc, k->bias,
                       k->accumulate, k->align_a, k->align_b, k->align_c, k->op,  k->lda};
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the fields */
    for (int i = 0; i < 13; i++) {
        h ^= (uint64_t)(uint32_t)f[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

typedef struct {
    lr_gemm_key key;
    void *value; /* NULL: empty slot */
} lr_gemm_slot;

typedef struct {
    lr_gemm_slot *slots; /* (n_slots), a power of two >= 2 * capacity */
    int n_slots, capacity, size;
    long evictions;      /* entries destroyed because the cache was full */
    void (*destroy)(void *value, void *arg);
    void *arg;
} lr_gemm_cache;

/* A cache of at most `capacity` plans; `destroy` frees a value (may be
 * NULL). NULL when out of memory or capacity < 1. */
static inline lr_gemm_cache *lr_gemm_cache_new(int capacity, void (*destroy)(void *, void *), void *arg) {
    if (capacity < 1) return NULL;
    lr_gemm_cache *gc = (lr_gemm_cache *)calloc(1, sizeof *gc);
    if (!gc) return NULL;
    gc->n_slots = 2;
    while (gc->n_slots < 2 * capacity) gc->n_slots *= 2; /* load factor <= 1/2 */
    gc->slots = (lr_gemm_slot *)calloc((size_t)gc->n_slots, sizeof *gc->slots);
    if (!gc->slots) {
        free(gc);
        return NULL;
    }
    gc->capacity = capacity;
    gc->destroy = destroy;
    gc->arg = arg;
    return gc;
}

/* The value stored under key, or NULL. */
static inline void *lr_gemm_cache_get(const lr_gemm_cache *gc, const lr_gemm_key *key) {
    const unsigned mask = (unsigned)gc->n_slots - 1;
    for (unsigned i = (unsigned)lr_gemm_key_hash(key) & mask;; i = (i + 1) & mask) {
        const lr_gemm_slot *s = &gc->slots[i];
        if (!s->value) return NULL;
        if (lr_gemm_key_eq(&s->key, key)) return s->value;
    }
}

static inline void lr_gemm_cache_clear(lr_gemm_cache *gc) {
    for (int i = 0; i < gc->n_slots; i++)
        if (gc->slots[i].value) {
            if (gc->destroy) gc->destroy(gc->slots[i].value, gc->arg);
            gc->slots[i].value = NULL;
            gc->evictions++;
        }
    gc->size = 0;
}

/* Stores value under key. When the cache is full every entry is destroyed
 * first: shapes come in a few families per model, so a full cache means
 * the workload changed and the old plans are dead. 0, or -1 for a NULL
 * value or a key already present. */
static inline int lr_gemm_cache_put(lr_gemm_cache *gc, const lr_gemm_key *key, void *value) {
    if (!value || lr_gemm_cache_get(gc, key)) return -1;
    if (gc->size == gc->capacity) lr_gemm_cache_clear(gc);
    const unsigned mask = (unsigned)gc->n_slots - 1;
    unsigned i = (unsigned)lr_gemm_key_hash(key) & mask;
    while (gc->slots[i].value) i = (i + 1) & mask;
    gc->slots[i].key = *key;
    gc->slots[i].value = value;
    gc->size++;
    return 0;
}

/* Destroys every value and the cache. */
static inline void lr_gemm_cache_free(lr_gemm_cache *gc) {
    if (!gc) return;
    lr_gemm_cache_clear(gc);
    free(gc->slots);
    free(gc);
}

/* Attention plan for T packed query rows: row_pos[r] = the row's position
 * (it attends to keys 0..row_pos[r]), row_kv[r] = the KV row of its
 * sequence's position 0. 0, or -1 when b does not cover exactly rows
 * 0..T-1 in order (q_off not increasing from 0 to T, negative n_past or
 * kv_row). */
static inline int lr_attn_plan_rows(const lr_attn_batch *b, int T, int32_t *row_pos, int64_t *row_kv) {
    if (b->n_seq < 0 || (b->n_seq == 0 && T != 0) || (b->n_seq > 0 && b->q_off[0] != 0)) return -1;
    for (int s = 0; s < b->n_seq; s++) {
        const int q0 = b->q_off[s], q1 = b->q_off[s + 1];
        if (q1 < q0 || q1 > T || b->n_past[s] < 0 || b->kv_row[s] < 0) return -1;
        for (int r = q0; r < q1; r++) {
            row_pos[r] = b->n_past[s] + (r - q0);
            row_kv[r] = b->kv_row[s];
        }
    }
    return b->n_seq == 0 || b->q_off[b->n_seq] == T ? 0 : -1;
}

/* One tile of the tiled attention kernel: query rows row0 .. row0+n-1 of
 * one sequence, at positions pos0 .. pos0+n-1, its keys and values at
 * rows kv_row + 0 .. kv_row + pos0+n-1. */
typedef struct {
    int64_t kv_row;
    int32_t row0, n, pos0, pad;
} lr_attn_tile;

/* The number of tiles of at most `tile` rows that cover batch b (each
 * sequence's rows split from its first; empty sequences have none). */
static inline int lr_attn_plan_tile_count(const lr_attn_batch *b, int tile) {
    long n = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int rows = b->q_off[s + 1] - b->q_off[s];
        if (rows > 0) n += (rows + tile - 1) / tile;
    }
    return n > 0x7fffffffL ? -1 : (int)n;
}

/* The tiles of batch b (T rows, as lr_attn_plan_rows checks it) into
 * tiles[0 .. cap): their count, or -1 when b is inconsistent or cap is too
 * small. */
static inline int lr_attn_plan_tiles(const lr_attn_batch *b, int T, int tile, lr_attn_tile *tiles, int cap) {
    if (tile < 1 || b->n_seq < 0 || (b->n_seq == 0 && T != 0) || (b->n_seq > 0 && b->q_off[0] != 0)) return -1;
    int n = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int q0 = b->q_off[s], q1 = b->q_off[s + 1];
        if (q1 < q0 || q1 > T || b->n_past[s] < 0 || b->kv_row[s] < 0) return -1;
        for (int r = q0; r < q1; r += tile) {
            if (n == cap) return -1;
            lr_attn_tile *t = &tiles[n++];
            t->kv_row = b->kv_row[s];
            t->row0 = r;
            t->n = q1 - r < tile ? q1 - r : tile;
            t->pos0 = b->n_past[s] + (r - q0);
            t->pad = 0;
        }
    }
    return b->n_seq == 0 || b->q_off[b->n_seq] == T ? n : -1;
}

#endif
