/* The CPU backend's private state and its per-ISA kernel tables. Internal
 * to the CPU backend: model code reaches the kernels only through
 * lr_backend function pointers. */
#ifndef LR_CPU_OPS_H
#define LR_CPU_OPS_H

#include <stdlib.h>

#include "common/check.h"
#include "model/backend.h"

/* Backend private state. */
typedef struct {
    float *scratch; /* attention scores, (n_threads, scratch_per_thread) */
    size_t scratch_per_thread;
    int *attn_blocks; /* (attn_blocks_cap) attention work blocks: (first packed query row, sequence) pairs */
    size_t attn_blocks_cap;
    struct emu_ctx *emu;  /* bf16 emulation state (backend_bf16emu.c) or NULL */
    size_t x_block_bytes; /* GEMM m-block: bytes of x rows kept in a core's L2 (0: 1 MiB) */
    float *xt;            /* (xt_cap) a decode batch's x transposed k-major (gemm.c) */
    size_t xt_cap;
    float *sums; /* (sums_cap) the GEMM's running sums, a block per thread (gemm.c) */
    size_t sums_cap;
} lr_cpu_ctx;

/* A scratch buffer of at least `need` elements of `size` bytes: p itself
 * when *cap already holds them, else a fresh one (the contents are not
 * kept; *cap is updated). */
static inline void *lr_cpu_grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    free(p);
    *cap = need;
    return xmalloc(need * size);
}

/* Frees the emulation state of a backend (called by its destroy). */
void lr_backend_emulate_bf16_free(lr_backend *be);

/* One instruction set's kernels (src/model/cpu/kernels.c compiled with
 * its flags): an lr_backend with only `name` ("avx512", "avx2",
 * "generic") and the op pointers set; lr_backend_cpu_new_isa copies the
 * ops of one. Contracts as in backend.h. */
typedef lr_backend lr_cpu_isa;

extern const lr_cpu_isa lr_cpu_isa_generic;
#if defined(__x86_64__)
extern const lr_cpu_isa lr_cpu_isa_avx2;
extern const lr_cpu_isa lr_cpu_isa_avx512;
#endif

/* A CPU backend computing with one ISA's kernels (lr_backend_cpu_new picks
 * the best the CPU supports, or LR_CPU_ISA's); tests compare the paths. */
lr_backend *lr_backend_cpu_new_isa(const lr_cpu_isa *isa, int n_threads);

#endif
