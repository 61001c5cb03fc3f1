/* One LoRA training step of ours (bench/TRAIN.md): forward + SPEC loss at
 * each sample's position + backward + global-norm clip + AdamW, over the
 * micro-batches of one step of a sample set (train_samples.h; the same ids,
 * labels and order as bench/train_bench.py). Prints one JSON line: median
 * step time, tokens and supervised positions per second, peak RSS.
 *   bench_train --model DIR [--micro-batch 8] [--targets q_proj,v_proj] [--r 8]
 *               [--repeats 3] [--warmup 1] [--threads N] [--recompute 1]
 *               [--samples stream] [--seq-len 256]       micro-batch x seq-len tokens
 *               [--samples traces] [--traces 2] [--n-samples 16] [--prompt-len 128]
 *               [--gen-len 128] [--pack 0|1]             per sample, or packed by trace */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "train_samples.h"
#include "common/error.h"
#include "model/model.h"
#include "trainer/adamw.h"
#include "trainer/lora.h"
#include "trainer/train_net.h"

/* Process CPU seconds (all threads): robust to other load on a shared machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *dir = bench_arg(argc, argv, "--model", NULL);
    if (!dir) {
        fprintf(stderr, "usage: bench_train --model DIR [...]\n");
        return 2;
    }
    const int mb = (int)bench_arg_long(argc, argv, "--micro-batch", 8);
    const int L = (int)bench_arg_long(argc, argv, "--seq-len", 256);
    const int reps = (int)bench_arg_long(argc, argv, "--repeats", 3);
    const int warm = (int)bench_arg_long(argc, argv, "--warmup", 1);
    const int recompute = (int)bench_arg_long(argc, argv, "--recompute", 0);
    const int threads = bench_threads((int)bench_arg_long(argc, argv, "--threads", 0));
    const long seed = bench_arg_long(argc, argv, "--seed", 1);
    const char *set = bench_arg(argc, argv, "--samples", "stream");
    if (strcmp(set, "stream") != 0 && strcmp(set, "traces") != 0) {
        fprintf(stderr, "bench_train: --samples stream|traces\n");
        return 2;
    }
    lr_model_opts mo = {.n_threads = threads};
    const double t_load = bench_now();
    lr_model *m = model_load(dir, &mo);
    if (!m) {
        fprintf(stderr, "bench_train: %s\n", lr_error_msg());
        return 1;
    }
    const double load_s = bench_now() - t_load;
    const int V = model_vocab_size(m);
    lora_config lc = {.r = (int)bench_arg_long(argc, argv, "--r", 8), .alpha = 16, .dropout = 0.05};
    if (lora_parse_targets(bench_arg(argc, argv, "--targets", "q_proj,v_proj"), "--targets", &lc.targets) != 0) {
        fprintf(stderr, "bench_train: %s\n", lr_error_msg());
        return 2;
    }
    lr_lora *a = lora_new(&lc, model_config(m));
    lora_init(a, 42);
    tr_net *net = tr_net_new(m, a, recompute);
    const bench_sample_opts so = {.stream = strcmp(set, "traces") != 0,
                                  .micro_batch = mb,
                                  .seq_len = L,
                                  .n_traces = (int)bench_arg_long(argc, argv, "--traces", 2),
                                  .n_samples = (int)bench_arg_long(argc, argv, "--n-samples", 16),
                                  .prompt_len = (int)bench_arg_long(argc, argv, "--prompt-len", 128),
                                  .gen_len = (int)bench_arg_long(argc, argv, "--gen-len", 128),
                                  .pack = bench_arg_long(argc, argv, "--pack", 0) != 0,
                                  .seed = (uint64_t)seed,
                                  .vocab = V};
    bench_step st;
    if (bench_step_build(&so, &st) != 0) return 2;
    const int S = st.n_samples; /* supervised positions per optimizer step */
    float *grad = calloc(a->n_params, sizeof *grad);
    double *loss = malloc((size_t)S * sizeof *loss);
    adamw_state opt;
    adamw_init(&opt, a->n_params);
    const adamw_hparams hp = {0.9, 0.999, 1e-8, 0.0};
    double *times = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *times), last_loss = 0, loss0 = 0;
    double *cpu = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *cpu);
    for (int it = 0; it < warm + reps; it++) {
        const double t0 = bench_now(), c0 = cpu_now();
        memset(grad, 0, a->n_params * sizeof *grad);
        for (int k = 0, j = 0; k < st.n_mb; j += tr_batch_n_loss(&st.mb[k]), k++)
            if (tr_net_step(net, &st.mb[k], (uint64_t)it, 1.0 / S, grad, loss + j) != 0) {
                fprintf(stderr, "bench_train: %s\n", lr_error_msg());
                return 1;
            }
        const double t1 = bench_now();
        const double gn = grad_norm(grad, a->n_params);
        grad_clip(grad, a->n_params, gn, 1.0);
        adamw_update(&opt, &hp, 5e-5, a->w, grad);
        const double t2 = bench_now(), c2 = cpu_now();
        last_loss = 0;
        for (int s = 0; s < S; s++) last_loss += loss[s] / S;
        if (it == 0) loss0 = last_loss;
        fprintf(stderr, "bench_train: step %d: %.2f s (forward+backward %.2f s), loss %.5f\n", it, t2 - t0, t1 - t0,
                last_loss);
        if (it >= warm) {
            times[it - warm] = t2 - t0;
            cpu[it - warm] = c2 - c0;
        }
    }
    const double med = bench_median(times, reps);
    bench_json_begin();
    bench_json_str("side", "ours");
    bench_json_str("scenario", so.stream ? (recompute ? "train_recompute" : "train")
                                         : (so.pack ? (recompute ? "pack_traces_recompute" : "pack_traces")
                                                    : (recompute ? "per_sample_recompute" : "per_sample")));
    bench_json_int("threads", threads);
    bench_json_int("micro_batch", mb);
    bench_json_int("seq_len", L);
    bench_json_str("samples", set);
    if (!so.stream) {
        bench_json_int("traces", so.n_traces);
        bench_json_int("prompt_len", so.prompt_len);
        bench_json_int("gen_len", so.gen_len);
    }
    bench_json_int("micro_batches", st.n_mb);
    bench_json_int("supervised", S);
    bench_json_int("tokens", st.tokens);
    bench_json_int("tokens_per_sample_set", st.tokens_per_sample);
    bench_json_num("tokens_per_supervised", (double)st.tokens / S);
    bench_json_num("attn_pairs", st.attn_pairs);
    bench_json_int("logit_positions", S); /* lm_head runs at the loss positions only */
    bench_json_int("lora_params", (long long)a->n_params);
    bench_json_num("load_s", load_s);
    bench_json_num("step_s", med);
    bench_json_arr("step_times", times, reps);
    bench_json_num("step_cpu_s", bench_median(cpu, reps));
    bench_json_num("tokens_per_s", (double)st.tokens / med);
    bench_json_num("supervised_per_s", (double)S / med);
    bench_json_num("loss0", loss0);
    bench_json_num("loss", last_loss);
    bench_json_num("activation_mb", (double)tr_net_activation_floats(net, st.max_tokens) * 4 / 1048576.0);
    bench_json_num("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0);
    bench_json_end();
    free(times), free(cpu), free(grad), free(loss);
    bench_step_free(&st);
    adamw_free(&opt);
    tr_net_free(net);
    lora_free(a);
    model_free(m);
    return 0;
}
