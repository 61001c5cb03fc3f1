/* The BPE model of HF `tokenizers` on byte-level pieces: vocabulary, merge
 * ranks and the merge loop, with a cache of recently seen pieces. */
#ifndef LR_TOK_BPE_H
#define LR_TOK_BPE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/idvec.h"
#include "tokenizer/strmap.h"

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank, new_id;
} lr_merge_slot;

typedef struct {
    uint32_t hash, key_off, key_len, ids_off, ids_len; /* key_len UINT32_MAX = empty */
} lr_bpe_cache_slot;

typedef struct {
    pthread_mutex_t mu;
    lr_bpe_cache_slot *slots;
    char *keys;
    int32_t *ids;
    size_t n, keys_len, keys_cap, ids_len, ids_cap;
} lr_bpe_cache;

typedef struct {
    lr_tok_strmap vocab;      /* byte-level token string -> id */
    int32_t byte_id[256]; /* the token of each single byte, -1 if none */
    lr_merge_slot *merges;
    size_t merges_cap, n_merges;
    int ignore_merges;    /* a piece that is itself a token skips merging */
    int32_t unk_id;       /* -1: unknown characters are dropped (as HF) */
    int fuse_unk;
    lr_bpe_cache *cache;  /* mutable behind the const tokenizer */
} lr_bpe;

void lr_bpe_init(lr_bpe *m);
void lr_bpe_free(lr_bpe *m);
/* Adds the merge (a, b) with its rank (its index in the merges list).
 * Returns 0, or -1 with lr_error set when a, b or their concatenation is
 * not in the vocabulary; the error's location is printf(loc_fmt, file,
 * index), e.g. "%s:%ld" for merges.txt lines. (Formatted only on error:
 * there are ~150k merges to load.) */
int lr_bpe_add_merge(lr_bpe *m, const char *a, size_t al, const char *b, size_t bl, int32_t rank,
                     const char *loc_fmt, const char *file, long index);
/* Call once the vocabulary is complete. */
void lr_bpe_finish(lr_bpe *m);
/* Appends the ids of one pre-tokenized piece (raw bytes). Thread-safe. */
void lr_bpe_encode(const lr_bpe *m, const char *piece, size_t n, lr_idvec *out);

#endif
