/* The CPU model runtime (src/model/model.h) under the bench scenarios. One
 * scenario per process, so that ru_maxrss is that scenario's peak RSS.
 *
 *   bench_runtime --model DIR --scenario score  [--batch 8] [--seq-len 256]
 *   bench_runtime --model DIR --scenario decode [--batch 1] [--prompt-len 16] [--new-tokens 128]
 *                 [--via generate|extend]
 *   common: [--threads N] [--repeats R] [--warmup 1] [--seed 1]
 *           [--weights-f32 1]  (widen a bf16 checkpoint at load instead of keeping it bf16)
 *
 * score : model_forward teacher-forced over batch x seq-len tokens, logits at
 *         every position (what the scorer needs); tokens/s, GFLOP/s.
 * decode: greedy model_generate (or a model_extend loop with argmax, --via
 *         extend) of new-tokens after a prompt-len prompt per sequence, EOS
 *         disabled so every sequence runs to the end; end-to-end tokens/s,
 *         and decode-only tokens/s from per-token callback timestamps.
 * Prints one JSON line on stdout (bench/report.py reads it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/error.h"
#include "model/model.h"

#define MAX_REP 16

#ifdef LR_BENCH_OPPROF /* bench_opprof: per-op timers (opprof.c) */
void opprof_install(lr_model *m);
void opprof_reset(void);
void opprof_report(FILE *f, const char *title, double passes);
#define OPPROF(x) x
#else
#define OPPROF(x)
#endif


typedef struct {
    int n_seq, new_tokens;
    double t_first, t_last; /* first / last on_step call of this run */
    long calls;
} step_clock;

static void on_step(void *ctx, int seq, int step, int32_t token, const float *logits) {
    step_clock *c = ctx;
    double t = bench_now();
    if (c->calls == 0) c->t_first = t;
    c->t_last = t;
    c->calls++;
}

/* Parameters in the matmuls (what a decode step must stream) and in total. */
static void count_params(const lr_model_config *c, double *matmul, double *total, double *lm_head) {
    double d = c->hidden_size, hd = c->head_dim, q = c->n_heads * hd, kv = c->n_kv_heads * hd;
    double ff = c->intermediate_size, V = c->vocab_size;
    double per_layer = d * q + 2 * d * kv + q * d + 3 * d * ff;
    double bias = c->attention_bias ? q + 2 * kv : 0;
    *lm_head = V * d;
    *matmul = c->n_layers * per_layer + *lm_head;
    *total = c->n_layers * (per_layer + bias + 2 * d) + d + V * d * (c->tie_word_embeddings ? 1 : 2);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    const char *dir = bench_arg(argc, argv, "--model", NULL);
    const char *scenario = bench_arg(argc, argv, "--scenario", "score");
    const char *via = bench_arg(argc, argv, "--via", "generate");
    int threads = bench_threads((int)bench_arg_long(argc, argv, "--threads", 0));
    int batch = (int)bench_arg_long(argc, argv, "--batch", strcmp(scenario, "score") == 0 ? 8 : 1);
    int seq_len = (int)bench_arg_long(argc, argv, "--seq-len", 256);
    int prompt_len = (int)bench_arg_long(argc, argv, "--prompt-len", 16);
    int new_tokens = (int)bench_arg_long(argc, argv, "--new-tokens", 128);
    int repeats = (int)bench_arg_long(argc, argv, "--repeats", 3);
    int warmup = (int)bench_arg_long(argc, argv, "--warmup", 1);
    uint64_t seed = (uint64_t)bench_arg_long(argc, argv, "--seed", 1);
    const int weights_f32 = (int)bench_arg_long(argc, argv, "--weights-f32", 0);
    if (!dir) {
        fprintf(stderr, "usage: bench_runtime --model DIR --scenario score|decode [options]\n");
        return 2;
    }
    if (repeats > MAX_REP) repeats = MAX_REP;
    if (repeats < 1) repeats = 1;

    double t0 = bench_now();
    lr_model_opts opts = {.n_threads = threads, .weights_f32 = weights_f32};
    lr_model *m = model_load(dir, &opts);
    if (!m) {
        fprintf(stderr, "bench_runtime: model_load: %s\n", lr_error_msg());
        return 2;
    }
    double load_s = bench_now() - t0;
    OPPROF(opprof_install(m));
    long rss_after_load = bench_peak_rss_kb();
    const lr_model_config *cfg = model_config(m);
    int V = model_vocab_size(m);
    double p_matmul, p_total, p_lm;
    count_params(cfg, &p_matmul, &p_total, &p_lm);
    double kv_per_token = 2.0 * cfg->n_layers * cfg->n_kv_heads * cfg->head_dim * sizeof(float);
    /* bytes per matrix weight in memory: bf16 when the model kept a bf16 checkpoint's dtype */
    const double matrix_bytes = model_weight_bytes(m) < 0.75 * p_total * sizeof(float) ? 2.0 : 4.0;

    double times[MAX_REP], decode_times[MAX_REP];
    double tokens = 0, flops = 0, kv_bytes = 0, out_bytes = 0, bytes_per_step = 0;
    int steps = 0;

    if (strcmp(scenario, "score") == 0) {
        int n = batch * seq_len;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
        int *lens = malloc(sizeof(int) * (size_t)batch);
        for (int b = 0; b < batch; b++) {
            lens[b] = seq_len;
            for (int i = 0; i < seq_len; i++) tok[(size_t)b * seq_len + i] = bench_token(seed + (uint64_t)b, (uint64_t)i, V);
        }
        out_bytes = (double)n * V * sizeof(float);
        float *logits = malloc((size_t)n * (size_t)V * sizeof(float));
        if (!logits) {
            fprintf(stderr, "bench_runtime: out of memory for logits\n");
            return 1;
        }
        for (int w = 0; w < warmup; w++)
            if (model_forward(m, tok, lens, batch, 1, logits) != 0) {
                fprintf(stderr, "bench_runtime: model_forward: %s\n", lr_error_msg());
                return 2;
            }
        OPPROF(opprof_reset());
        for (int r = 0; r < repeats; r++) {
            double a = bench_now();
            if (model_forward(m, tok, lens, batch, 1, logits) != 0) {
                fprintf(stderr, "bench_runtime: model_forward: %s\n", lr_error_msg());
                return 2;
            }
            times[r] = bench_now() - a;
        }
        tokens = n;
        /* attention: QK^T and PV over the causal prefix, 2 flops per MAC */
        double att = 0;
        for (int i = 0; i < seq_len; i++) att += 4.0 * cfg->n_heads * cfg->head_dim * (i + 1);
        flops = 2.0 * p_matmul * n + (double)cfg->n_layers * att * batch;
        kv_bytes = 0; /* model_forward keeps no cache; its K/V live in activations */
        free(tok);
        free(lens);
        free(logits);
    } else if (strcmp(scenario, "decode") == 0) {
        int32_t **prompts = malloc(sizeof(int32_t *) * (size_t)batch);
        int *plens = malloc(sizeof(int) * (size_t)batch);
        for (int b = 0; b < batch; b++) {
            plens[b] = prompt_len;
            prompts[b] = malloc(sizeof(int32_t) * (size_t)prompt_len);
            for (int i = 0; i < prompt_len; i++) prompts[b][i] = bench_token(seed + 100 + (uint64_t)b, (uint64_t)i, V);
        }
        int32_t **out = calloc((size_t)batch, sizeof(int32_t *));
        int *out_lens = calloc((size_t)batch, sizeof(int));
        lr_finish_reason *fin = calloc((size_t)batch, sizeof(lr_finish_reason));
        int use_extend = strcmp(via, "extend") == 0;
        lr_kv_cache *cache = NULL;
        float *last = NULL;
        int32_t *ptok = NULL;
        int *slots = NULL, *nnew = NULL;
        if (use_extend) {
            cache = kv_cache_new(m, batch, prompt_len + new_tokens);
            last = malloc(sizeof(float) * (size_t)batch * (size_t)V);
            ptok = malloc(sizeof(int32_t) * (size_t)batch * (size_t)prompt_len);
            slots = malloc(sizeof(int) * (size_t)batch);
            nnew = malloc(sizeof(int) * (size_t)batch);
        }
        for (int r = -warmup; r < repeats; r++) {
            int nt = r < 0 ? 8 : new_tokens; /* warm-up: a short run */
            step_clock clk = {.n_seq = batch, .new_tokens = nt};
            if (r == 0) {
                OPPROF(opprof_reset());
            }
            double a = bench_now();
            if (!use_extend) {
                lr_gen_params gp = {.max_new_tokens = nt, .temperature = 0.0, .top_p = 1.0, .seed = 1,
                                    .eos_ids = NULL, .n_eos = 0, .batch = batch};
                if (model_generate(m, (const int32_t *const *)prompts, plens, batch, &gp, on_step, &clk, out, out_lens,
                                   fin) != 0) {
                    fprintf(stderr, "bench_runtime: model_generate: %s\n", lr_error_msg());
                    return 2;
                }
                for (int b = 0; b < batch; b++) {
                    if (out_lens[b] != nt) {
                        fprintf(stderr, "bench_runtime: sequence %d generated %d tokens, expected %d\n", b, out_lens[b], nt);
                        return 1;
                    }
                    free(out[b]);
                    out[b] = NULL;
                }
            } else {
                for (int b = 0; b < batch; b++) {
                    kv_cache_clear_slot(cache, b);
                    slots[b] = b;
                    nnew[b] = prompt_len;
                    memcpy(ptok + (size_t)b * prompt_len, prompts[b], sizeof(int32_t) * (size_t)prompt_len);
                }
                for (int s = 0; s < nt; s++) {
                    if (model_extend(m, cache, slots, ptok, nnew, batch, last, NULL) != 0) {
                        fprintf(stderr, "bench_runtime: model_extend: %s\n", lr_error_msg());
                        return 2;
                    }
                    for (int b = 0; b < batch; b++) {
                        ptok[b] = argmax(last + (size_t)b * V, V);
                        on_step(&clk, b, s, ptok[b], last + (size_t)b * V);
                        nnew[b] = 1;
                    }
                }
            }
            double e = bench_now() - a;
            if (r >= 0) {
                times[r] = e;
                decode_times[r] = clk.t_last - clk.t_first;
            }
        }
        tokens = (double)batch * new_tokens;
        steps = new_tokens - 1; /* decode steps between the first and the last token */
        kv_bytes = kv_per_token * (double)batch * (prompt_len + new_tokens);
        /* bytes a decode step must read: every matmul weight once (in its
         * dtype in memory) plus the KV cache of every sequence at its mean length */
        bytes_per_step = p_matmul * matrix_bytes + kv_per_token * batch * (prompt_len + new_tokens / 2.0);
        flops = 2.0 * p_matmul * tokens;
        for (int b = 0; b < batch; b++) free(prompts[b]);
        free(prompts);
        free(plens);
        free(out);
        free(out_lens);
        free(fin);
        if (cache) kv_cache_free(cache);
        free(last);
        free(ptok);
        free(slots);
        free(nnew);
    } else {
        fprintf(stderr, "bench_runtime: unknown scenario %s\n", scenario);
        return 2;
    }
    double med = bench_median(times, repeats);
    {
        char title[128];
        snprintf(title, sizeof title, "%s batch %d, per pass = %s", scenario, batch,
                 strcmp(scenario, "score") == 0 ? "one model_forward" : "one decode step");
        (void)title;
        OPPROF(opprof_report(stderr, title, strcmp(scenario, "score") == 0 ? repeats : (double)repeats * new_tokens));
    }
    bench_json_begin();
    bench_json_str("bench", "model");
    bench_json_str("impl", "ours");
    bench_json_str("scenario", scenario);
    bench_json_str("via", strcmp(scenario, "decode") == 0 ? via : "model_forward");
    bench_json_int("batch", batch);
    bench_json_int("threads", threads);
    if (strcmp(scenario, "score") == 0)
        bench_json_int("seq_len", seq_len);
    else {
        bench_json_int("prompt_len", prompt_len);
        bench_json_int("new_tokens", new_tokens);
    }
    bench_json_num("load_s", load_s);
    bench_json_arr("times_s", times, repeats);
    bench_json_num("median_s", med);
    bench_json_num("tokens", tokens);
    bench_json_num("tok_s", tokens / med);
    bench_json_num("flops", flops);
    bench_json_num("gflops", flops / med * 1e-9);
    if (strcmp(scenario, "decode") == 0) {
        double dmed = bench_median(decode_times, repeats);
        bench_json_arr("decode_times_s", decode_times, repeats);
        bench_json_num("decode_tok_s", dmed > 0 ? batch * (double)steps / dmed : 0);
        bench_json_num("step_s", steps > 0 ? dmed / steps : 0);
        bench_json_num("bytes_per_step", bytes_per_step);
        bench_json_num("gbs", dmed > 0 ? bytes_per_step * steps / dmed * 1e-9 : 0);
    }
    bench_json_num("params_total", p_total);
    bench_json_num("params_matmul", p_matmul);
    bench_json_num("weight_bytes", (double)model_weight_bytes(m));
    bench_json_int("weights_bf16", matrix_bytes == 2);
    bench_json_num("kv_bytes", kv_bytes);
    bench_json_num("out_bytes", out_bytes);
    bench_json_int("rss_after_load_kb", rss_after_load);
    bench_json_int("peak_rss_kb", bench_peak_rss_kb());
    bench_json_end();
    model_free(m);
    return 0;
}
