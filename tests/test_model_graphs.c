/* The model's side of the backend's step graphs (backend.h graph_begin /
 * graph_end; the CUDA backend records and replays a decode step), on the
 * CPU with a stand-in: the CPU backend plus a bracket that, like a device
 * backend, hands argmax_rows' ids to the caller only in graph_end, and on
 * some brackets reports a miss (-1: the caller must run the step again; the
 * stand-in then drops the ids it held back). Greedy generation through it
 * must give the ids of the plain CPU backend, bit for bit, with:
 *   - one bracket per pure decode step (every slot one new token) and none
 *     around prefills or mixed prefill + decode steps (slot refills);
 *   - a miss on every third bracket: the step runs again eagerly;
 *   - brackets never nested, ops outside brackets unchanged;
 *   - a batch that shrinks as sequences finish (here at the context's end,
 *     one every two steps) is padded with idle slots to a few bucket sizes
 *     (7 sequences: 7, 4, 2, 1 rows), and the real rows' ids do not change;
 *   - sampled steps are padded the same way without top-p; with it they
 *     are neither padded nor bracketed (the host finishes a top-p
 *     nucleus: such a step is never replayed);
 *   - temperature / top-p sampling where the logits are (sample_rows, the
 *     draws taken from each sequence's stream by generate) gives the tokens
 *     of sampling from downloaded rows, with and without the brackets;
 *   - a backend's fused rope_kv_store (here the CPU's rope then kv_store)
 *     is what the model calls with a cache: the same tokens. */
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/model.h"
#include "test_util.h"

static lr_backend orig;  /* the CPU backend's own ops */
static int in_bracket, nested, brackets, misses, ops_in_bracket;
static uint64_t last_key;
static int sizes_seen[65]; /* rows of the bracketed steps (and of every sampled step) */
static struct {
    int32_t *ids;
    uint8_t *finite;
    int32_t held_ids[64];
    uint8_t held_finite[64];
    int n;
} held;

static void sb_argmax(lr_backend *be, const float *x, int M, int N, int32_t *ids, uint8_t *finite) {
    if (!in_bracket) {
        orig.argmax_rows(be, x, M, N, ids, finite);
        return;
    }
    ops_in_bracket++;
    if (M > 64) abort();
    sizes_seen[M]++;
    orig.argmax_rows(be, x, M, N, held.held_ids, held.held_finite);
    for (int i = 0; i < M; i++) ids[i] = -7, finite[i] = 9; /* not the caller's until graph_end */
    held.ids = ids, held.finite = finite, held.n = M;
}

static void sb_sample(lr_backend *be, const float *x, int M, int N, double t, double top_p, const double *u,
                      int32_t *ids, uint8_t *finite) {
    if (M > 64) abort();
    sizes_seen[M]++;
    if (!in_bracket) {
        orig.sample_rows(be, x, M, N, t, top_p, u, ids, finite);
        return;
    }
    ops_in_bracket++;
    orig.sample_rows(be, x, M, N, t, top_p, u, held.held_ids, held.held_finite);
    for (int i = 0; i < M; i++) ids[i] = -7, finite[i] = 9; /* not the caller's until graph_end */
    held.ids = ids, held.finite = finite, held.n = M;
}

static int fused_calls;
static void sb_rope_kv_store(lr_backend *be, float *qkv, int ld, int M, int n_heads, int n_kv, int hd, const int32_t *pos,
                             const float *inv_freq, void *k_dst, void *v_dst, const int64_t *dst_row) {
    fused_calls++;
    orig.rope(be, qkv, ld, M, n_heads + n_kv, hd, pos, inv_freq);
    const int w = n_kv * hd;
    orig.kv_store(be, k_dst, v_dst, dst_row, qkv + (size_t)n_heads * hd, qkv + (size_t)n_heads * hd + w, ld, M, w);
}

static void sb_begin(lr_backend *be, uint64_t key) {
    (void)be;
    if (in_bracket) nested++;
    in_bracket = 1;
    last_key = key;
    held.n = 0;
}

static int sb_end(lr_backend *be) {
    (void)be;
    in_bracket = 0;
    brackets++;
    if (brackets % 3 == 0) { /* a miss: nothing of this step counts */
        misses++;
        return -1;
    }
    memcpy(held.ids, held.held_ids, (size_t)held.n * sizeof *held.ids);
    memcpy(held.finite, held.held_finite, (size_t)held.n);
    return 0;
}

static void install(lr_model *m) {
    lr_backend *be = model_backend(m);
    orig = *be;
    be->argmax_rows = sb_argmax;
    be->sample_rows = sb_sample;
    be->rope_kv_store = sb_rope_kv_store;
    be->graph_begin = sb_begin;
    be->graph_end = sb_end;
}

/* Generation of n prompts (plen0 + 2 i tokens), batch B, greedy unless
 * sampling_params: returns the concatenated ids. */
static double g_temperature = 0, g_top_p = 1;
static int g_step_logits = 0; /* 1: sample from downloaded rows (no sample_rows) */
static int32_t *generate(lr_model *m, int n, int B, int max_new, int plen0, long *total) {
    const int V = model_vocab_size(m);
    int32_t *prompts[16], *out[16];
    const int ctx = model_config(m)->max_position_embeddings;
    int plens[16], olens[16];
    lr_finish_reason fin[16];
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        plens[i] = plen0 ? plen0 + 2 * i : 2 + i % 5;
        if (plens[i] >= ctx) abort();
        prompts[i] = malloc((size_t)plens[i] * sizeof *prompts[i]);
        for (int k = 0; k < plens[i]; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            prompts[i][k] = (int32_t)((s >> 33) % (uint64_t)V);
        }
    }
    lr_gen_params p = {.max_new_tokens = max_new,
                       .batch = B,
                       .no_step_logits = !g_step_logits,
                       .temperature = g_temperature,
                       .top_p = g_top_p,
                       .seed = 4242};
    /* prompts of different lengths and an EOS-free run: sequences end at max_new together per wave */
    EXPECT(model_generate(m, (const int32_t *const *)prompts, plens, n, &p, NULL, NULL, out, olens, fin) == 0,
           "model_generate");
    int32_t *all = malloc((size_t)n * max_new * sizeof *all);
    *total = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + *total, out[i], (size_t)olens[i] * sizeof *all);
        *total += olens[i];
        free(out[i]);
        free(prompts[i]);
    }
    return all;
}

int main(void) {
    lr_model_opts mo = {.n_threads = 2, .quiet = 1};
    lr_model *m = model_load(test_data_path("sample/expert"), &mo);
    EXPECT(m != NULL, "load the tiny expert");
    if (!m) return test_finish("test_model_graphs");
    const int n = 7, B = 3, max_new = 9;
    long n_ref = 0, n_got = 0;
    int32_t *ref = generate(m, n, B, max_new, 0, &n_ref);
    install(m);
    int32_t *got = generate(m, n, B, max_new, 0, &n_got);
    EXPECT(n_ref == n_got && n_ref > 0 && !memcmp(ref, got, (size_t)n_ref * sizeof *ref),
           "greedy ids through step-graph brackets (with misses) == without");
    /* 7 prompts in 3 slots, 9 tokens each, all ending together per wave: waves of 3, 3, 1 prompts,
     * each a prefill step (mixed with nothing) then 8 pure decode steps */
    EXPECT(brackets == 3 * (max_new - 1), "one bracket per pure decode step (got %d)", brackets);
    EXPECT(misses == brackets / 3 && misses > 0, "misses happened and were rerun (%d)", misses);
    EXPECT(nested == 0 && !in_bracket, "brackets never nest and all closed");
    EXPECT(ops_in_bracket == brackets, "the step's argmax ran inside each bracket");
    EXPECT(last_key != 0, "a key was given");
    EXPECT(fused_calls > 0, "the model calls a backend's fused rope_kv_store with a cache (%d calls)", fused_calls);
    EXPECT(sizes_seen[3] + sizes_seen[1] == brackets, "batches of 3 and 1 rows are not padded (capped at the batch)");
    *model_backend(m) = orig;
    free(ref);
    free(got);

    /* a shrinking batch: 7 prompts in 7 slots ending at the context (lengths ctx-16 .. ctx-4) */
    const int ctx = model_config(m)->max_position_embeddings, max_new2 = 40;
    ref = generate(m, 7, 7, max_new2, ctx - 16, &n_ref);
    install(m);
    memset(sizes_seen, 0, sizeof sizes_seen);
    brackets = misses = ops_in_bracket = 0;
    got = generate(m, 7, 7, max_new2, ctx - 16, &n_got);
    EXPECT(n_ref == n_got && n_ref == 16 + 14 + 12 + 10 + 8 + 6 + 4 && !memcmp(ref, got, (size_t)n_ref * sizeof *ref),
           "greedy ids of a shrinking, padded batch == without graphs (%ld tokens)", n_got);
    int other = 0;
    for (int k = 0; k <= 64; k++)
        if (k != 7 && k != 4 && k != 2 && k != 1) other += sizes_seen[k];
    EXPECT(other == 0 && sizes_seen[7] > 0 && sizes_seen[4] > 0 && sizes_seen[2] > 0 && sizes_seen[1] > 0,
           "decode steps padded to 7, 4, 2 and 1 rows (7:%d 4:%d 2:%d 1:%d, other %d)", sizes_seen[7], sizes_seen[4],
           sizes_seen[2], sizes_seen[1], other);
    *model_backend(m) = orig;
    free(ref);
    free(got);

    /* the shrinking batch sampled: without top-p padded as greedy; with top-p (its nucleus is finished
     * on the host, so such steps are never replayed) not padded */
    for (int k = 0; k < 2; k++) {
        g_temperature = 0.8, g_top_p = k ? 0.9 : 1.0;
        install(m);
        memset(sizes_seen, 0, sizeof sizes_seen);
        brackets = 0;
        free(generate(m, 7, 7, max_new2, ctx - 16, &n_got));
        *model_backend(m) = orig;
        const int unpadded = sizes_seen[3] + sizes_seen[5] + sizes_seen[6];
        EXPECT(k ? unpadded > 0 && brackets == 0 : unpadded == 0 && sizes_seen[4] > 0 && brackets > 0,
               "sampled shrinking batch (top-p %.1f): %s (3:%d 5:%d 6:%d; %d brackets)", g_top_p,
               k ? "steps neither padded nor bracketed" : "steps padded to buckets", sizes_seen[3], sizes_seen[5],
               sizes_seen[6], brackets);
    }
    g_temperature = 0, g_top_p = 1;

    /* sampling: rows downloaded and sampled by generate (the reference) vs sample_rows, with and
     * without the brackets; top-p < 1 and = 1 */
    const double tops[2] = {0.9, 1.0};
    for (int k = 0; k < 2; k++) {
        g_temperature = 0.8, g_top_p = tops[k];
        g_step_logits = 1;
        ref = generate(m, 7, 3, 12, 0, &n_ref);
        g_step_logits = 0;
        got = generate(m, 7, 3, 12, 0, &n_got);
        EXPECT(n_ref == n_got && !memcmp(ref, got, (size_t)n_ref * sizeof *ref),
               "sampled tokens (top-p %.1f): sample_rows == lr_sample on downloaded rows", tops[k]);
        free(got);
        install(m);
        brackets = misses = ops_in_bracket = 0;
        got = generate(m, 7, 3, 12, 0, &n_got);
        EXPECT(n_ref == n_got && !memcmp(ref, got, (size_t)n_ref * sizeof *ref) &&
                   (tops[k] < 1.0 ? brackets == 0 : brackets > 0 && misses > 0),
               "sampled tokens (top-p %.1f) %s (%d brackets)", tops[k],
               tops[k] < 1.0 ? "with no bracket" : "through brackets with misses", brackets);
        *model_backend(m) = orig;
        int distinct = 0; /* sampling, not greedy: the draws matter */
        for (long i = 1; i < n_ref; i++) distinct += ref[i] != ref[0];
        EXPECT(distinct > 0, "sampled tokens vary");
        free(ref);
        free(got);
    }
    model_free(m);
    return test_finish("test_model_graphs");
}
