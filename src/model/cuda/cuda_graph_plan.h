/* Host-side bookkeeping of the CUDA backend's step graphs (cuda_graph.cu):
 * plain C, no CUDA headers, header-only like cuda_plan.h, so that the CPU
 * unit test (tests/test_cuda_plan.c) checks the same code the backend runs.
 *
 * A caller brackets one step's ops with graph_begin(key) / graph_end
 * (backend.h). Per key the table keeps what the next bracket does:
 *   - EAGER   (first sighting, or after a miss): the ops run as usual while
 *             their arguments are hashed into a signature; this warm-up
 *             brings workspaces, GEMM plans and scratch buffers to their
 *             sizes, so that nothing is allocated while capturing;
 *   - CAPTURE (second sighting): the ops are recorded into a CUDA graph,
 *             not run; graph_end instantiates and launches it;
 *   - REPLAY  (later): each op only writes its host metadata at the offset
 *             it had when captured and adds its arguments to the signature;
 *             graph_end launches the graph when the signature equals the
 *             captured one, else drops the graph (the key warms up again)
 *             and the caller runs the ops once more, eagerly.
 * A key whose ops include one that cannot be captured (a download, a
 * training op) stays eager for good. The table is small and evicts the
 * least recently used key. */
#ifndef LR_CUDA_GRAPH_PLAN_H
#define LR_CUDA_GRAPH_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum { LR_GRAPH_OFF = 0, LR_GRAPH_EAGER, LR_GRAPH_CAPTURE, LR_GRAPH_REPLAY } lr_graph_mode;

#define LR_GRAPH_TABLE_CAP 48 /* keys per backend: batch sizes x models sharing it */

typedef struct {
    uint64_t key;
    uint64_t sig;        /* signature of the warm-up, then of the captured ops */
    void *exec;          /* the instantiated graph (cudaGraphExec_t), NULL before capture */
    uint64_t last_use;   /* LRU clock */
    size_t meta_bytes;   /* host metadata the warm-up staged (the ring must hold it unwrapped) */
    size_t meta_largest; /* ... and its largest single op */
    int warmed;          /* 1: an eager warm-up ran since the last miss */
    int never;           /* 1: an op here cannot be captured: always eager */
    int used;
} lr_graph_entry;

typedef struct {
    lr_graph_entry e[LR_GRAPH_TABLE_CAP];
    uint64_t clock;
} lr_graph_table;

/* One argument into a running signature (splitmix64-style finaliser, so
 * that swapped or shifted arguments give different signatures). */
static inline uint64_t lr_graph_mix(uint64_t h, uint64_t v) {
    uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The entry of key, made (evicting the least recently used entry, whose
 * exec goes to destroy_exec) when absent. Never NULL. */
static inline lr_graph_entry *lr_graph_take(lr_graph_table *t, uint64_t key, void (*destroy_exec)(void *exec)) {
    lr_graph_entry *victim = NULL;
    t->clock++;
    for (int i = 0; i < LR_GRAPH_TABLE_CAP; i++) {
        lr_graph_entry *e = &t->e[i];
        if (e->used && e->key == key) {
            e->last_use = t->clock;
            return e;
        }
        if (!victim || (!e->used && victim->used) || (e->used && victim->used && e->last_use < victim->last_use))
            victim = e;
    }
    if (victim->used && victim->exec && destroy_exec) destroy_exec(victim->exec);
    memset(victim, 0, sizeof *victim);
    victim->used = 1;
    victim->key = key;
    victim->last_use = t->clock;
    return victim;
}

/* What a bracket of this entry does. */
static inline lr_graph_mode lr_graph_mode_for(const lr_graph_entry *e) {
    if (e->never) return LR_GRAPH_EAGER;
    if (e->exec) return LR_GRAPH_REPLAY;
    return e->warmed ? LR_GRAPH_CAPTURE : LR_GRAPH_EAGER;
}

/* After an eager bracket: its signature and metadata sizes; unsupported =
 * an op could not be captured. */
static inline void lr_graph_after_eager(lr_graph_entry *e, uint64_t sig, size_t meta_bytes, size_t meta_largest,
                                        int unsupported) {
    e->sig = sig;
    e->meta_bytes = meta_bytes;
    e->meta_largest = meta_largest;
    e->warmed = 1;
    if (unsupported) e->never = 1;
}

/* After a capture: exec (NULL when the capture failed: the entry warms up
 * again; unsupported: for good). */
static inline void lr_graph_after_capture(lr_graph_entry *e, void *exec, uint64_t sig, int unsupported) {
    e->exec = exec;
    if (exec) e->sig = sig;
    else e->warmed = 0;
    if (unsupported) e->never = 1;
}

/* Whether a replay with this signature may launch the captured graph. On a
 * miss the caller destroys e->exec; the entry forgets it and warms up again
 * (never again captured when an op could not be). */
static inline int lr_graph_replay_ok(lr_graph_entry *e, uint64_t sig, int broken, int unsupported) {
    if (!broken && !unsupported && sig == e->sig) return 1;
    e->exec = NULL;
    e->warmed = 0;
    if (unsupported) e->never = 1;
    return 0;
}

/* Forgets every graph (destroy_exec on each), e.g. when a buffer the
 * graphs read was freed. */
static inline void lr_graph_table_clear(lr_graph_table *t, void (*destroy_exec)(void *exec)) {
    for (int i = 0; i < LR_GRAPH_TABLE_CAP; i++) {
        if (t->e[i].used && t->e[i].exec && destroy_exec) destroy_exec(t->e[i].exec);
        memset(&t->e[i], 0, sizeof t->e[i]);
    }
}

#endif
