/* Invariants of the runtime that need no reference implementation:
 *   - KV-cache prefill + decode logits == full forward logits at every step,
 *     bit for bit (every matmul, norm and attention row is computed by the
 *     same fixed-order operations whatever the rows that come with it), also
 *     with several slots decoding together, with a prompt split over several
 *     passes, and with slots cleared and reused;
 *   - a ragged batch == each sequence alone; results do not depend on the
 *     thread count;
 *   - generation: the step callback sees the logits the token came from;
 *     slot refilling gives the same outputs as any batch size; EOS and
 *     context limits; the same seed twice == identical samples; batch 1 vs 4
 *     sampled outputs identical; another seed differs;
 *   - errors: out-of-vocabulary ids, context overflow, cache overflow. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/model.h"
#include "test_model_util.h"
#include "test_util.h"

#define TOL 0.0 /* bit for bit: |diff| == 0 */

static uint64_t lcg = 12345;
static int32_t rnd_id(int V) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((lcg >> 33) % (uint64_t)V);
}

static void fill_ids(int32_t *x, int n, int V) {
    for (int i = 0; i < n; i++) x[i] = rnd_id(V);
}

/* Full-forward logits (L, V) of one sequence. */
static float *full_logits(lr_model *m, const int32_t *ids, int L) {
    const int V = model_vocab_size(m);
    float *lg = malloc((size_t)L * V * sizeof(float));
    int lens[1] = {L};
    EXPECT(model_forward(m, ids, lens, 1, 1, lg) == 0, "forward: %s", lr_error_msg());
    return lg;
}

static void check_cache_decode(lr_model *m, const char *name) {
    const int V = model_vocab_size(m), NS = 3;
    const int L[3] = {30, 17, 24}, P[3] = {5, 1, 9}; /* lengths, prompt lengths */
    int32_t ids[3][32];
    float *ref[3];
    for (int s = 0; s < NS; s++) {
        fill_ids(ids[s], L[s], V);
        ref[s] = full_logits(m, ids[s], L[s]);
    }
    lr_kv_cache *c = kv_cache_new(m, 4, 32);
    /* slots 3, 0, 2 hold sequences 0, 1, 2; slot 1 stays empty */
    const int slot_of[3] = {3, 0, 2};
    /* prefill all three prompts in one call, with all_logits */
    int32_t packed[64];
    int np = 0, nn[3];
    for (int s = 0; s < NS; s++) {
        memcpy(packed + np, ids[s], P[s] * sizeof(int32_t));
        np += P[s];
        nn[s] = P[s];
    }
    float *last = malloc((size_t)NS * V * sizeof(float)), *all = malloc((size_t)np * V * sizeof(float));
    EXPECT(model_extend(m, c, slot_of, packed, nn, NS, last, all) == 0, "%s prefill: %s", name, lr_error_msg());
    double worst = 0;
    for (int s = 0, o = 0; s < NS; s++) {
        worst = fmax(worst, max_scaled_diff(all + (size_t)o * V, ref[s], (long)P[s] * V, V));
        worst = fmax(worst, max_scaled_diff(last + (size_t)s * V, ref[s] + (size_t)(P[s] - 1) * V, V, V));
        o += P[s];
        EXPECT(kv_cache_len(c, slot_of[s]) == P[s], "%s: slot %d holds %d", name, slot_of[s], kv_cache_len(c, slot_of[s]));
    }
    EXPECT(worst <= TOL, "%s: prefill logits differ from full forward by %.3g", name, worst);
    /* decode together, one token per still-running sequence per step */
    double wd = 0;
    for (int step = 0;; step++) {
        int sl[3], nn1[3], who[3], k = 0;
        int32_t tk[3];
        for (int s = 0; s < NS; s++)
            if (P[s] + step < L[s]) {
                sl[k] = slot_of[s], tk[k] = ids[s][P[s] + step], nn1[k] = 1, who[k] = s;
                k++;
            }
        if (!k) break;
        EXPECT(model_extend(m, c, sl, tk, nn1, k, last, NULL) == 0, "%s decode: %s", name, lr_error_msg());
        for (int i = 0; i < k; i++) {
            const int s = who[i], pos = P[s] + step;
            double d = max_scaled_diff(last + (size_t)i * V, ref[s] + (size_t)pos * V, V, V);
            if (d > TOL) EXPECT(0, "%s: decode step %d of seq %d: logits differ by %.3g", name, step, s, d);
            wd = fmax(wd, d);
        }
    }
    printf("%s: cache prefill max |diff| %.3g, decode %.3g\n", name, worst, wd);
    /* clear a slot and reuse it for another sequence */
    kv_cache_clear_slot(c, 0);
    int one = L[2], s0 = 0;
    EXPECT(model_extend(m, c, &s0, ids[2], &one, 1, last, NULL) == 0, "reuse: %s", lr_error_msg());
    double d = max_scaled_diff(last, ref[2] + (size_t)(L[2] - 1) * V, V, V);
    EXPECT(d <= TOL, "%s: reused slot logits differ by %.3g", name, d);
    /* overflow of a slot */
    int n9 = 9, s3 = 3;
    EXPECT(model_extend(m, c, &s3, ids[0], &n9, 1, last, NULL) != 0, "%s: slot overflow accepted", name);
    EXPECT(strstr(lr_error_msg(), "overflow") != NULL, "%s: overflow message: %s", name, lr_error_msg());
    int dup_slots[2] = {2, 2}, dup_n[2] = {1, 1}, bad_slots[2] = {2, 9};
    EXPECT(model_extend(m, c, dup_slots, ids[0], dup_n, 2, last, NULL) != 0, "%s: a slot twice accepted", name);
    EXPECT(model_extend(m, c, bad_slots, ids[0], dup_n, 2, last, NULL) != 0, "%s: slot 9 of 4 accepted", name);
    int two = 2;
    EXPECT(model_extend(m, c, dup_slots, ids[0], &two, 1, last, NULL) == 0, "%s: slot 2 after rejected calls: %s", name,
           lr_error_msg());
    kv_cache_free(c);

    /* a block of >= 16 tokens on top of a cached prefix (GEMM attention with a past) */
    c = kv_cache_new(m, 1, 32);
    int s0b = 0, n5 = 5, n20 = 20;
    float *all20 = malloc((size_t)20 * V * sizeof(float));
    EXPECT(model_extend(m, c, &s0b, ids[0], &n5, 1, last, NULL) == 0, "prefix: %s", lr_error_msg());
    EXPECT(model_extend(m, c, &s0b, ids[0] + 5, &n20, 1, last, all20) == 0, "block: %s", lr_error_msg());
    d = max_scaled_diff(all20, ref[0] + (size_t)5 * V, 20L * V, V);
    EXPECT(d <= TOL, "%s: 20-token block after a 5-token prefix differs by %.3g", name, d);
    free(all20);
    kv_cache_free(c);

    /* prompt split over several passes (chunked prefill) */
    model_set_chunk_tokens(m, 7);
    c = kv_cache_new(m, 2, 32);
    int sl2[2] = {1, 0}, n2[2] = {L[0], L[2]};
    memcpy(packed, ids[0], L[0] * sizeof(int32_t));
    memcpy(packed + L[0], ids[2], L[2] * sizeof(int32_t));
    float *all2 = malloc((size_t)(L[0] + L[2]) * V * sizeof(float));
    EXPECT(model_extend(m, c, sl2, packed, n2, 2, last, all2) == 0, "chunked: %s", lr_error_msg());
    d = fmax(max_scaled_diff(all2, ref[0], (long)L[0] * V, V),
             max_scaled_diff(all2 + (size_t)L[0] * V, ref[2], (long)L[2] * V, V));
    d = fmax(d, max_scaled_diff(last + V, ref[2] + (size_t)(L[2] - 1) * V, V, V));
    EXPECT(d <= TOL, "%s: chunked prefill differs by %.3g", name, d);
    /* model_forward split over passes too */
    int lens3[3] = {L[0], L[1], L[2]};
    int32_t cat[96];
    memcpy(cat, ids[0], L[0] * 4);
    memcpy(cat + L[0], ids[1], L[1] * 4);
    memcpy(cat + L[0] + L[1], ids[2], L[2] * 4);
    float *fw = malloc((size_t)(L[0] + L[1] + L[2]) * V * sizeof(float));
    EXPECT(model_forward(m, cat, lens3, 3, 1, fw) == 0, "forward chunked: %s", lr_error_msg());
    d = max_scaled_diff(fw + (size_t)(L[0] + L[1]) * V, ref[2], (long)L[2] * V, V);
    EXPECT(d <= TOL, "%s: chunked forward differs by %.3g", name, d);
    model_set_chunk_tokens(m, 0);
    free(fw);
    free(all2);
    kv_cache_free(c);
    free(last);
    free(all);
    for (int s = 0; s < NS; s++) free(ref[s]);
}

static void check_ragged_and_threads(lr_model *m, const char *name) {
    const int V = model_vocab_size(m);
    int lens[4] = {3, 11, 1, 26};
    int32_t ids[41];
    fill_ids(ids, 41, V);
    float *batch = malloc((size_t)41 * V * sizeof(float));
    EXPECT(model_forward(m, ids, lens, 4, 1, batch) == 0, "forward: %s", lr_error_msg());
    double worst = 0;
    for (int s = 0, o = 0; s < 4; o += lens[s++]) {
        float *alone = full_logits(m, ids + o, lens[s]);
        worst = fmax(worst, max_scaled_diff(batch + (size_t)o * V, alone, (long)lens[s] * V, V));
        free(alone);
    }
    EXPECT(worst <= TOL, "%s: ragged batch differs from sequences alone by %.3g", name, worst);
    model_set_threads(m, 1);
    float *one = malloc((size_t)41 * V * sizeof(float));
    EXPECT(model_forward(m, ids, lens, 4, 1, one) == 0, "forward 1 thread: %s", lr_error_msg());
    double d = max_scaled_diff(one, batch, 41L * V, V);
    EXPECT(d <= TOL, "%s: 1 thread vs 2 threads differ by %.3g", name, d);
    printf("%s: ragged vs alone %.3g, 1 vs 2 threads %.3g\n", name, worst, d);
    model_set_threads(m, 2);
    free(one);
    free(batch);
}

typedef struct {
    lr_model *m;
    const int32_t *const *prompts;
    const int *plens;
    int32_t toks[8][64];
    int steps[8];
    double worst;
    int order_ok;
} step_ctx;

/* Checks each callback's logits against a full forward of prompt + tokens so far. */
static void on_step(void *vctx, int seq, int step, int32_t token, const float *logits) {
    step_ctx *c = vctx;
    if (step != c->steps[seq]) c->order_ok = 0;
    c->steps[seq]++;
    c->toks[seq][step] = token;
    const int L = c->plens[seq] + step, V = model_vocab_size(c->m);
    int32_t buf[256];
    memcpy(buf, c->prompts[seq], c->plens[seq] * sizeof(int32_t));
    memcpy(buf + c->plens[seq], c->toks[seq], step * sizeof(int32_t));
    float *ref = full_logits(c->m, buf, L);
    c->worst = fmax(c->worst, max_scaled_diff(logits, ref + (size_t)(L - 1) * V, V, V));
    free(ref);
}

static void gen(lr_model *m, const int32_t *const *pr, const int *pl, int n, lr_gen_params *gp, int32_t **out,
                int *ol, lr_finish_reason *fin) {
    EXPECT(model_generate(m, pr, pl, n, gp, NULL, NULL, out, ol, fin) == 0, "generate: %s", lr_error_msg());
}

static int same_outputs(int32_t **a, const int *al, int32_t **b, const int *bl, int n) {
    for (int i = 0; i < n; i++)
        if (al[i] != bl[i] || memcmp(a[i], b[i], al[i] * sizeof(int32_t))) return 0;
    return 1;
}

static void free_outs(int32_t **o, int n) {
    for (int i = 0; i < n; i++) free(o[i]);
}

static void check_generation(lr_model *m, const char *name) {
    const int V = model_vocab_size(m), N = 5;
    int32_t pbuf[5][20];
    const int32_t *pr[5];
    int pl[5] = {4, 9, 1, 13, 6};
    for (int i = 0; i < N; i++) {
        fill_ids(pbuf[i], pl[i], V);
        pr[i] = pbuf[i];
    }
    /* callback logits == full forward; refilled slots */
    step_ctx sc = {.m = m, .prompts = pr, .plens = pl, .order_ok = 1};
    lr_gen_params gp = {.max_new_tokens = 12, .temperature = 0, .top_p = 1, .batch = 2};
    int32_t *o1[5], *o2[5], *o3[5];
    int l1[5], l2[5], l3[5];
    lr_finish_reason f1[5], f2[5], f3[5];
    EXPECT(model_generate(m, pr, pl, N, &gp, on_step, &sc, o1, l1, f1) == 0, "generate: %s", lr_error_msg());
    EXPECT(sc.worst <= TOL, "%s: step-callback logits differ from full forward by %.3g", name, sc.worst);
    EXPECT(sc.order_ok, "%s: step indices out of order", name);
    for (int i = 0; i < N; i++) {
        EXPECT(sc.steps[i] == l1[i] && l1[i] == 12 && f1[i] == FINISH_LENGTH, "%s: seq %d: %d steps, len %d, finish %d",
               name, i, sc.steps[i], l1[i], (int)f1[i]);
        EXPECT(!memcmp(sc.toks[i], o1[i], l1[i] * sizeof(int32_t)), "%s: callback tokens differ from outputs", name);
    }
    for (int b = 1; b <= 7; b += 2) { /* batch 1, 3, 5, 7 (> n) */
        gp.batch = b;
        gen(m, pr, pl, N, &gp, o2, l2, f2);
        EXPECT(same_outputs(o1, l1, o2, l2, N), "%s: greedy outputs with batch %d differ from batch 2", name, b);
        free_outs(o2, N);
        /* ids chosen where the logits are (model_extend_greedy, the backend's argmax_rows) */
        gp.no_step_logits = 1;
        gen(m, pr, pl, N, &gp, o2, l2, f2);
        EXPECT(same_outputs(o1, l1, o2, l2, N), "%s: greedy ids without step logits (batch %d) differ", name, b);
        for (int i = 0; i < N; i++) EXPECT(f2[i] == f1[i], "%s: finish reason %d without step logits", name, (int)f2[i]);
        free_outs(o2, N);
        gp.no_step_logits = 0;
    }
    /* EOS: make the 4th greedy token of sequence 1 an EOS id */
    int32_t eos[1] = {o1[1][3]};
    gp = (lr_gen_params){.max_new_tokens = 12, .batch = 3, .top_p = 1, .eos_ids = eos, .n_eos = 1};
    gen(m, pr, pl, N, &gp, o2, l2, f2);
    int first = 0;
    while (first < 3 && o1[1][first] != eos[0]) first++;
    EXPECT(f2[1] == FINISH_EOS && l2[1] == first + 1 && o2[1][first] == eos[0], "%s: EOS: len %d finish %d", name,
           l2[1], (int)f2[1]);
    free_outs(o2, N);

    /* sampling: same seed twice, batch 1 vs 4, another seed */
    gp = (lr_gen_params){.max_new_tokens = 16, .temperature = 0.9, .top_p = 0.9, .seed = 77, .batch = 4};
    gen(m, pr, pl, N, &gp, o2, l2, f2);
    gen(m, pr, pl, N, &gp, o3, l3, f3);
    EXPECT(same_outputs(o2, l2, o3, l3, N), "%s: same seed twice gave different samples", name);
    free_outs(o3, N);
    gp.batch = 1;
    gen(m, pr, pl, N, &gp, o3, l3, f3);
    EXPECT(same_outputs(o2, l2, o3, l3, N), "%s: sampled outputs with batch 1 differ from batch 4", name);
    free_outs(o3, N);
    gp.seed = 78;
    gen(m, pr, pl, N, &gp, o3, l3, f3);
    EXPECT(!same_outputs(o2, l2, o3, l3, N), "%s: seeds 77 and 78 gave identical samples", name);
    EXPECT(!same_outputs(o1, l1, o2, l2, N), "%s: sampling at T=0.9 reproduced greedy exactly", name);
    free_outs(o3, N);
    free_outs(o2, N);
    free_outs(o1, N);
}

static void check_limits(lr_model *m, const char *name) {
    const int V = model_vocab_size(m), ctx = model_config(m)->max_position_embeddings;
    int32_t *ids = malloc((size_t)(ctx + 2) * sizeof(int32_t));
    fill_ids(ids, ctx + 2, V);
    /* generation stops at the context */
    const int32_t *pr[1] = {ids};
    int pl[1] = {ctx - 5}, ol[1];
    int32_t *o[1];
    lr_finish_reason f[1];
    lr_gen_params gp = {.max_new_tokens = 20, .batch = 1, .top_p = 1};
    EXPECT(model_generate(m, pr, pl, 1, &gp, NULL, NULL, o, ol, f) == 0, "generate near context: %s", lr_error_msg());
    EXPECT(ol[0] == 5 && f[0] == FINISH_CONTEXT, "%s: near the context: %d tokens, finish %d", name, ol[0], (int)f[0]);
    free(o[0]);
    pl[0] = ctx;
    EXPECT(model_generate(m, pr, pl, 1, &gp, NULL, NULL, o, ol, f) != 0, "%s: prompt filling the context accepted", name);
    EXPECT(strstr(lr_error_msg(), "context") != NULL, "%s: message: %s", name, lr_error_msg());
    int lens[1] = {ctx + 1};
    float *lg = malloc((size_t)V * sizeof(float));
    EXPECT(model_forward(m, ids, lens, 1, 0, lg) != 0, "%s: forward over the context accepted", name);
    EXPECT(strstr(lr_error_msg(), "context overflow") != NULL, "%s: message: %s", name, lr_error_msg());
    lens[0] = 3;
    ids[1] = V;
    EXPECT(model_forward(m, ids, lens, 1, 0, lg) != 0, "%s: out-of-vocabulary id accepted", name);
    EXPECT(strstr(lr_error_msg(), "vocabulary") != NULL, "%s: message: %s", name, lr_error_msg());
    free(lg);
    free(ids);
}

int main(void) {
    for (int i = 0; i < N_TEST_MODELS; i++) {
        const char *name = test_model_names[i];
        lr_model_opts o = {.n_threads = 2};
        lr_model *m = model_load(test_model_dir(name), &o);
        EXPECT(m != NULL, "%s: %s", name, lr_error_msg());
        if (!m) continue;
        check_cache_decode(m, name);
        check_ragged_and_threads(m, name);
        check_generation(m, name);
        if (i == 0) check_limits(m, name);
        model_free(m);
    }
    return test_finish("test_model_invariants");
}
