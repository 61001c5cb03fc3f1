/* The CPU backend: memory, threads and the op table; the ops are in
 * cpu_gemm.c (matmul), cpu_ops.c and cpu_attention.c.
 *
 * Threads. Both kinds of work use the same n_threads cores:
 *   - default ("omp" GEMM threading): OpenBLAS is set to one thread and each
 *     matmul is split over OpenMP threads by output columns (weight rows),
 *     every thread calling single-threaded sgemm/sgemv on its slice. One
 *     thread pool for everything, so OpenBLAS's and libgomp's spinning
 *     workers never compete for the same cores between ops (on 2 cores that
 *     competition costs more than it saves in decode, where ops are short).
 *   - LR_GEMM_THREADS=blas: OpenBLAS gets n_threads and runs whole GEMMs
 *     itself; OpenMP runs the other ops. Kept for benchmarking.
 * Per-element summation order does not depend on the split, so results do
 * not change with the thread count.
 * openblas_set_num_threads() is process-wide: the model runtime owns it. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/check.h"
#include "model/cpu_ops.h"

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
    void *map_base;   /* NULL: aligned_alloc */
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
    openblas_set_num_threads(cx->gemm_omp ? 1 : n);
    free(cx->scratch); /* per-thread scratch is sized by the thread count */
    cx->scratch = NULL;
    cx->scratch_per_thread = 0;
}

static void cpu_destroy(lr_backend *be) {
    lr_cpu_ctx *cx = be->ctx;
    free(cx->scratch);
    free(cx->row_seq);
    free(cx->xt);
    free(cx);
    free(be);
}

lr_backend *lr_backend_cpu_new(int n_threads) {
    lr_backend *be = xcalloc(1, sizeof *be);
    lr_cpu_ctx *cx = xcalloc(1, sizeof *cx);
    const char *mode = getenv("LR_GEMM_THREADS");
    cx->gemm_omp = !(mode && !strcmp(mode, "blas"));
    const char *sk = getenv("LR_SKINNY");
    cx->skinny_t = !(sk && !strcmp(sk, "4x4"));
    be->name = "cpu";
    be->host_memory = 1;
    be->ctx = cx;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->set_threads = cpu_set_threads;
    be->destroy = cpu_destroy;
    be->embed = cpu_embed;
    be->matmul = cpu_matmul;
    be->rmsnorm = cpu_rmsnorm;
    be->rope = cpu_rope;
    be->swiglu = cpu_swiglu;
    be->add = cpu_add;
    be->gather_rows = cpu_gather_rows;
    be->kv_store = cpu_kv_store;
    be->attention = cpu_attention;
    be->log_softmax = cpu_log_softmax;
    cpu_set_threads(be, n_threads);
    return be;
}
