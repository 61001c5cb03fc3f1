/* Open-addressing hash map from byte strings to int32 values. Keys are
 * copied into the map's own arena, so callers may pass transient buffers. */
#ifndef LR_TOK_STRMAP_H
#define LR_TOK_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t off, len; /* key bytes in the arena */
    uint32_t hash;
    int32_t value;
} lr_tok_strmap_slot;

typedef struct {
    lr_tok_strmap_slot *slots; /* len == UINT32_MAX marks an empty slot */
    size_t cap, n;         /* cap is a power of two */
    char *arena;           /* keys, each NUL-terminated */
    size_t arena_len, arena_cap;
} lr_tok_strmap;

void lr_tok_strmap_init(lr_tok_strmap *m);
void lr_tok_strmap_free(lr_tok_strmap *m);
uint32_t lr_tok_strmap_hash(const char *key, size_t len);
/* Inserts or overwrites. */
void lr_tok_strmap_put(lr_tok_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t lr_tok_strmap_get(const lr_tok_strmap *m, const char *key, size_t len);

#endif
