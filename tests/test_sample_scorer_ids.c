/* The scorer's half of --transport ids (issue 15 item 2), without MPI or
 * the sampler, on the tiny models of tests/data/sample (V_E 408, V_A 416):
 *   - model_forward_last gives the bits of the matching rows of
 *     model_forward (all positions), for a ragged batch with n_last from 0
 *     to the whole sequence, and refuses an n_last outside [0, len];
 *   - a chunk scored from its expert logits rows (rows) and the same chunk
 *     without rows, the scorer reading the expert teacher-forced itself
 *     (ids), get bit-identical divergences, candidates and counts, for row
 *     budgets that put one trace, a few, or all in one forward;
 *   - a chunk without rows and a scorer without an expert is an error, as
 *     is an expert of another vocabulary size;
 *   - the scorer's path for backends with a contrast op (a GPU: both
 *     models' rows stay in backend memory, model_forward_last_dev, and only
 *     per-step results come back) gives the same bits, with a stand-in op
 *     on the CPU backend that computes each step with contrast_step and
 *     reports some steps as non-finite: those, and steps with more
 *     candidates than the op keeps, are recomputed from their rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "io/chunk.h"
#include "method/method.h"
#include "method/contrast.h"
#include "model/backend.h"
#include "model/model.h"
#include "scorer/scorer.h"
#include "test_util.h"

#define NT 5
static const int P[NT] = {3, 20, 1, 40, 7};  /* prompt lengths */
static const int T[NT] = {5, 30, 1, 17, 64}; /* generated tokens */

static uint64_t lcg = 99;
static int32_t rnd_id(int V) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((lcg >> 33) % (uint64_t)V);
}

/* A chunk of NT traces with random ids < V; with rows from expert e (each
 * trace's teacher-forced rows at its generated positions) when e != NULL. */
static void make_chunk(lr_chunk *c, int V, int ve, lr_model *e) {
    memset(c, 0, sizeof *c);
    c->chunk = 0;
    c->n_problems = c->n_traces = NT;
    c->problem_status = calloc(NT, 1);
    c->trace_problem = malloc(NT * sizeof *c->trace_problem);
    c->prompt_len = malloc(NT * sizeof *c->prompt_len);
    c->n_generated = malloc(NT * sizeof *c->n_generated);
    c->finish = calloc(NT, 1);
    c->token_offsets = malloc((NT + 1) * sizeof *c->token_offsets);
    c->text = calloc(NT, sizeof *c->text);
    c->vocab_expert = ve;
    c->token_offsets[0] = 0;
    for (int i = 0; i < NT; i++) c->token_offsets[i + 1] = c->token_offsets[i] + P[i] + T[i];
    c->tokens = malloc((size_t)c->token_offsets[NT] * sizeof *c->tokens);
    lcg = 99; /* the same ids in every chunk */
    for (int64_t k = 0; k < c->token_offsets[NT]; k++) c->tokens[k] = rnd_id(V);
    for (int i = 0; i < NT; i++) {
        c->trace_problem[i] = i;
        c->prompt_len[i] = P[i];
        c->n_generated[i] = T[i];
        c->text[i] = xstrdup("");
    }
    if (!e) return;
    c->logits = calloc(NT, sizeof *c->logits);
    for (int i = 0; i < NT; i++) {
        const int L = P[i] + T[i] - 1;
        float *all = malloc((size_t)L * ve * sizeof(float)); /* (L, ve) */
        EXPECT(model_forward(e, c->tokens + c->token_offsets[i], &L, 1, 1, all) == 0, "forward: %s", lr_error_msg());
        c->logits[i] = malloc((size_t)T[i] * ve * sizeof(float)); /* (T_i, ve) */
        memcpy(c->logits[i], all + (size_t)(P[i] - 1) * ve, (size_t)T[i] * ve * sizeof(float));
        free(all);
    }
}

static void check_forward_last(lr_model *e, int V, int ve) {
    const int lens[4] = {9, 1, 33, 12}, nl[4] = {3, 1, 33, 0};
    int32_t ids[55];
    for (int k = 0; k < 55; k++) ids[k] = rnd_id(V);
    float *all = malloc((size_t)55 * ve * sizeof(float)), *last = malloc((size_t)37 * ve * sizeof(float));
    EXPECT(model_forward(e, ids, lens, 4, 1, all) == 0, "forward: %s", lr_error_msg());
    EXPECT(model_forward_last(e, ids, lens, nl, 4, last) == 0, "forward_last: %s", lr_error_msg());
    int o = 0, r = 0, same = 1;
    for (int s = 0; s < 4; s++) {
        for (int p = lens[s] - nl[s]; p < lens[s]; p++, r++)
            same &= !memcmp(last + (size_t)r * ve, all + (size_t)(o + p) * ve, (size_t)ve * sizeof(float));
        o += lens[s];
    }
    EXPECT(same && r == 37, "model_forward_last rows differ from model_forward's (%d rows)", r);
    /* a small chunk size splits the batch over several passes: the same rows */
    model_set_chunk_tokens(e, 16);
    float *last2 = malloc((size_t)37 * ve * sizeof(float));
    EXPECT(model_forward_last(e, ids, lens, nl, 4, last2) == 0, "forward_last: %s", lr_error_msg());
    EXPECT(!memcmp(last, last2, (size_t)37 * ve * sizeof(float)), "model_forward_last over several passes differs");
    model_set_chunk_tokens(e, 0);
    const int bad[4] = {3, 2, 1, 0}; /* 2 > lens[1] */
    EXPECT(model_forward_last(e, ids, lens, bad, 4, last) == -1, "n_last beyond the sequence accepted");
    EXPECT(strstr(lr_error_msg(), "last 2 positions") != NULL, "message: %s", lr_error_msg());
    free(all), free(last), free(last2);
}

/* ---- a stand-in for a device backend's contrast op (backend.h) */
static double g_alpha; /* the scorer's store_alpha (the op gets its log) */
static long g_fit, g_over, g_calls;
static void fake_contrast(lr_backend *be, const float *le, int ve, const float *la, int va, int n, const int32_t *tok,
                          double log_alpha, int cap, lr_contrast_row *rows, int32_t *cid, float *clpe, float *clpa) {
    (void)be;
    EXPECT(log_alpha == log(g_alpha), "the op got log_alpha %g for store_alpha %g", log_alpha, g_alpha);
    float *scratch = malloc(contrast_scratch_size(ve, va) * sizeof(float));
    for (int i = 0; i < n; i++) {
        lr_step_div d;
        lr_cand_buf cb = {0};
        contrast_step(le + (size_t)i * ve, ve, la + (size_t)i * va, va, tok[i], g_alpha, scratch, &d, &cb);
        rows[i] = (lr_contrast_row){d.kl, d.entropy_expert, d.entropy_amateur, d.logp_expert, d.logp_amateur,
                                    d.top1_expert, d.top1_amateur, (int32_t)cb.n, (g_calls + i) % 7 != 3};
        const size_t k = cb.n < (size_t)cap ? cb.n : (size_t)cap;
        if (cb.n > (size_t)cap) g_over++;
        else g_fit++;
        memcpy(cid + (size_t)i * cap, cb.ids, k * sizeof(int32_t));
        memcpy(clpe + (size_t)i * cap, cb.logp_expert, k * sizeof(float));
        memcpy(clpa + (size_t)i * cap, cb.logp_amateur, k * sizeof(float));
        cand_buf_free(&cb);
    }
    g_calls += n;
    free(scratch);
}

static void check_same(const lr_chunk *a, const lr_chunk *b, long budget) {
    EXPECT(a->n_steps == b->n_steps && a->n_steps > 0, "budget %ld: steps %lld vs %lld", budget,
           (long long)a->n_steps, (long long)b->n_steps);
    if (a->n_steps != b->n_steps) return;
    const size_t ns = (size_t)a->n_steps;
    EXPECT(!memcmp(a->div, b->div, ns * sizeof *a->div), "budget %ld: divergences differ", budget);
    EXPECT(!memcmp(a->cand_offsets, b->cand_offsets, (ns + 1) * sizeof *a->cand_offsets),
           "budget %ld: candidate counts differ", budget);
    EXPECT(a->cand.n == b->cand.n && !memcmp(a->cand.ids, b->cand.ids, a->cand.n * sizeof(int32_t)) &&
               !memcmp(a->cand.logp_expert, b->cand.logp_expert, a->cand.n * sizeof(float)) &&
               !memcmp(a->cand.logp_amateur, b->cand.logp_amateur, a->cand.n * sizeof(float)),
           "budget %ld: candidates differ", budget);
    EXPECT(a->n_selected == b->n_selected && a->n_nonfinite == b->n_nonfinite, "budget %ld: counts differ", budget);
    EXPECT(a->logits == NULL && b->logits == NULL, "budget %ld: logits kept after scoring", budget);
}

int main(void) {
    lr_model_opts mo = {.n_threads = 2, .quiet = 1};
    lr_model *e = model_load(test_data_path("sample/expert"), &mo);
    lr_model *a = model_load(test_data_path("sample/amateur"), &mo);
    EXPECT(e && a, "models: %s", lr_error_msg());
    if (!e || !a) return test_finish("test_sample_scorer_ids");
    const int ve = model_vocab_size(e), va = model_vocab_size(a), V = ve < va ? ve : va;
    check_forward_last(e, V, ve);

    lr_scorer rows = {.amateur = a, .store_alpha = 0.01, .method = method_make(0.2, 0.05)};
    lr_scorer ids = rows;
    ids.expert = e;
    const long budgets[3] = {1, 60, 1024}; /* one trace per forward, a few, all */
    for (int k = 0; k < 3; k++) {
        rows.row_budget = ids.row_budget = budgets[k];
        lr_chunk cr, ci;
        make_chunk(&cr, V, ve, e);
        make_chunk(&ci, V, ve, NULL);
        EXPECT(scorer_score_chunk(&rows, &cr) == 0, "rows: %s", lr_error_msg());
        EXPECT(scorer_score_chunk(&ids, &ci) == 0, "ids: %s", lr_error_msg());
        check_same(&cr, &ci, budgets[k]);
        chunk_free(&cr);
        chunk_free(&ci);
    }

    /* the contrast-op path: model_forward_last_dev's rows, then the same bits */
    {
        const int lens[3] = {9, 1, 33}, nl[3] = {3, 1, 20};
        int32_t ids3[43];
        for (int k = 0; k < 43; k++) ids3[k] = rnd_id(V);
        float *host = malloc((size_t)24 * ve * sizeof(float));
        const float *dev = NULL;
        EXPECT(model_forward_last(e, ids3, lens, nl, 3, host) == 0, "forward_last: %s", lr_error_msg());
        EXPECT(model_forward_last_dev(e, ids3, lens, nl, 3, &dev) == 0 && dev, "forward_last_dev: %s", lr_error_msg());
        model_sync(e);
        EXPECT(dev && !memcmp(host, dev, (size_t)24 * ve * sizeof(float)), "model_forward_last_dev rows differ");
        model_set_chunk_tokens(e, 16); /* several passes into one backend buffer */
        EXPECT(model_forward_last_dev(e, ids3, lens, nl, 3, &dev) == 0 && dev, "forward_last_dev: %s", lr_error_msg());
        EXPECT(dev && !memcmp(host, dev, (size_t)24 * ve * sizeof(float)), "model_forward_last_dev over passes differs");
        model_set_chunk_tokens(e, 0);
        free(host);
    }
    const double alphas[2] = {0.01, 0.3}; /* many candidates per step (over the op's cap), few */
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 2; j++) {
            lr_scorer plain = ids, viaop = ids;
            plain.store_alpha = viaop.store_alpha = g_alpha = alphas[k];
            plain.row_budget = viaop.row_budget = budgets[j + 1];
            lr_chunk cp, co;
            make_chunk(&cp, V, ve, NULL);
            make_chunk(&co, V, ve, NULL);
            EXPECT(scorer_score_chunk(&plain, &cp) == 0, "plain: %s", lr_error_msg());
            model_backend(a)->contrast = fake_contrast;
            EXPECT(scorer_score_chunk(&viaop, &co) == 0, "contrast op: %s", lr_error_msg());
            model_backend(a)->contrast = NULL;
            check_same(&cp, &co, budgets[j + 1]);
            chunk_free(&cp);
            chunk_free(&co);
        }
    EXPECT(g_fit > 0 && g_over > 0 && g_calls > 7, "the op path saw %ld steps that fit, %ld over its cap", g_fit, g_over);

    /* no rows and no expert; an expert of another vocabulary */
    lr_chunk c;
    make_chunk(&c, V, ve, NULL);
    EXPECT(scorer_score_chunk(&rows, &c) == -1, "a chunk without rows scored without an expert");
    EXPECT(strstr(lr_error_msg(), "holds no expert") != NULL, "message: %s", lr_error_msg());
    EXPECT(c.div == NULL && c.n_steps == 0, "a failed scoring left a contrast part");
    ids.expert = a; /* V_A != V_E */
    EXPECT(scorer_score_chunk(&ids, &c) == -1, "an expert of vocab %d scored rows of %d", va, ve);
    EXPECT(strstr(lr_error_msg(), "vocab size") != NULL, "message: %s", lr_error_msg());
    chunk_free(&c);
    model_free(e);
    model_free(a);
    return test_finish("test_sample_scorer_ids");
}
