/* Trace packing is exact: the selected steps of a trace share its prefix,
 * and with causal attention the loss at position p sees only tokens <= p,
 * so ONE forward/backward over the longest prefix with the loss read at
 * each step's position gives the per-sample losses and the sum of their
 * gradients (dropout 0). Two traces (5 and 3 steps) are trained as 8
 * separate prefixes and as 2 packed sequences in one micro-batch; losses
 * agree within 1e-5 relative and every LoRA gradient entry within 1e-5 of
 * the largest (fp32 summation order differs). Also: malformed loss
 * positions are input errors, and the tokens processed per supervised
 * position drop as expected. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/model.h"
#include "test_util.h"
#include "trainer/lora.h"
#include "trainer/train_net.h"

static uint64_t s_rng = 99;
static double rnd(void) {
    s_rng = s_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(s_rng >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

int main(void) {
    lr_model_opts mo = {.n_threads = 2, .quiet = 1, .weights_f32 = 1};
    lr_model *m = model_load(test_data_path("model/qwen2_tied"), &mo);
    EXPECT(m != NULL, "%s", lr_error_msg());
    if (!m) return test_finish("test_train_pack");
    const int V = model_vocab_size(m);
    lora_config lc = {.r = 2, .alpha = 4, .dropout = 0.0, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, model_config(m));
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = (float)(0.3 * rnd());

    /* two traces and their selected steps (loss positions, ascending) */
    enum { LEN0 = 30, LEN1 = 21, NS = 8 };
    int32_t tr[LEN0 + LEN1];
    for (int i = 0; i < LEN0 + LEN1; i++) tr[i] = (int32_t)((unsigned)(i * 7919 + 11) % (unsigned)V);
    const int s_seq[NS] = {0, 0, 0, 0, 0, 1, 1, 1}, s_pos[NS] = {9, 14, 15, 22, 29, 4, 11, 20};
    int64_t lab_off[NS + 1] = {0};
    int32_t lab_ids[3 * NS];
    float lab_w[3 * NS];
    for (int j = 0; j < NS; j++) {
        const int k = 1 + j % 3; /* 1..3 label ids */
        float sum = 0;
        for (int i = 0; i < k; i++) {
            lab_ids[lab_off[j] + i] = (int32_t)((unsigned)(j * 31 + i * 101 + 5) % (unsigned)V);
            lab_w[lab_off[j] + i] = (float)(0.2 + fabs(rnd()));
            sum += lab_w[lab_off[j] + i];
        }
        for (int i = 0; i < k; i++) lab_w[lab_off[j] + i] /= sum;
        lab_off[j + 1] = lab_off[j] + k;
    }
    const int trace_off[2] = {0, LEN0};

    /* unpacked: 8 prefixes, loss at each one's last token */
    int32_t *tok = malloc(sizeof(int32_t) * NS * LEN0);
    int lens[NS];
    int64_t keys[NS];
    long T_unpacked = 0;
    for (int j = 0; j < NS; j++) {
        lens[j] = s_pos[j] + 1;
        memcpy(tok + T_unpacked, tr + trace_off[s_seq[j]], (size_t)lens[j] * sizeof(int32_t));
        T_unpacked += lens[j];
        keys[j] = j;
    }
    tr_batch bu = {.n_seq = NS, .tokens = tok, .lens = lens, .key = keys, .lab_off = lab_off, .lab_ids = lab_ids,
                   .lab_w = lab_w};
    /* packed: 2 sequences, up to each trace's last selected step */
    const int plens[2] = {s_pos[4] + 1, s_pos[7] + 1};
    int32_t ptok[LEN0 + LEN1];
    memcpy(ptok, tr, (size_t)plens[0] * sizeof(int32_t));
    memcpy(ptok + plens[0], tr + LEN0, (size_t)plens[1] * sizeof(int32_t));
    const int64_t pkeys[2] = {0, 1};
    tr_batch bp = {.n_seq = 2, .tokens = ptok, .lens = plens, .key = pkeys, .lab_off = lab_off, .lab_ids = lab_ids,
                   .lab_w = lab_w, .n_loss = NS, .loss_seq = s_seq, .loss_pos = s_pos};

    tr_net *n = tr_net_new(m, a, 0);
    float *gu = calloc(a->n_params, sizeof(float)), *gp = calloc(a->n_params, sizeof(float));
    double lu[NS], lp[NS];
    EXPECT(tr_net_step(n, &bu, 7, 1.0, gu, lu) == 0, "unpacked step: %s", lr_error_msg());
    EXPECT(tr_net_step(n, &bp, 7, 1.0, gp, lp) == 0, "packed step: %s", lr_error_msg());
    for (int j = 0; j < NS; j++)
        EXPECT(fabs(lu[j] - lp[j]) <= 1e-5 * fabs(lu[j]) + 1e-7, "loss %d: %.9g unpacked vs %.9g packed", j, lu[j], lp[j]);
    double gmax = 0, emax = 0, nz = 0;
    for (size_t i = 0; i < a->n_params; i++) {
        gmax = fmax(gmax, fabs(gu[i]));
        emax = fmax(emax, fabs((double)gu[i] - gp[i]));
        nz += gu[i] != 0;
    }
    printf("LoRA gradients: %zu entries (%g nonzero), max |g| %.3e, max |unpacked - packed| %.3e\n", a->n_params, nz,
           gmax, emax);
    EXPECT(gmax > 0 && nz > 0.5 * (double)a->n_params, "the gradient is (mostly) zero: the test would prove nothing");
    EXPECT(emax <= 1e-5 * gmax, "packed gradients differ by %.3e (max |g| %.3e)", emax, gmax);
    const long T_packed = plens[0] + plens[1];
    printf("tokens per supervised position: unpacked %.2f, packed %.2f (%.2fx fewer)\n", (double)T_unpacked / NS,
           (double)T_packed / NS, (double)T_unpacked / (double)T_packed);
    EXPECT(T_packed * 2 < T_unpacked, "packing saved too little (%ld vs %ld tokens)", T_packed, T_unpacked);

    /* logits at the loss positions equal the per-prefix last-token logits */
    float *zu = malloc(sizeof(float) * NS * V), *zp = malloc(sizeof(float) * NS * V);
    EXPECT(tr_net_logits(n, &bu, 0, zu) == 0 && tr_net_logits(n, &bp, 0, zp) == 0, "logits: %s", lr_error_msg());
    double zmax = 0;
    for (size_t i = 0; i < (size_t)NS * V; i++) zmax = fmax(zmax, fabs((double)zu[i] - zp[i]));
    EXPECT(zmax <= 1e-5, "logits at the loss positions differ by %.3e", zmax);

    /* malformed loss positions are input errors, not crashes */
    int bad_pos[NS];
    memcpy(bad_pos, s_pos, sizeof bad_pos);
    bad_pos[2] = 40; /* past its sequence */
    tr_batch bb = bp;
    bb.loss_pos = bad_pos;
    EXPECT(tr_net_step(n, &bb, 7, 1.0, gp, lp) == -1, "a loss position past its sequence was accepted");
    bad_pos[2] = 8; /* out of order within sequence 0 */
    EXPECT(tr_net_step(n, &bb, 7, 1.0, gp, lp) == -1, "loss positions out of order were accepted");

    free(zu);
    free(zp);
    free(gu);
    free(gp);
    free(tok);
    tr_net_free(n);
    lora_free(a);
    model_free(m);
    return test_finish("test_train_pack");
}
