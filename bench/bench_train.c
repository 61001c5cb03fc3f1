/* One LoRA training step of ours (bench/TRAIN.md): forward + SPEC loss at
 * the last position + backward + global-norm clip + AdamW, on micro-batch
 * × seq-len tokens of the bench token stream (the same ids and labels as
 * bench/train_bench.py). Prints one JSON line: median step time, tokens/s,
 * peak RSS.
 *   bench_train --model DIR [--micro-batch 8] [--seq-len 256] [--targets q_proj,v_proj]
 *               [--r 8] [--repeats 3] [--warmup 1] [--threads N] [--recompute 1] */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
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
    /* batch: mb sequences of L bench tokens; 4-entry soft labels */
    int32_t *tok = malloc((size_t)mb * L * sizeof *tok);
    int *lens = malloc((size_t)mb * sizeof *lens);
    int64_t *keys = malloc((size_t)mb * sizeof *keys), *off = malloc((size_t)(mb + 1) * sizeof *off);
    int32_t *ids = malloc((size_t)mb * 4 * sizeof *ids);
    float *w = malloc((size_t)mb * 4 * sizeof *w);
    const float wv[4] = {0.4f, 0.3f, 0.2f, 0.1f};
    for (int s = 0; s < mb; s++) {
        for (int i = 0; i < L; i++) tok[(size_t)s * L + i] = bench_token((uint64_t)seed, (uint64_t)s * L + i, V);
        lens[s] = L;
        keys[s] = s;
        off[s] = 4 * s;
        for (int j = 0; j < 4; j++) {
            ids[4 * s + j] = (int32_t)((bench_token((uint64_t)seed + 100, (uint64_t)s, V) + 977 * j) % V);
            w[4 * s + j] = wv[j];
        }
    }
    off[mb] = 4 * mb;
    tr_batch b = {.n_seq = mb, .tokens = tok, .lens = lens, .key = keys, .lab_off = off, .lab_ids = ids, .lab_w = w};
    float *grad = calloc(a->n_params, sizeof *grad);
    double *loss = malloc((size_t)mb * sizeof *loss);
    adamw_state opt;
    adamw_init(&opt, a->n_params);
    const adamw_hparams hp = {0.9, 0.999, 1e-8, 0.0};
    double *times = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *times), fwdbwd_min = 1e30, last_loss = 0;
    double *cpu = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *cpu);
    for (int it = 0; it < warm + reps; it++) {
        const double t0 = bench_now(), c0 = cpu_now();
        memset(grad, 0, a->n_params * sizeof *grad);
        if (tr_net_step(net, &b, (uint64_t)it, 1.0 / mb, grad, loss) != 0) {
            fprintf(stderr, "bench_train: %s\n", lr_error_msg());
            return 1;
        }
        const double t1 = bench_now();
        const double gn = grad_norm(grad, a->n_params);
        grad_clip(grad, a->n_params, gn, 1.0);
        adamw_update(&opt, &hp, 5e-5, a->w, grad);
        const double t2 = bench_now(), c2 = cpu_now();
        last_loss = 0;
        for (int s = 0; s < mb; s++) last_loss += loss[s] / mb;
        fprintf(stderr, "bench_train: step %d: %.2f s (forward+backward %.2f s), loss %.5f\n", it, t2 - t0, t1 - t0,
                last_loss);
        if (it >= warm) {
            times[it - warm] = t2 - t0;
            cpu[it - warm] = c2 - c0;
            if (t1 - t0 < fwdbwd_min) fwdbwd_min = t1 - t0;
        }
    }
    const double med = bench_median(times, reps);
    bench_json_begin();
    bench_json_str("side", "ours");
    bench_json_str("scenario", recompute ? "train_recompute" : "train");
    bench_json_int("threads", threads);
    bench_json_int("micro_batch", mb);
    bench_json_int("seq_len", L);
    bench_json_int("lora_params", (long long)a->n_params);
    bench_json_num("load_s", load_s);
    bench_json_num("step_s", med);
    bench_json_arr("step_times", times, reps);
    bench_json_num("step_cpu_s", bench_median(cpu, reps));
    bench_json_num("tokens_per_s", (double)mb * L / med);
    bench_json_num("loss", last_loss);
    bench_json_num("activation_mb", (double)tr_net_activation_floats(net, mb * L) * 4 / 1048576.0);
    bench_json_num("peak_rss_mb", (double)bench_peak_rss_kb() / 1024.0);
    bench_json_end();
    free(times), free(cpu), free(tok), free(lens), free(keys), free(off), free(ids), free(w), free(grad), free(loss);
    adamw_free(&opt);
    tr_net_free(net);
    lora_free(a);
    model_free(m);
    return 0;
}
