/* The CPU backend: memory, threads, the choice of instruction set and the
 * op table; the kernels are in src/model/cpu/ (compiled once per ISA).
 *
 * Threads: one OpenMP pool for everything. OpenBLAS (used only inside
 * attention blocks, per thread) runs single-threaded, so its spinning
 * workers never compete with OpenMP's for the same cores. Every kernel's
 * per-element summation order is independent of the thread split, so
 * results do not change with the thread count.
 *
 * Instruction set: chosen once per process from cpuid (AVX-512F+BW+VL,
 * else AVX2+FMA, else portable C), or forced with LR_CPU_ISA=avx512|avx2|
 * generic. One binary runs on any x86-64; results are bit-identical for
 * any batch/thread/rank split within one ISA path, and differ in the last
 * bits between paths (16- vs 8-lane reductions). */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/check.h"
#include "io/safetensors.h"
#include "model/cpu_ops.h"
#include "model/sampling.h"

/* Every block is preceded by a 64-byte header recording how it was made:
 * large blocks come straight from mmap, start on a 2 MiB boundary and are
 * marked MADV_HUGEPAGE (weights are streamed at memory bandwidth in decode;
 * 4 KiB pages would stop the hardware prefetcher at every page), and their
 * pages become resident only when touched (a KV cache costs memory as it
 * fills); small blocks come from aligned_alloc + memset. */
#define HDR 64
#define HUGE_ALIGN ((size_t)2 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define BIG_BYTES SIZE_MAX /* keep ASan's redzones on every block */
#else
#define BIG_BYTES ((size_t)1 << 20)
#endif
typedef struct {
    void *map_base; /* NULL: aligned_alloc */
    size_t map_bytes;
} blk_hdr;

static void *cpu_alloc(lr_backend *be, size_t bytes) {
    (void)be;
    if (bytes >= BIG_BYTES) {
        const size_t total = bytes + 3 * HUGE_ALIGN; /* alignment slack + the header + madvise rounding */
        char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        LR_CHECK(p != MAP_FAILED, "out of memory mapping %zu bytes", bytes);
        char *start = (char *)(((uintptr_t)p + HUGE_ALIGN) & ~(uintptr_t)(HUGE_ALIGN - 1));
        if ((size_t)(start - p) < HDR) start += HUGE_ALIGN;
        madvise(start, (bytes + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1), MADV_HUGEPAGE);
        blk_hdr *h = (blk_hdr *)(start - HDR);
        h->map_base = p;
        h->map_bytes = total;
        return start;
    }
    const size_t n = HDR + (bytes + HDR - 1) / HDR * HDR;
    char *p = aligned_alloc(HDR, n);
    LR_CHECK(p != NULL, "out of memory allocating %zu bytes", bytes);
    memset(p, 0, n);
    return p + HDR;
}

static void cpu_free(lr_backend *be, void *q) {
    (void)be;
    if (!q) return;
    const blk_hdr *h = (const blk_hdr *)((char *)q - HDR);
    if (h->map_base) munmap(h->map_base, h->map_bytes);
    else free((char *)q - HDR);
}

static void cpu_copy(lr_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memcpy(dst, src, bytes);
}

static void cpu_set_threads(lr_backend *be, int n) {
    if (n <= 0) n = omp_get_max_threads();
    if (n < 1) n = 1;
    be->n_threads = n;
    lr_cpu_ctx *cx = be->ctx;
    openblas_set_num_threads(1);
    free(cx->scratch); /* per-thread scratch is sized by the thread count */
    cx->scratch = NULL;
    cx->scratch_per_thread = 0;
}

static void cpu_destroy(lr_backend *be) {
    lr_backend_emulate_bf16_free(be);
    lr_cpu_ctx *cx = be->ctx;
    free(cx->scratch);
    free(cx->xt);
    free(cx->sums);
    free(cx->attn_blocks);
    free(cx);
    free(be);
}

/* ---- instruction set */
static int isa_supported(const lr_cpu_isa *isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (isa == &lr_cpu_isa_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    if (isa == &lr_cpu_isa_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return isa == &lr_cpu_isa_generic;
}

static const lr_cpu_isa *isa_by_name(const char *name) {
    if (!strcmp(name, "generic")) return &lr_cpu_isa_generic;
#if defined(__x86_64__)
    if (!strcmp(name, "avx2")) return &lr_cpu_isa_avx2;
    if (!strcmp(name, "avx512")) return &lr_cpu_isa_avx512;
#endif
    return NULL;
}

static const lr_cpu_isa *cpu_isa(void) {
    static const lr_cpu_isa *chosen;
    if (chosen) return chosen;
    const char *env = getenv("LR_CPU_ISA");
    if (env && *env && strcmp(env, "auto")) {
        const lr_cpu_isa *isa = isa_by_name(env);
        if (!isa) lr_die_input("LR_CPU_ISA", "unknown instruction set '%s' (avx512, avx2, generic or auto)", env);
        if (!isa_supported(isa)) lr_die_input("LR_CPU_ISA", "this CPU cannot run the '%s' kernels", env);
        return chosen = isa;
    }
    const char *order[] = {"avx512", "avx2", "generic"};
    for (int i = 0; i < 3; i++) {
        const lr_cpu_isa *isa = isa_by_name(order[i]);
        if (isa && isa_supported(isa)) return chosen = isa;
    }
    return chosen = &lr_cpu_isa_generic;
}

const char *lr_cpu_isa_name(void) { return cpu_isa()->name; }

int lr_cpu_isa_available(const char *name) {
    const lr_cpu_isa *isa = isa_by_name(name);
    return isa && isa_supported(isa);
}

/* The GEMM's m-block: the x rows one core keeps in its L2 while the weight
 * rows stream past (a speed choice only: the results never depend on it). */
static size_t x_block_bytes(void) {
    long l2 = -1;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l2 < (256 << 10)) return (size_t)1 << 20; /* unknown or implausible */
    return l2 > (4 << 20) ? (size_t)4 << 20 : (size_t)l2;
}

/* Not per ISA: the same scalar scans as the host-side choice in generate.c
 * (lr_argmax, lr_row_finite), so either way gives the same ids. */
static void cpu_argmax_rows(lr_backend *be, const float *x, int M, int N, int32_t *ids, uint8_t *finite) {
    (void)be;
    for (int r = 0; r < M; r++) {
        const float *row = x + (size_t)r * N; /* (N) */
        ids[r] = lr_argmax(row, N);
        finite[r] = (uint8_t)lr_row_finite(row, N);
    }
}

/* Through the backend's own gemm (a wrapper such as the bf16 emulation
 * sees it): fp32 weights in one call, bf16 weights widened exactly 256
 * rows at a time with the products of the row blocks accumulated. */
static void cpu_matmul_dx(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K) {
    if (w.dtype == LR_F32 || N <= 0) {
        be->gemm(be, 0, 0, M, K, N > 0 ? N : 0, 1.0f, dy, N, w.data, K, 0.0f, dx, K);
        return;
    }
    enum { NB = 256 };
    float *wf = xmalloc((size_t)NB * (size_t)(K > 0 ? K : 1) * sizeof *wf); /* (NB, K) */
    const uint16_t *wb = w.data;                                            /* (N, K) bf16 */
    for (int n0 = 0; n0 < N; n0 += NB) {
        const int nb = N - n0 < NB ? N - n0 : NB;
        for (size_t i = 0; i < (size_t)nb * K; i++) wf[i] = st_bf16_to_f32(wb[(size_t)n0 * K + i]);
        be->gemm(be, 0, 0, M, K, nb, 1.0f, dy + n0, N, wf, K, n0 ? 1.0f : 0.0f, dx, K);
    }
    free(wf);
}

/* As generate.c samples from a row itself: the same function, the draw given. */
static void cpu_sample_rows(lr_backend *be, const float *x, int M, int N, double temperature, double top_p,
                            const double *u, int32_t *ids, uint8_t *finite) {
    (void)be;
    lr_sampler_scratch s = {0};
    for (int r = 0; r < M; r++) {
        const float *row = x + (size_t)r * N; /* (N) */
        finite[r] = (uint8_t)lr_row_finite(row, N);
        ids[r] = finite[r] ? lr_sample_u(row, N, temperature, top_p, u[r], &s) : lr_argmax(row, N);
    }
    lr_sampler_scratch_free(&s);
}

lr_backend *lr_backend_cpu_new_isa(const lr_cpu_isa *isa, int n_threads) {
    lr_backend *be = xcalloc(1, sizeof *be);
    lr_cpu_ctx *cx = xcalloc(1, sizeof *cx);
    *be = *isa; /* every op of the ISA's table (a table sets only name and ops) */
    be->name = "cpu";
    be->host_memory = 1;
    be->ctx = cx;
    cx->x_block_bytes = x_block_bytes();
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->set_threads = cpu_set_threads;
    be->destroy = cpu_destroy;
    be->argmax_rows = cpu_argmax_rows;
    be->sample_rows = cpu_sample_rows;
    be->matmul_dx = cpu_matmul_dx;
    cpu_set_threads(be, n_threads);
    return be;
}

lr_backend *lr_backend_cpu_new(int n_threads) { return lr_backend_cpu_new_isa(cpu_isa(), n_threads); }
