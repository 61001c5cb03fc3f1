/* The CUDA backend's host-side planning (src/model/cuda/cuda_plan.h) and
 * the device choice (src/model/device.c), on the CPU: the GEMM plan cache
 * (keys, lookups, clear-all eviction with every plan destroyed once), the
 * pointer alignment that keys carry, the attention row plan of a ragged
 * batch (and its refusal of inconsistent batches), --device parsing, the
 * GPU of a local rank and the local rank (MPI first, then launcher
 * variables), and the step graphs' table (src/model/cuda/cuda_graph_plan.h:
 * warm-up, capture, replay, misses, keys that stay eager, LRU eviction). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/node_rank.h"
#include "model/cuda/cuda_graph_plan.h"
#include "model/cuda/cuda_plan.h"
#include "model/device.h"
#include "test_util.h"

static int destroyed;
static void count_destroy(void *v, void *arg) {
    (void)arg;
    destroyed++;
    free(v);
}

static void test_align(void) {
    EXPECT(lr_ptr_align(NULL) == 256, "NULL counts as fully aligned");
    EXPECT(lr_ptr_align((void *)(uintptr_t)4096) == 256, "4096 -> 256 (the cap)");
    EXPECT(lr_ptr_align((void *)(uintptr_t)(4096 + 12)) == 4, "4096+12 -> 4");
    EXPECT(lr_ptr_align((void *)(uintptr_t)(4096 + 48)) == 16, "4096+48 -> 16");
    EXPECT(lr_ptr_align((void *)(uintptr_t)(4096 + 1)) == 1, "odd -> 1");
    EXPECT(lr_ptr_align((void *)(uintptr_t)(4096 + 128)) == 128, "+128 -> 128");
}

static void test_cache(void) {
    char *base = (char *)(uintptr_t)0x10000;
    lr_gemm_cache *gc = lr_gemm_cache_new(8, count_destroy, NULL);
    lr_gemm_key k1 = lr_gemm_key_make(LR_BF16, 1, 1536, 1536, 1536, 1536, 0, 0, base, base, base);
    lr_gemm_key k2 = k1;
    k2.M = 2;
    lr_gemm_key k3 = lr_gemm_key_make(LR_BF16, 1, 1536, 1536, 1536, 1536, 0, 0, base, base + 12, base);
    lr_gemm_key k4 = lr_gemm_key_make(LR_F32, 1, 1536, 1536, 1536, 1536, 0, 0, base, base, base);
    lr_gemm_key k5 = lr_gemm_key_make(LR_BF16, 1, 1536, 1536, 1536, 1536, 1, 0, base, base, base);
    lr_gemm_key k6 = lr_gemm_key_make(LR_BF16, 1, 1536, 1536, 1536, 1536, 0, 1, base, base, base);
    EXPECT(k3.align_b == 4 && k1.align_b == 256, "alignment is part of the key (%d %d)", k3.align_b, k1.align_b);
    EXPECT(lr_gemm_cache_get(gc, &k1) == NULL, "empty cache misses");
    int *v1 = malloc(sizeof *v1), *v2 = malloc(sizeof *v2);
    lr_gemm_cache_put(gc, &k1, v1);
    lr_gemm_cache_put(gc, &k2, v2);
    EXPECT(lr_gemm_cache_get(gc, &k1) == v1 && lr_gemm_cache_get(gc, &k2) == v2, "hits return their own plan");
    /* the trainer's GEMMs share the cache: their op (transposes, matmul_dx) and A's stride are in the key */
    lr_gemm_key t1 = lr_gemm_train_key(LR_GEMM_OP_TRAIN, LR_BF16, 1, 1536, 1536, 1536, 1536, 1536, base, base, base);
    lr_gemm_key t2 = lr_gemm_train_key(LR_GEMM_OP_TRAIN + 2, LR_BF16, 1, 1536, 1536, 1536, 1536, 1536, base, base, base);
    lr_gemm_key t3 = lr_gemm_train_key(LR_GEMM_OP_TRAIN, LR_BF16, 1, 1536, 1536, 1540, 1536, 1536, base, base, base);
    EXPECT(t1.op == LR_GEMM_OP_TRAIN && t1.lda == 1536 && k1.op == 0 && k1.lda == 0, "train keys: op and lda set");
    const lr_gemm_key *others[] = {&k3, &k4, &k5, &k6, &t1, &t2, &t3};
    for (int i = 0; i < 7; i++) EXPECT(lr_gemm_cache_get(gc, others[i]) == NULL, "key %d differs in one field", i);
    EXPECT(gc->size == 2, "size 2");
    EXPECT(lr_gemm_cache_put(gc, &k1, v2) == -1 && lr_gemm_cache_get(gc, &k1) == v1, "a key is stored once");
    EXPECT(lr_gemm_cache_put(gc, &k3, NULL) == -1, "NULL values refused");
    /* fill to capacity, then one more: everything is destroyed first */
    for (int m = 10; m < 16; m++) {
        lr_gemm_key k = k1;
        k.M = m;
        lr_gemm_cache_put(gc, &k, malloc(1));
    }
    EXPECT(gc->size == 8 && destroyed == 0, "full at 8, nothing destroyed yet");
    lr_gemm_key k9 = k1;
    k9.M = 99;
    int *v9 = malloc(sizeof *v9);
    lr_gemm_cache_put(gc, &k9, v9);
    EXPECT(destroyed == 8 && gc->size == 1 && gc->evictions == 8,
           "a put into a full cache destroys all 8 (%d, size %d)", destroyed, gc->size);
    EXPECT(lr_gemm_cache_get(gc, &k1) == NULL && lr_gemm_cache_get(gc, &k9) == v9, "only the new plan remains");
    lr_gemm_cache_free(gc);
    EXPECT(destroyed == 9, "free destroys the rest (%d)", destroyed);
    /* many keys in a big cache: every one found (probing across collisions) */
    destroyed = 0;
    gc = lr_gemm_cache_new(1024, count_destroy, NULL);
    for (int m = 1; m <= 1000; m++) {
        lr_gemm_key k = lr_gemm_key_make(LR_BF16, m, 8960 * 2, 1536, 1536, 8960 * 2, m & 1, 0, base, base, base);
        int *v = malloc(sizeof *v);
        *v = m;
        lr_gemm_cache_put(gc, &k, v);
    }
    int bad = 0;
    for (int m = 1; m <= 1000; m++) {
        lr_gemm_key k = lr_gemm_key_make(LR_BF16, m, 8960 * 2, 1536, 1536, 8960 * 2, m & 1, 0, base, base, base);
        int *v = lr_gemm_cache_get(gc, &k);
        bad += !v || *v != m;
    }
    EXPECT(bad == 0 && destroyed == 0, "1000 keys all found (%d bad)", bad);
    lr_gemm_cache_free(gc);
    EXPECT(destroyed == 1000, "1000 destroyed at free");
}

static void test_attn_plan(void) {
    const int q_off[4] = {0, 5, 6, 23}, n_past[3] = {0, 40, 3};
    const int64_t kv_row[3] = {0, 100, 300};
    lr_attn_batch b = {.n_seq = 3, .q_off = q_off, .n_past = n_past, .kv_row = kv_row};
    int32_t pos[23];
    int64_t kv[23];
    EXPECT(lr_attn_plan_rows(&b, 23, pos, kv) == 0, "a consistent batch plans");
    EXPECT(pos[0] == 0 && pos[4] == 4 && kv[4] == 0, "sequence 0: positions 0..4 from row 0");
    EXPECT(pos[5] == 40 && kv[5] == 100, "sequence 1: one query at position 40");
    EXPECT(pos[6] == 3 && pos[22] == 19 && kv[22] == 300, "sequence 2: positions 3..19");
    EXPECT(lr_attn_plan_rows(&b, 24, pos, kv) != 0, "rows beyond the batch are refused");
    const int bad_off[4] = {0, 6, 5, 23};
    lr_attn_batch b2 = b;
    b2.q_off = bad_off;
    EXPECT(lr_attn_plan_rows(&b2, 23, pos, kv) != 0, "decreasing q_off refused");
    const int neg[3] = {0, -1, 0};
    b2 = b;
    b2.n_past = neg;
    EXPECT(lr_attn_plan_rows(&b2, 23, pos, kv) != 0, "negative n_past refused");
    lr_attn_batch e = {.n_seq = 0};
    EXPECT(lr_attn_plan_rows(&e, 0, pos, kv) == 0, "an empty batch plans");

    /* tiles of at most 8 rows: 5 -> 1 tile, 1 -> 1, 17 -> 8 + 8 + 1 */
    lr_attn_tile t[8];
    EXPECT(lr_attn_plan_tile_count(&b, 8) == 5, "5 tiles of <= 8 rows");
    EXPECT(lr_attn_plan_tiles(&b, 23, 8, t, 8) == 5, "the tiles plan");
    EXPECT(t[0].row0 == 0 && t[0].n == 5 && t[0].pos0 == 0 && t[0].kv_row == 0, "tile 0: sequence 0 whole");
    EXPECT(t[1].row0 == 5 && t[1].n == 1 && t[1].pos0 == 40 && t[1].kv_row == 100, "tile 1: the decode row");
    EXPECT(t[2].row0 == 6 && t[2].n == 8 && t[2].pos0 == 3 && t[2].kv_row == 300, "tile 2: rows 6..13");
    EXPECT(t[3].row0 == 14 && t[3].n == 8 && t[3].pos0 == 11, "tile 3: rows 14..21 at positions 11..18");
    EXPECT(t[4].row0 == 22 && t[4].n == 1 && t[4].pos0 == 19, "tile 4: the last row");
    int covered = 0;
    for (int i = 0; i < 5; i++) covered += t[i].n;
    EXPECT(covered == 23, "the tiles cover every row once");
    EXPECT(lr_attn_plan_tiles(&b, 23, 8, t, 4) < 0, "too small a tile array refused");
    EXPECT(lr_attn_plan_tiles(&b, 24, 8, t, 8) < 0, "rows beyond the batch refused");
    EXPECT(lr_attn_plan_tiles(&b, 23, 0, t, 8) < 0, "tile 0 refused");
    b2 = b;
    b2.q_off = bad_off;
    EXPECT(lr_attn_plan_tiles(&b2, 23, 8, t, 8) < 0, "decreasing q_off refused (tiles)");
    const int empty_off[3] = {0, 0, 4}, ep[2] = {7, 0};
    const int64_t ekv[2] = {0, 9};
    lr_attn_batch b3 = {.n_seq = 2, .q_off = empty_off, .n_past = ep, .kv_row = ekv};
    EXPECT(lr_attn_plan_tile_count(&b3, 64) == 1 && lr_attn_plan_tiles(&b3, 4, 64, t, 8) == 1 && t[0].row0 == 0 &&
               t[0].n == 4 && t[0].kv_row == 9,
           "an empty sequence has no tile");
    EXPECT(lr_attn_plan_tiles(&e, 0, 64, t, 8) == 0, "an empty batch has no tiles");
}

static void test_device(void) {
    lr_device_kind k;
    EXPECT(lr_device_parse("cpu", &k) == 0 && k == LR_DEVICE_CPU, "cpu");
    EXPECT(lr_device_parse("cuda", &k) == 0 && k == LR_DEVICE_CUDA, "cuda");
    EXPECT(lr_device_parse("auto", &k) == 0 && k == LR_DEVICE_AUTO, "auto");
    EXPECT(lr_device_parse(NULL, &k) == 0 && k == LR_DEVICE_AUTO, "NULL = auto");
    EXPECT(lr_device_parse("tpu", &k) != 0, "unknown names refused");
    EXPECT(lr_device_gpu_index(0, 8) == 0 && lr_device_gpu_index(5, 4) == 1 && lr_device_gpu_index(3, 0) == -1,
           "GPU = local rank mod GPUs");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK"), unsetenv("SLURM_LOCALID"), unsetenv("MPI_LOCALRANKID");
    unsetenv("PMI_LOCAL_RANK");
    EXPECT(lr_device_local_rank() == 0, "no launcher: local rank 0");
    setenv("SLURM_LOCALID", "3", 1);
    EXPECT(lr_device_local_rank() == 3, "SLURM_LOCALID");
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "2", 1);
    EXPECT(lr_device_local_rank() == 2, "Open MPI's variable first");
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x", 1);
    EXPECT(lr_device_local_rank() == 3, "a malformed value is skipped");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK"), unsetenv("SLURM_LOCALID");
    setenv("SLURM_LOCALID", "3", 1);
    lr_node_rank_set(5); /* MPI's node-local rank wins over the launchers' variables */
    EXPECT(lr_device_local_rank() == 5, "MPI_COMM_TYPE_SHARED's rank first");
    lr_node_rank_set(-1);
    unsetenv("SLURM_LOCALID");
    /* auto here: CUDA only when compiled in and a GPU is usable; training never */
    EXPECT(lr_device_resolve("cpu", "t") == LR_DEVICE_CPU, "cpu resolves to cpu");
    const lr_device_kind a = lr_device_resolve("auto", "t");
    EXPECT(a == LR_DEVICE_CPU || (a == LR_DEVICE_CUDA && lr_device_cuda_compiled()), "auto resolves");
    if (a == LR_DEVICE_CPU) EXPECT((int)lr_device_resolve("cuda", "t") == -1, "cuda without a GPU: an error");
    EXPECT((int)lr_device_resolve("npu", "t") == -1, "bad name: an error");
}

static int execs_destroyed;
static void count_exec(void *exec) {
    (void)exec;
    execs_destroyed++;
}

static void test_graph_table(void) {
    static lr_graph_table t; /* zero: empty */
    int dummy[3];
    lr_graph_entry *e = lr_graph_take(&t, 42, count_exec);
    EXPECT(e->key == 42 && e->used, "a new key gets an entry");
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_EAGER, "first sighting: eager warm-up");
    lr_graph_after_eager(e, 1234, 4096, 512, 0);
    EXPECT(lr_graph_take(&t, 42, count_exec) == e, "the same key finds its entry");
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_CAPTURE, "second sighting: capture");
    EXPECT(e->meta_bytes == 4096 && e->meta_largest == 512, "the warm-up's metadata sizes are kept for the capture");
    lr_graph_after_capture(e, NULL, 99, 0);
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_EAGER, "a failed capture warms up again");
    lr_graph_after_eager(e, 1234, 4096, 512, 0);
    lr_graph_after_capture(e, &dummy[0], 1234, 0);
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_REPLAY && e->sig == 1234, "captured: replay under its signature");
    EXPECT(lr_graph_replay_ok(e, 1234, 0, 0) == 1 && e->exec == &dummy[0], "same signature: launch");
    EXPECT(lr_graph_replay_ok(e, 1234, 1, 0) == 0 && e->exec == NULL, "a broken bracket is a miss");
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_EAGER, "after a miss: warm up again");
    lr_graph_after_eager(e, 77, 4096, 512, 0);
    lr_graph_after_capture(e, &dummy[1], 77, 0);
    EXPECT(lr_graph_replay_ok(e, 78, 0, 0) == 0 && !e->exec, "another signature is a miss");
    lr_graph_after_eager(e, 77, 4096, 512, 1);
    EXPECT(e->never && lr_graph_mode_for(e) == LR_GRAPH_EAGER, "an op that cannot be captured: eager");
    lr_graph_after_eager(e, 77, 4096, 512, 0);
    EXPECT(lr_graph_mode_for(e) == LR_GRAPH_EAGER, "... for good");

    /* LRU: LR_GRAPH_TABLE_CAP keys with graphs; one more evicts the oldest use */
    lr_graph_table_clear(&t, count_exec);
    execs_destroyed = 0;
    for (int i = 0; i < LR_GRAPH_TABLE_CAP; i++) {
        lr_graph_entry *x = lr_graph_take(&t, 1000 + (uint64_t)i, count_exec);
        lr_graph_after_eager(x, 5, 0, 0, 0);
        lr_graph_after_capture(x, &dummy[2], 5, 0);
    }
    lr_graph_take(&t, 1000, count_exec); /* key 1000 used again: key 1001 is now the oldest */
    EXPECT(execs_destroyed == 0, "no eviction while the table has room");
    lr_graph_entry *n = lr_graph_take(&t, 5000, count_exec);
    EXPECT(execs_destroyed == 1 && n->key == 5000 && !n->exec && lr_graph_mode_for(n) == LR_GRAPH_EAGER,
           "a new key evicts one entry and destroys its graph");
    int found_1000 = 0, found_1001 = 0;
    for (int i = 0; i < LR_GRAPH_TABLE_CAP; i++) {
        found_1000 += t.e[i].used && t.e[i].key == 1000;
        found_1001 += t.e[i].used && t.e[i].key == 1001;
    }
    EXPECT(found_1000 == 1 && found_1001 == 0, "the least recently used key went, the recently used stayed");
    lr_graph_table_clear(&t, count_exec);
    EXPECT(execs_destroyed == LR_GRAPH_TABLE_CAP, "clear destroys every remaining graph once");

    /* signatures: order and value sensitive */
    const uint64_t a = lr_graph_mix(lr_graph_mix(0, 1), 2), b = lr_graph_mix(lr_graph_mix(0, 2), 1);
    EXPECT(a != b, "swapped arguments give another signature");
    EXPECT(lr_graph_mix(lr_graph_mix(0, 1), 2) == a, "the same arguments give the same signature");
    EXPECT(lr_graph_mix(0, 0) != 0 && lr_graph_mix(0, 1) != lr_graph_mix(0, 2), "small values spread");
}

int main(void) {
    test_align();
    test_cache();
    test_attn_plan();
    test_device();
    test_graph_table();
    return test_finish("test_cuda_plan");
}
