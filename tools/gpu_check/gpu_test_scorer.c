/* gpu_test scorer: the scorer with both models on the device under test
 * (--transport ids: the expert and the amateur teacher-forced there, and
 * on a GPU the contrast op, so no logits row leaves the device) against
 * the scorer on the CPU in fp32, on the same chunk: traces the CPU expert
 * generated greedily from random prompts.
 *
 * Checks (SPEC §5; issue 15 item 4):
 *   - the contrast op on identical rows: the device's teacher-forced rows
 *     (model_forward_last_dev) copied to the host and scored there by
 *     method/contrast.h's contrast_step, against the op on the same rows:
 *     |dKL| <= 1e-6 max(1, KL), the same top-1 ids, the same candidate ids
 *     with log-probs within 1e-5, entropies within 1e-6 max(1, H);
 *   - end to end against the CPU fp32 scorer: |KL_dut - KL_cpu| <= 0.02 +
 *     0.02 KL_cpu on >= 98% of steps; beta-selection agreement >= 99.5%
 *     with every flip within 0.05 of beta; identical alpha-plausible sets
 *     (alpha 0.2) on >= 98% of the steps both select;
 *   - time: scored steps per second of both scorers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "gpu_test.h"
#include "io/chunk.h"
#include "method/contrast.h"
#include "method/method.h"
#include "model/model.h"
#include "scorer/scorer.h"

#define STORE_ALPHA 0.05
#define BETA 0.4

/* A chunk of n traces: prompts (random ids < V, 8..40 tokens) and what the
 * CPU expert generates from them greedily (gen_len tokens at most). */
static int make_chunk(lr_chunk *c, lr_model *e, int V, int n, int gen_len) {
    memset(c, 0, sizeof *c);
    int32_t **pr = calloc((size_t)n, sizeof *pr), **out = calloc((size_t)n, sizeof *out);
    int *pl = calloc((size_t)n, sizeof *pl), *ol = calloc((size_t)n, sizeof *ol);
    lr_finish_reason *fin = calloc((size_t)n, sizeof *fin);
    unsigned long long seed = 2024;
    for (int i = 0; i < n; i++) {
        pl[i] = 8 + (i * 13) % 33;
        pr[i] = malloc((size_t)pl[i] * sizeof **pr);
        for (int k = 0; k < pl[i]; k++) pr[i][k] = (int32_t)((gt_uniform(&seed) * 0.5f + 0.5f) * (float)(V - 1));
    }
    lr_gen_params gp = {.max_new_tokens = gen_len, .top_p = 1, .batch = n, .no_step_logits = 1};
    const int rc = model_generate(e, (const int32_t *const *)pr, pl, n, &gp, NULL, NULL, out, ol, fin);
    if (rc == 0) {
        c->n_problems = c->n_traces = n;
        c->problem_status = calloc((size_t)n, 1);
        c->trace_problem = malloc((size_t)n * sizeof *c->trace_problem);
        c->prompt_len = malloc((size_t)n * sizeof *c->prompt_len);
        c->n_generated = malloc((size_t)n * sizeof *c->n_generated);
        c->finish = calloc((size_t)n, 1);
        c->token_offsets = malloc((size_t)(n + 1) * sizeof *c->token_offsets);
        c->text = calloc((size_t)n, sizeof *c->text);
        c->vocab_expert = model_vocab_size(e);
        c->token_offsets[0] = 0;
        for (int i = 0; i < n; i++) c->token_offsets[i + 1] = c->token_offsets[i] + pl[i] + ol[i];
        c->tokens = malloc((size_t)c->token_offsets[n] * sizeof *c->tokens);
        for (int i = 0; i < n; i++) {
            c->trace_problem[i] = i;
            c->prompt_len[i] = pl[i];
            c->n_generated[i] = ol[i];
            c->text[i] = xstrdup("");
            memcpy(c->tokens + c->token_offsets[i], pr[i], (size_t)pl[i] * sizeof(int32_t));
            memcpy(c->tokens + c->token_offsets[i] + pl[i], out[i], (size_t)ol[i] * sizeof(int32_t));
            free(out[i]);
        }
    }
    for (int i = 0; i < n; i++) free(pr[i]);
    free(pr), free(out), free(pl), free(ol), free(fin);
    return rc;
}

/* The op on the device's own rows vs contrast_step on their host copies,
 * for the first traces of chunk c (up to 512 steps). */
static void check_op_rows(gt_report *r, lr_model *e, lr_model *a, const lr_chunk *c) {
    lr_backend *ba = model_backend(a), *be = model_backend(e);
    if (!ba->contrast) {
        gt_check(r, "scorer contrast op on identical rows", 1, "\"skipped\": \"no contrast op on this device\"");
        return;
    }
    const int ve = model_vocab_size(e), va = model_vocab_size(a);
    int n_tr = 0, n = 0;
    int *lens = malloc((size_t)c->n_traces * sizeof *lens), *nl = malloc((size_t)c->n_traces * sizeof *nl);
    int32_t *packed = malloc((size_t)c->token_offsets[c->n_traces] * sizeof *packed);
    int32_t *tok = malloc((size_t)c->token_offsets[c->n_traces] * sizeof *tok);
    long o = 0;
    while (n_tr < c->n_traces && n + c->n_generated[n_tr] <= 512) {
        const int i = n_tr++;
        lens[i] = c->prompt_len[i] + c->n_generated[i] - 1;
        nl[i] = c->n_generated[i];
        memcpy(packed + o, c->tokens + c->token_offsets[i], (size_t)lens[i] * sizeof *packed);
        memcpy(tok + n, c->tokens + c->token_offsets[i] + c->prompt_len[i], (size_t)nl[i] * sizeof *tok);
        o += lens[i], n += nl[i];
    }
    const float *le = NULL, *la = NULL;
    int rc = model_forward_last_dev(e, packed, lens, nl, n_tr, &le);
    model_sync(e);
    if (rc == 0) rc = model_forward_last_dev(a, packed, lens, nl, n_tr, &la);
    if (rc != 0 || n == 0) {
        gt_check(r, "scorer contrast op on identical rows", 0, "\"error\": \"%s\"", rc ? lr_error_msg() : "no steps");
        free(lens), free(nl), free(packed), free(tok);
        return;
    }
    const int cap = 64;
    lr_contrast_row *rows = malloc((size_t)n * sizeof *rows);
    int32_t *cid = malloc((size_t)n * cap * sizeof *cid);
    float *clpe = malloc((size_t)n * cap * sizeof *clpe), *clpa = malloc((size_t)n * cap * sizeof *clpa);
    double t0 = gt_now();
    ba->contrast(ba, le, ve, la, va, n, tok, log(STORE_ALPHA), cap, rows, cid, clpe, clpa);
    const double t_op = gt_now() - t0;
    float *he = malloc((size_t)n * ve * sizeof *he), *ha = malloc((size_t)n * va * sizeof *ha);
    be->download(be, he, le, (size_t)n * ve * sizeof *he);
    ba->download(ba, ha, la, (size_t)n * va * sizeof *ha);
    float *scratch = malloc(contrast_scratch_size(ve, va) * sizeof *scratch);
    double worst_kl = 0, worst_h = 0, worst_lp = 0;
    long bad_top1 = 0, bad_cand = 0, over_cap = 0, nonfinite = 0;
    t0 = gt_now();
    for (int k = 0; k < n; k++) {
        lr_step_div d;
        lr_cand_buf cb = {0};
        contrast_step(he + (size_t)k * ve, ve, ha + (size_t)k * va, va, tok[k], STORE_ALPHA, scratch, &d, &cb);
        const lr_contrast_row *g = &rows[k];
        if (!g->finite || !isfinite(d.kl)) {
            nonfinite += !g->finite != !isfinite(d.kl) ? 1000000 : 1; /* must agree on which steps */
            cand_buf_free(&cb);
            continue;
        }
        const double dk = fabs(g->kl - d.kl) / fmax(1.0, fabs(d.kl));
        const double dh = fmax(fabs(g->entropy_expert - d.entropy_expert) / fmax(1.0, d.entropy_expert),
                               fabs(g->entropy_amateur - d.entropy_amateur) / fmax(1.0, d.entropy_amateur));
        double dl = fmax(fabs(g->logp_expert - d.logp_expert), fabs(g->logp_amateur - d.logp_amateur));
        worst_kl = fmax(worst_kl, dk), worst_h = fmax(worst_h, dh);
        bad_top1 += g->top1_expert != d.top1_expert || g->top1_amateur != d.top1_amateur;
        if (g->n_cand != (int32_t)cb.n) bad_cand++;
        else if (g->n_cand > cap) over_cap++;
        else {
            for (size_t j = 0; j < cb.n; j++) {
                if (cid[(size_t)k * cap + j] != cb.ids[j]) {
                    bad_cand++;
                    break;
                }
                dl = fmax(dl, fmax(fabs(clpe[(size_t)k * cap + j] - cb.logp_expert[j]),
                                   fabs(clpa[(size_t)k * cap + j] - cb.logp_amateur[j])));
            }
        }
        worst_lp = fmax(worst_lp, dl);
        cand_buf_free(&cb);
    }
    const double t_cpu = gt_now() - t0;
    gt_check(r, "scorer contrast op on identical rows",
             worst_kl <= 1e-6 && worst_h <= 1e-6 && worst_lp <= 1e-5 && !bad_top1 && !bad_cand && nonfinite < 1000000,
             "\"steps\": %d, \"worst_dkl_rel\": %.3g, \"worst_dentropy_rel\": %.3g, \"worst_dlogp\": %.3g, "
             "\"top1_mismatch\": %ld, \"candidate_set_mismatch\": %ld, \"over_cap\": %ld, \"nonfinite\": %ld, "
             "\"op_ms\": %.2f, \"cpu_contrast_ms\": %.1f",
             n, worst_kl, worst_h, worst_lp, bad_top1, bad_cand, over_cap, nonfinite, 1e3 * t_op, 1e3 * t_cpu);
    free(rows), free(cid), free(clpe), free(clpa), free(he), free(ha), free(scratch);
    free(lens), free(nl), free(packed), free(tok);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The alpha-plausible set of step s (p_E(v) >= alpha max p_E, from the
 * stored store-alpha candidates, as method.c's labels read it) is the same
 * in both chunks. */
static int same_plausible(const lr_chunk *x, const lr_chunk *y, int64_t s, double alpha) {
    const lr_chunk *c[2] = {x, y};
    int32_t *ids[2];
    int n[2];
    for (int k = 0; k < 2; k++) {
        const int64_t o0 = c[k]->cand_offsets[s], o1 = c[k]->cand_offsets[s + 1];
        float mx = -INFINITY;
        for (int64_t j = o0; j < o1; j++) mx = fmaxf(mx, c[k]->cand.logp_expert[j]);
        ids[k] = malloc((size_t)(o1 - o0 + 1) * sizeof(int32_t));
        n[k] = 0;
        for (int64_t j = o0; j < o1; j++)
            if ((double)c[k]->cand.logp_expert[j] - (double)mx >= log(alpha)) ids[k][n[k]++] = c[k]->cand.ids[j];
    }
    const int same = n[0] == n[1] && !memcmp(ids[0], ids[1], (size_t)n[0] * sizeof(int32_t));
    free(ids[0]), free(ids[1]);
    return same;
}

int gt_scorer(gt_report *r, const char *edir, const char *adir, int n_traces, int gen_len) {
    lr_model *ec = gt_load(edir, 0, 0), *ac = gt_load(adir, 0, 0), *ed = gt_load(edir, 1, 0), *ad = gt_load(adir, 1, 0);
    if (!ec || !ac || !ed || !ad) {
        gt_check(r, "scorer load", 0, "\"error\": \"model_load failed\"");
        return 1;
    }
    const int V = model_vocab_size(ec) < model_vocab_size(ac) ? model_vocab_size(ec) : model_vocab_size(ac);
    lr_chunk cc, cd;
    if (make_chunk(&cc, ec, V, n_traces, gen_len) != 0 || make_chunk(&cd, ec, V, n_traces, gen_len) != 0) {
        gt_check(r, "scorer chunk", 0, "\"error\": \"%s\"", lr_error_msg());
        return 1;
    }
    check_op_rows(r, ed, ad, &cd);
    const lr_method meth = method_make(0.2, BETA);
    lr_scorer sc = {.amateur = ac, .expert = ec, .store_alpha = STORE_ALPHA, .method = meth, .row_budget = 1024};
    lr_scorer sd = sc;
    sd.amateur = ad, sd.expert = ed;
    double t0 = gt_now();
    int rc = scorer_score_chunk(&sc, &cc);
    const double t_cpu = gt_now() - t0;
    t0 = gt_now();
    rc |= scorer_score_chunk(&sd, &cd);
    const double t_dut = gt_now() - t0;
    if (rc != 0 || cc.n_steps != cd.n_steps) {
        gt_check(r, "scorer end to end", 0, "\"error\": \"%s\"", rc ? lr_error_msg() : "step counts differ");
        return 1;
    }
    const int64_t ns = cc.n_steps;
    double *ratio = malloc((size_t)(ns ? ns : 1) * sizeof *ratio); /* |dKL| / (0.02 + 0.02 KL) per finite step */
    double kl_sum = 0;
    long kl_ok = 0, sel_agree = 0, flips_far = 0, both_sel = 0, cand_same = 0, finite = 0;
    double worst_flip = 0;
    for (int64_t s = 0; s < ns; s++) {
        const double kc = cc.div[s].kl, kd = cd.div[s].kl;
        if (!isfinite(kc) || !isfinite(kd)) continue;
        finite++;
        ratio[finite - 1] = fabs(kd - kc) / (0.02 + 0.02 * kc);
        kl_sum += kc;
        kl_ok += fabs(kd - kc) <= 0.02 + 0.02 * kc;
        const int selc = kc >= BETA, seld = kd >= BETA;
        sel_agree += selc == seld;
        if (selc != seld) {
            const double off = fabs(kc - BETA);
            worst_flip = fmax(worst_flip, off);
            flips_far += off > 0.05;
        }
        if (selc && seld) both_sel++, cand_same += same_plausible(&cc, &cd, s, meth.alpha);
    }
    qsort(ratio, (size_t)finite, sizeof *ratio, cmp_double);
    const double r50 = finite ? ratio[finite / 2] : 0, r98 = finite ? ratio[(long)(0.98 * (finite - 1))] : 0;
    const double rmax = finite ? ratio[finite - 1] : 0;
    free(ratio);
    const double f_kl = finite ? (double)kl_ok / finite : 0, f_sel = finite ? (double)sel_agree / finite : 0;
    const double f_cand = both_sel ? (double)cand_same / both_sel : 1;
    gt_check(r, "scorer end to end vs CPU fp32", finite > 0 && f_kl >= 0.98 && f_sel >= 0.995 && !flips_far && f_cand >= 0.98,
             "\"traces\": %d, \"steps\": %lld, \"finite\": %ld, \"kl_within_0.02+0.02kl\": %.4f, \"selection_agree\": %.4f, "
             "\"flips\": %ld, \"worst_flip_dist_from_beta\": %.3g, \"selected_by_both\": %ld, \"same_plausible_sets\": %.4f, "
             "\"selected_cpu\": %lld, \"selected_dut\": %lld, \"mean_kl_cpu\": %.4f, "
             "\"dkl_over_bound_p50\": %.3g, \"p98\": %.3g, \"max\": %.3g",
             n_traces, (long long)ns, finite, f_kl, f_sel, finite - sel_agree, worst_flip, both_sel, f_cand,
             (long long)cc.n_selected, (long long)cd.n_selected, finite ? kl_sum / finite : 0, r50, r98, rmax);
    gt_check(r, "scorer time", 1,
             "\"steps\": %lld, \"cpu_s\": %.3f, \"dut_s\": %.3f, \"cpu_steps_per_s\": %.0f, \"dut_steps_per_s\": %.0f",
             (long long)ns, t_cpu, t_dut, ns / t_cpu, ns / t_dut);
    chunk_free(&cc), chunk_free(&cd);
    model_free(ec), model_free(ac), model_free(ed), model_free(ad);
    return r->failures;
}
