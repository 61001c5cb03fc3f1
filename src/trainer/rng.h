/* Counter-based random numbers for the trainer.
 *
 * Every random draw is a pure function of (seed, a few integer keys): the
 * value depends on what it is for (which step, which sample of the global
 * batch, which position, layer, module, column), never on how many draws
 * came before. That gives three properties the trainer needs for free:
 *   - the dropout masks do not depend on the number of trainer ranks (a
 *     sample is keyed by its index in the global batch, not by the rank or
 *     the packed row that happens to hold it);
 *   - the "RNG state" of a checkpoint is just the seed and the step, so a
 *     resumed run draws exactly what the uninterrupted run drew;
 *   - the reference script (tests/reference/make_train_goldens.py) can
 *     rebuild the same masks and permutations with a few numpy lines.
 * The mixing function is splitmix64's finaliser. */
#ifndef LR_TRAINER_RNG_H
#define LR_TRAINER_RNG_H

#include <stdint.h>

#include "common/hash.h"

static inline uint64_t rng_mix(uint64_t z) { return lr_mix64(z + LR_SPLITMIX64_GAMMA); }

/* Chains keys into one 64-bit value: rng_key(rng_key(seed, a), b) ... */
static inline uint64_t rng_key(uint64_t h, uint64_t k) { return rng_mix(h ^ k); }

/* A uniform float in [0, 1) with 24 random bits (exact in fp32). */
static inline float rng_unit(uint64_t h) { return (float)(h >> 40) * (1.0f / 16777216.0f); }

/* Domain tags: different uses of the same seed never share a stream. */
enum { RNG_TAG_INIT = 0x1417, RNG_TAG_SHUFFLE = 0x5408, RNG_TAG_DROPOUT = 0xD809, RNG_TAG_BUFFER = 0xB0FF, RNG_TAG_PACK = 0x9AC5,
       RNG_TAG_PACK_BUFFER = 0x9AB0 };

/* A sequential stream (for initialisation and shuffling): draw i of stream
 * `key` is rng_key(key, i). */
typedef struct {
    uint64_t key;
    uint64_t i;
} lr_rng;

static inline uint64_t rng_next(lr_rng *r) { return rng_key(r->key, r->i++); }

/* Fisher-Yates permutation of [0, n) into perm, drawn from stream key:
 * for i = n-1 .. 1: j = next() % (i + 1), swap(perm[i], perm[j]). */
void rng_permutation(uint64_t key, int64_t n, int64_t *perm);

#endif
