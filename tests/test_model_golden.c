/* The C runtime against transformers goldens (tests/reference/
 * make_model_goldens.py): logits of a ragged batch within 1e-4, per-position
 * log-probs and entropies within 1e-4, identical 32-token greedy
 * continuations, on the three tiny models (Qwen2 tied + bias, Qwen2 GQA 4:1
 * with head_dim != hidden/heads from sharded bf16, Llama with llama3 rope).
 * RoPE over long sequences: one 512-token sequence on a Llama with unusual
 * llama3 scaling and on a Qwen2 with theta 1e6 / head_dim 128, logits within
 * 1e-4 at every stored position and no growth with position (an inv_freq
 * 1 ulp off shows as an error that grows linearly with the position). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/logits_stats.h"
#include "model/model.h"
#include "test_model_util.h"
#include "test_util.h"

#define TOL 1e-4

static void check_model(const char *name) {
    golden g;
    if (golden_open(&g, name) != 0) return;
    lr_model_opts o = {.n_threads = 2};
    lr_model *m = model_load(test_model_dir(name), &o);
    EXPECT(m != NULL, "%s: model_load failed: %s", name, lr_error_msg());
    if (!m) {
        golden_close(&g);
        return;
    }
    const int V = model_vocab_size(m);
    long T, ns, nl;
    int32_t *tok = golden_i32(&g, "ragged_tokens", &T);
    int32_t *lens32 = golden_i32(&g, "ragged_lens", &ns);
    float *ref = golden_f32(&g, "ragged_logits", &nl);
    EXPECT(nl == T * V, "%s: golden logits %ld != %ld x %d", name, nl, T, V);
    int *lens = malloc(ns * sizeof *lens);
    for (long i = 0; i < ns; i++) lens[i] = lens32[i];

    /* all positions */
    float *lg = malloc((size_t)T * V * sizeof(float));
    EXPECT(model_forward(m, tok, lens, (int)ns, 1, lg) == 0, "%s: forward: %s", name, lr_error_msg());
    long w;
    double d = max_abs_diff(lg, ref, T * V, &w);
    EXPECT(d <= TOL, "%s: ragged logits max |diff| %.3g at token %ld id %ld (ours %.6f, HF %.6f)", name, d, w / V,
           w % V, lg[w], ref[w]);
    printf("%s: ragged logits max |diff| %.3g\n", name, d);

    /* last positions only */
    float *last = malloc((size_t)ns * V * sizeof(float));
    EXPECT(model_forward(m, tok, lens, (int)ns, 0, last) == 0, "%s: forward last: %s", name, lr_error_msg());
    long off = 0;
    for (long s = 0; s < ns; s++) {
        off += lens[s];
        d = max_abs_diff(last + s * V, ref + (off - 1) * V, V, &w);
        EXPECT(d <= TOL, "%s: last-position logits of seq %ld differ by %.3g at id %ld", name, s, d, w);
    }

    /* log-probs and entropies of the next token */
    long nlp;
    float *ref_lp = golden_f32(&g, "logprobs", &nlp);
    float *ref_ent = golden_f32(&g, "entropy", NULL);
    EXPECT(nlp == T - ns, "%s: %ld golden log-probs for %ld tokens", name, nlp, T);
    double dlp = 0, dent = 0;
    long k = 0;
    off = 0;
    for (long s = 0; s < ns; s++) {
        for (int t = 0; t + 1 < lens[s]; t++, k++) {
            float lp, ent;
            logits_row_stats(lg + (off + t) * V, V, tok[off + t + 1], 0, NULL, &lp, &ent, NULL, NULL, NULL);
            dlp = fmax(dlp, fabs(lp - ref_lp[k]));
            dent = fmax(dent, fabs(ent - ref_ent[k]));
        }
        off += lens[s];
    }
    EXPECT(dlp <= TOL, "%s: log-probs max |diff| %.3g", name, dlp);
    EXPECT(dent <= TOL, "%s: entropies max |diff| %.3g", name, dent);
    printf("%s: log-prob max |diff| %.3g, entropy %.3g\n", name, dlp, dent);

    /* greedy continuations, both prompts in one batch */
    long np, ng;
    int32_t *pr = golden_i32(&g, "greedy_prompts", NULL);
    int32_t *plens32 = golden_i32(&g, "greedy_lens", &np);
    int32_t *gout = golden_i32(&g, "greedy_out", &ng);
    const int n_new = (int)(ng / np);
    const int32_t *prompts[8];
    int plens[8];
    for (long i = 0, o2 = 0; i < np; i++) {
        prompts[i] = pr + o2;
        plens[i] = plens32[i];
        o2 += plens32[i];
    }
    for (int batch = 1; batch <= 2; batch++) {
        lr_gen_params gp = {.max_new_tokens = n_new, .temperature = 0, .top_p = 1, .seed = 0, .batch = batch};
        int32_t *outs[8];
        int olens[8];
        lr_finish_reason fin[8];
        EXPECT(model_generate(m, prompts, plens, (int)np, &gp, NULL, NULL, outs, olens, fin) == 0, "%s: generate: %s",
               name, lr_error_msg());
        for (long i = 0; i < np; i++) {
            EXPECT(olens[i] == n_new && fin[i] == FINISH_LENGTH, "%s: prompt %ld generated %d tokens (finish %d)",
                   name, i, olens[i], (int)fin[i]);
            for (int t = 0; t < olens[i] && t < n_new; t++)
                if (outs[i][t] != gout[i * n_new + t]) {
                    EXPECT(0, "%s batch %d: greedy prompt %ld differs at step %d: ours %d, HF %d", name, batch, i, t,
                           outs[i][t], gout[i * n_new + t]);
                    break;
                }
            free(outs[i]);
        }
    }

    if (!strcmp(name, "qwen2_tied")) {
        long nc, ncg;
        int32_t *chat = golden_i32(&g, "chat_prompt_ids", &nc);
        int32_t *cg = golden_i32(&g, "chat_greedy", &ncg);
        const int32_t *cp[1] = {chat};
        int cl[1] = {(int)nc}, ol[1];
        int32_t *co[1];
        lr_finish_reason cf[1];
        lr_gen_params gp = {.max_new_tokens = (int)ncg, .batch = 1, .top_p = 1};
        EXPECT(model_generate(m, cp, cl, 1, &gp, NULL, NULL, co, ol, cf) == 0, "chat generate: %s", lr_error_msg());
        EXPECT(ol[0] == ncg && !memcmp(co[0], cg, ncg * sizeof(int32_t)), "%s: chat greedy continuation differs",
               name);
        free(co[0]);
        free(chat);
        free(cg);
    }
    free(pr);
    free(plens32);
    free(gout);
    free(ref_lp);
    free(ref_ent);
    free(last);
    free(lg);
    free(lens);
    free(lens32);
    free(tok);
    free(ref);
    model_free(m);
    golden_close(&g);
}

/* Largest |ours - HF| over the stored positions in [lo, hi]. */
static double err_between(const double *err, const int32_t *pos, long np, int lo, int hi) {
    double e = 0;
    for (long i = 0; i < np; i++)
        if (pos[i] >= lo && pos[i] <= hi) e = fmax(e, err[i]);
    return e;
}

static void check_long(const char *name) {
    golden g;
    if (golden_open(&g, name) != 0) return;
    lr_model_opts o = {.n_threads = 2};
    lr_model *m = model_load(test_model_dir(name), &o);
    EXPECT(m != NULL, "%s: model_load failed: %s", name, lr_error_msg());
    if (!m) {
        golden_close(&g);
        return;
    }
    const int V = model_vocab_size(m);
    long T, np, nl;
    int32_t *tok = golden_i32(&g, "long_tokens", &T);        /* (T) */
    int32_t *pos = golden_i32(&g, "long_positions", &np);    /* (np) */
    float *ref = golden_f32(&g, "long_logits", &nl);         /* (np, V) */
    EXPECT(nl == np * V && T >= 512, "%s: golden shapes %ld x %d, T %ld", name, nl, V, T);
    float *lg = malloc((size_t)T * V * sizeof(float)); /* (T, V) */
    double *err = calloc((size_t)np, sizeof(double));  /* (np) max |diff| per stored position */
    int len = (int)T;
    EXPECT(model_forward(m, tok, &len, 1, 1, lg) == 0, "%s: forward: %s", name, lr_error_msg());
    for (long i = 0; i < np && nl == np * V; i++) {
        EXPECT(pos[i] >= 0 && pos[i] < T, "%s: golden position %d", name, pos[i]);
        if (pos[i] < 0 || pos[i] >= T) continue;
        long w;
        err[i] = max_abs_diff(lg + (size_t)pos[i] * V, ref + i * V, V, &w);
        EXPECT(err[i] <= TOL, "%s: logits at position %d differ by %.3g at id %ld (ours %.6f, HF %.6f)", name,
               pos[i], err[i], w, lg[(size_t)pos[i] * V + w], ref[i * V + w]);
    }
    const double early = err_between(err, pos, np, 0, 63), late = err_between(err, pos, np, 384, (int)T - 1);
    printf("%s: logits max |diff| at position 2: %.3g, 200: %.3g, 511: %.3g (0-63: %.3g, 384-511: %.3g)\n", name,
           err_between(err, pos, np, 2, 2), err_between(err, pos, np, 200, 200),
           err_between(err, pos, np, 511, 511), early, late);
    /* fp32 noise is a few 1e-6 at every position; RoPE angles off by an ulp
     * of inv_freq add pos * ulp and reach ~1e-4 by position 511. */
    EXPECT(late <= 4 * early + 1e-5, "%s: error grows with the position: %.3g at 384-511 vs %.3g at 0-63", name,
           late, early);
    free(err);
    free(lg);
    free(ref);
    free(pos);
    free(tok);
    model_free(m);
    golden_close(&g);
}

int main(void) {
    for (int i = 0; i < N_TEST_MODELS; i++) check_model(test_model_names[i]);
    check_long("llama3_long");
    check_long("qwen2_long");
    return test_finish("test_model_golden");
}
