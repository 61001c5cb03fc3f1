/* The project's two small non-cryptographic hashes, written once:
 *   - FNV-1a 64 over bytes: checksums and fingerprints (shard checksums,
 *     --resume keys, the problems digest). Their values are stored in run
 *     files and compared across versions, so the function never changes.
 *   - splitmix64: its finaliser (lr_mix64) turns a counter or a key into
 *     well-mixed bits (the trainer's counter-based random numbers, the
 *     seeds of sampling streams, the random test weights).
 * Inline: the random-number users call them per element. */
#ifndef LR_COMMON_HASH_H
#define LR_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* included by the CUDA backend through model/backend.h */
#endif

/* FNV-1a 64: start from LR_FNV1A64_INIT, continue with each piece. */
#define LR_FNV1A64_INIT 0xcbf29ce484222325ULL
/* The basis the --resume keys and the eval fingerprint have always started
 * from (the standard one with a digit lost); kept so that those stored
 * keys still match. */
#define LR_FNV1A64_INIT_RESUME 1469598103934665603ULL
uint64_t lr_fnv1a64(uint64_t h, const void *data, size_t n);
/* The bytes of a NUL-terminated string (NULL: none). */
uint64_t lr_fnv1a64_str(uint64_t h, const char *s);

/* splitmix64's golden-ratio increment. */
#define LR_SPLITMIX64_GAMMA 0x9E3779B97F4A7C15ULL

/* splitmix64's output function (Stafford's mix 13) of z. */
static inline uint64_t lr_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* One step of the splitmix64 generator: advances *state, returns a draw. */
static inline uint64_t lr_splitmix64(uint64_t *state) { return lr_mix64(*state += LR_SPLITMIX64_GAMMA); }

#ifdef __cplusplus
}
#endif

#endif
