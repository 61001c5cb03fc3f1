/* `train`, `export` and `merge` end to end against transformers + peft:
 *   - 5 AdamW steps (micro-batch 2 x accumulation 2, clipping active, linear
 *     lr, shuffled data, starting from a peft adapter): per-step loss, grad
 *     norm and lr from /train/log and the exported adapter vs the golden
 *     (tests/reference/make_train_goldens.py), <= 1e-4;
 *   - `export --step N` of every checkpoint, the latest = --export's adapter;
 *   - round trip (goldens_roundtrip.safetensors): the adapter our `train`
 *     exported, loaded by peft, gives logits equal to ours (adapter applied
 *     by the runtime and by the training forward); our `merge` loaded by
 *     transformers gives the same logits, and so does our runtime on it;
 *   - `logprobs --adapter` gives peft's log-probs; `generate --adapter` gives
 *     the merged model's greedy tokens;
 *   - merge into a sharded bf16 model keeps dtype and shards.
 * With --make-runfile FILE it only writes the golden's run file (used by
 * the reference script's phase 2). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_train_util.h"
#include "test_util.h"
#include "trainer/peft_adapter.h"
#include "trainer/train_net.h"

static st_set G;

static double rel_cmp(const float *got, const float *want, size_t n) {
    double md = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)got[i] - want[i]));
        mx = fmax(mx, fabs(want[i]));
    }
    return md / (mx > 0 ? mx : 1);
}

static lr_lora *load_adapter(const char *dir) {
    lr_model_config mc;
    lr_generation_config gc;
    if (model_config_load_dir(&mc, &gc, test_data_path("sample/expert")) != 0) return NULL;
    return peft_adapter_load(dir, &mc, "expert");
}

/* Max relative difference of two adapters of the same shapes. */
static double adapter_diff(const lr_lora *a, const lr_lora *b) {
    if (!a || !b || a->n_params != b->n_params) return INFINITY;
    return rel_cmp(a->w, b->w, a->n_params);
}

static void check_training(const char *dir) {
    char run[512], exp[512], cmd[4096];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    snprintf(exp, sizeof exp, "%s/exported", dir);
    test_write_golden_runfile(run);
    const int64_t *cfgv = st_find(&G, "adamw.config")->data; /* seed, micro, accum, steps, r, alpha */
    const double *hyper = st_find(&G, "adamw.hyper")->data; /* lr, clip */
    snprintf(cmd, sizeof cmd,
             "LR_MPI=0 OMP_NUM_THREADS=1 %s train --run %s --model %s --init-adapter %s --lr %.17g --max-grad-norm "
             "%.17g --micro-batch %lld --grad-accum %lld --max-steps %lld --seed %lld --dropout 0 --save-every 2 "
             "--export %s --quiet",
             test_bin(), run, test_data_path("sample/expert"), test_data_path("train/adapter_expert_qvd"), hyper[0],
             hyper[1], (long long)cfgv[1], (long long)cfgv[2], (long long)cfgv[3], (long long)cfgv[0], exp);
    char *out = NULL;
    int rc = test_run(cmd, &out);
    EXPECT(rc == 0, "train exit %d: %s", rc, out);
    free(out);
    const char *cols[] = {"loss", "grad_norm", "lr"};
    const char *gold[] = {"adamw.loss", "adamw.grad_norm", "adamw.lr"};
    for (int c = 0; c < 3; c++) {
        double *v = NULL;
        long n = test_read_log(run, cols[c], &v);
        const st_tensor *t = st_find(&G, gold[c]);
        const double *w = t->data;
        EXPECT(n == t->numel, "%s: %ld log entries, golden %lld", cols[c], n, (long long)t->numel);
        for (long i = 0; i < n && i < t->numel; i++) {
            EXPECT(fabs(v[i] - w[i]) <= 1e-4 * fmax(1.0, fabs(w[i])), "step %ld %s: %.9g vs golden %.9g", i + 1,
                   cols[c], v[i], w[i]);
            if (c == 0) printf("step %ld: loss %.7f (golden %.7f), ", i + 1, v[i], w[i]);
        }
        if (c == 0) printf("\n");
        free(v);
    }
    lr_lora *a = load_adapter(exp);
    EXPECT(a != NULL, "exported adapter: %s", lr_error_msg());
    if (a) {
        double worst = 0;
        for (int s = 0; s < a->n_slots; s++)
            for (int w = 0; w < 2; w++) {
                char key[256], nm[300];
                lora_peft_name(a, s, w, key, sizeof key);
                snprintf(nm, sizeof nm, "adamw.final.%s", key);
                const st_tensor *t = st_find(&G, nm);
                EXPECT(t != NULL, "golden %s missing", nm);
                if (!t) continue;
                const lora_slot *sl = &a->slots[s];
                const double e = rel_cmp(a->w + (w ? sl->b : sl->a), t->data, (size_t)t->numel);
                worst = fmax(worst, e);
                EXPECT(e <= 1e-4, "%s after 5 steps: relative error %g", key, e);
            }
        printf("AdamW: final adapter vs torch.optim.AdamW: worst relative error %.3g\n", worst);
    }
    /* checkpoints 2, 4 and 5 (the end) exist; 3 does not */
    for (int s = 2; s <= 5; s++) {
        char d2[512];
        snprintf(d2, sizeof d2, "%s/ckpt%d", dir, s);
        snprintf(cmd, sizeof cmd, "%s export --run %s --step %d --out %s --quiet", test_bin(), run, s, d2);
        rc = test_run(cmd, &out);
        EXPECT(rc == (s == 3 ? 2 : 0), "export --step %d: exit %d: %s", s, rc, out);
        free(out);
        if (s == 5) {
            lr_lora *b = load_adapter(d2);
            EXPECT(adapter_diff(a, b) == 0.0, "export of the last checkpoint differs from --export");
            lora_free(b);
        }
    }
    snprintf(cmd, sizeof cmd, "%s export --run %s --out %s/latest --quiet", test_bin(), run, dir);
    EXPECT(test_run(cmd, NULL) == 0, "export (latest)");
    char latest[512];
    snprintf(latest, sizeof latest, "%s/latest", dir);
    lr_lora *b = load_adapter(latest);
    EXPECT(adapter_diff(a, b) == 0.0, "export of the latest checkpoint differs from --export");
    lora_free(b);
    /* the committed exported adapter (the peft round trip's input) is what training gives now */
    b = load_adapter(test_data_path("train/exported_adapter"));
    if (b) {
        const double e = adapter_diff(a, b);
        printf("fresh training vs the committed exported adapter: %.3g\n", e);
        EXPECT(e <= 1e-4, "training no longer reproduces tests/data/train/exported_adapter (%g)", e);
    }
    lora_free(b);
    lora_free(a);
}

static float *forward_all(lr_model *m, const int32_t *tok, const int *lens, int n, long T) {
    float *lg = malloc((size_t)T * model_vocab_size(m) * sizeof(float));
    if (model_forward(m, tok, lens, n, 1, lg) != 0) {
        free(lg);
        return NULL;
    }
    return lg;
}

static void check_roundtrip(const char *dir) {
    st_set R;
    if (st_open_file(&R, test_data_path("train/goldens_roundtrip.safetensors")) != 0) {
        EXPECT(0, "goldens_roundtrip.safetensors: %s (run make_train_goldens.py --bin)", lr_error_msg());
        return;
    }
    const st_tensor *tt = st_find(&R, "roundtrip.tokens"), *tl = st_find(&R, "roundtrip.lens");
    const st_tensor *peft_logits = st_find(&R, "roundtrip.logits"), *merged_logits = st_find(&R, "roundtrip.merged_logits");
    const int n = (int)tl->numel;
    int lens[16];
    long T = 0;
    for (int i = 0; i < n; i++) lens[i] = ((const int32_t *)tl->data)[i], T += lens[i];
    const int32_t *tok = tt->data;
    const char *adapter = test_data_path("train/exported_adapter");
    lr_model_opts mo = {.n_threads = 2};

    /* 1. the runtime with --adapter (merged in memory) vs peft */
    lr_model *m = model_load(test_data_path("sample/expert"), &mo);
    EXPECT(m && model_apply_adapter(m, adapter) == 0, "apply: %s", lr_error_msg());
    if (m) { /* the model API refuses deltas that do not fit (nothing is changed) */
        const float one[4] = {1, 1, 1, 1};
        EXPECT(model_add_lora(m, model_config(m)->n_layers, LR_LINEAR_Q, 1, 1, 1, 1.0f, one, one) == -1 &&
                   strstr(lr_error_msg(), "outside the model"),
               "a layer out of range is refused: %s", lr_error_msg());
        EXPECT(model_add_lora(m, 0, LR_LINEAR_DOWN, 1, 2, 2, 1.0f, one, one) == -1 && strstr(lr_error_msg(), "shape"),
               "a delta of the wrong shape is refused: %s", lr_error_msg());
    }
    float *ours = m ? forward_all(m, tok, lens, n, T) : NULL;
    const size_t nv = (size_t)T * (m ? model_vocab_size(m) : 0);
    if (ours) {
        double md = 0;
        for (size_t i = 0; i < nv; i++) md = fmax(md, fabs((double)ours[i] - ((const float *)peft_logits->data)[i]));
        printf("round trip: our exported adapter in peft vs our runtime --adapter: max |diff| %.3g\n", md);
        EXPECT(md <= 1e-4, "adapter logits differ from peft's by %g", md);
    }
    model_free(m);

    /* 2. the training forward (unmerged) vs peft */
    m = model_load(test_data_path("sample/expert"), &mo);
    lr_lora *a = m ? peft_adapter_load(adapter, model_config(m), "expert") : NULL;
    if (a) {
        tr_net *net = tr_net_new(m, a, 0);
        float *lg = malloc(nv * sizeof(float));
        int64_t keys[16] = {0};
        tr_batch b = {.n_seq = n, .tokens = tok, .lens = lens, .key = keys};
        EXPECT(tr_net_logits(net, &b, 1, lg) == 0, "%s", lr_error_msg());
        double md = 0;
        for (size_t i = 0; i < nv; i++) md = fmax(md, fabs((double)lg[i] - ((const float *)peft_logits->data)[i]));
        printf("round trip: training forward (unmerged LoRA) vs peft: max |diff| %.3g\n", md);
        EXPECT(md <= 1e-4, "training-forward logits differ from peft's by %g", md);
        free(lg);
        tr_net_free(net);
    }
    lora_free(a);
    model_free(m);

    /* 3. our merge, loaded by our runtime, vs transformers on the same merge and vs adapter-on logits */
    char merged[512], cmd[2048];
    snprintf(merged, sizeof merged, "%s/merged", dir);
    snprintf(cmd, sizeof cmd, "%s merge --model %s --adapter %s --out %s --quiet", test_bin(),
             test_data_path("sample/expert"), adapter, merged);
    char *out = NULL;
    int rc = test_run(cmd, &out);
    EXPECT(rc == 0, "merge exit %d: %s", rc, out);
    free(out);
    m = model_load(merged, &mo);
    EXPECT(m != NULL, "merged dir: %s", lr_error_msg());
    float *mg = m ? forward_all(m, tok, lens, n, T) : NULL;
    if (mg && ours) {
        double d1 = 0, d2 = 0;
        for (size_t i = 0; i < nv; i++) {
            d1 = fmax(d1, fabs((double)mg[i] - ((const float *)merged_logits->data)[i]));
            d2 = fmax(d2, fabs((double)mg[i] - ours[i]));
        }
        printf("merge: our runtime on the merged dir vs transformers on it %.3g, vs adapter-on logits %.3g\n", d1, d2);
        EXPECT(d1 <= 1e-4 && d2 <= 1e-4, "merged logits: %g vs transformers, %g vs adapter", d1, d2);
    }
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/tokenizer.json", merged);
    FILE *f = fopen(cfg, "rb");
    EXPECT(f != NULL, "tokenizer.json not copied into the merged dir");
    if (f) fclose(f);
    free(mg);
    free(ours);
    model_free(m);
    st_close(&R);
}

/* `logprobs --adapter` vs peft's logits, and `generate --adapter` = `generate` on the merged dir. */
static void check_adapter_flags(const char *dir) {
    st_set R;
    if (st_open_file(&R, test_data_path("train/goldens_roundtrip.safetensors")) != 0) return;
    const st_tensor *tt = st_find(&R, "roundtrip.tokens"), *tl = st_find(&R, "roundtrip.lens");
    const float *peft = st_find(&R, "roundtrip.logits")->data;
    const int32_t *tok = tt->data, *lens = tl->data;
    const int V = 408;
    char in[512], out_h5[512], cmd[4096];
    snprintf(in, sizeof in, "%s/ids.jsonl", dir);
    snprintf(out_h5, sizeof out_h5, "%s/lp.h5", dir);
    FILE *f = fopen(in, "w");
    long o = 0;
    for (int s = 0; s < (int)tl->numel; s++) {
        fprintf(f, "{\"ids\": [");
        for (int i = 0; i < lens[s]; i++) fprintf(f, "%s%d", i ? ", " : "", (int)tok[o + i]);
        fprintf(f, "]}\n");
        o += lens[s];
    }
    fclose(f);
    const char *adapter = test_data_path("train/exported_adapter");
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s logprobs --model %s --adapter %s --input %s --out %s --quiet", test_bin(),
             test_data_path("sample/expert"), adapter, in, out_h5);
    char *out = NULL;
    int rc = test_run(cmd, &out);
    EXPECT(rc == 0, "logprobs --adapter: exit %d: %s", rc, out);
    free(out);
    hid_t h = H5Fopen(out_h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (rc == 0 && h >= 0) {
        hid_t ds = H5Dopen2(h, "logprob", H5P_DEFAULT);
        float lp[64];
        H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, lp);
        H5Dclose(ds);
        /* position t of sequence s: log p(ids[t+1] | ids[..t]) from peft's logits row t */
        double md = 0;
        long row = 0, k = 0;
        for (int s = 0; s < (int)tl->numel; s++) {
            for (int t = 0; t + 1 < lens[s]; t++) {
                const float *z = peft + (size_t)(row + t) * V;
                double mx = -1e300, sum = 0;
                for (int v = 0; v < V; v++) mx = fmax(mx, z[v]);
                for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
                const double want = z[tok[row + t + 1]] - mx - log(sum);
                md = fmax(md, fabs(lp[k++] - want));
            }
            row += lens[s];
        }
        printf("logprobs --adapter vs peft: max |diff| %.3g over %ld positions\n", md, k);
        EXPECT(md <= 1e-4, "logprobs --adapter differs from peft by %g", md);
    }
    if (h >= 0) H5Fclose(h);
    /* greedy generation with the adapter = greedy generation of the merged model */
    char *o1 = NULL, *o2 = NULL;
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s generate --model %s --adapter %s --prompt-ids \"5 17 200 3\" "
                              "--max-new-tokens 16 --ids --quiet", test_bin(), test_data_path("sample/expert"), adapter);
    int r1 = test_run(cmd, &o1);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s generate --model %s/merged --prompt-ids \"5 17 200 3\" --max-new-tokens 16 "
                              "--ids --quiet", test_bin(), dir);
    int r2 = test_run(cmd, &o2);
    const char *i1 = o1 ? strstr(o1, "ids:") : NULL, *i2 = o2 ? strstr(o2, "ids:") : NULL;
    EXPECT(r1 == 0 && r2 == 0 && i1 && i2 && !strcmp(i1, i2), "generate --adapter vs merged: %s | %s", o1, o2);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s generate --model %s --prompt-ids \"5 17 200 3\" --max-new-tokens 16 "
                              "--ids --quiet", test_bin(), test_data_path("sample/expert"));
    char *o3 = NULL;
    test_run(cmd, &o3);
    const char *i3 = o3 ? strstr(o3, "ids:") : NULL;
    EXPECT(i1 && i3 && strcmp(i1, i3) != 0, "the adapter should change the greedy output");
    printf("generate --adapter: %s", i1 ? i1 : "(none)\n");
    free(o1), free(o2), free(o3);
    /* eval --adapter = eval of the merged model, and differs from the base model */
    char *e[3] = {NULL, NULL, NULL};
    const char *models[3] = {test_data_path("sample/expert"), NULL, test_data_path("sample/expert")};
    char merged_dir[600];
    snprintf(merged_dir, sizeof merged_dir, "%s/merged", dir);
    models[1] = merged_dir;
    for (int k = 0; k < 3; k++) {
        char eo[600];
        snprintf(eo, sizeof eo, "%s/eval%d.h5", dir, k);
        snprintf(cmd, sizeof cmd, "LR_MPI=0 %s eval --model %s %s%s --benchmark %s --max-new-tokens 12 --out %s --quiet",
                 test_bin(), models[k], k == 0 ? "--adapter " : "", k == 0 ? adapter : "",
                 test_data_path("eval/mixed.jsonl"), eo);
        rc = test_run(cmd, &out);
        EXPECT(rc == 0, "eval %d: exit %d: %s", k, rc, out);
        free(out);
        hid_t ef = H5Fopen(eo, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (ef >= 0) {
            hid_t ds = H5Dopen2(ef, "eval/mixed/output", H5P_DEFAULT);
            char *txt[3] = {0};
            hid_t st = H5Tcopy(H5T_C_S1);
            H5Tset_size(st, H5T_VARIABLE);
            H5Tset_cset(st, H5T_CSET_UTF8);
            if (ds >= 0 && H5Dread(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, txt) >= 0) {
                size_t n = 0;
                for (int i = 0; i < 3; i++) n += (txt[i] ? strlen(txt[i]) : 0) + 2;
                e[k] = calloc(n + 1, 1);
                for (int i = 0; i < 3; i++) {
                    strcat(e[k], txt[i] ? txt[i] : "");
                    strcat(e[k], "|");
                    if (txt[i]) H5free_memory(txt[i]);
                }
            }
            H5Tclose(st);
            if (ds >= 0) H5Dclose(ds);
            H5Fclose(ef);
        }
    }
    EXPECT(e[0] && e[1] && !strcmp(e[0], e[1]), "eval --adapter vs eval of the merged dir: '%s' vs '%s'", e[0] ? e[0] : "-",
           e[1] ? e[1] : "-");
    EXPECT(e[0] && e[2] && strcmp(e[0], e[2]) != 0, "eval --adapter gives the base model's outputs");
    for (int k = 0; k < 3; k++) free(e[k]);
    snprintf(cmd, sizeof cmd, "LR_MPI=0 %s generate --model %s --adapter %s --prompt-ids \"5 17\" --quiet", test_bin(),
             test_data_path("sample/expert"), test_data_path("train/adapter_tied_all"));
    rc = test_run(cmd, &out);
    EXPECT(rc == 2 && out && strstr(out, "expected"), "adapter of another model: exit %d: %s", rc, out);
    free(out);
    st_close(&R);
}

/* Merge into the sharded bf16 model: same shards, bf16 kept, loadable, and
 * close to the in-memory application (bf16 rounding of W + sBA). */
static void check_merge_bf16(const char *dir) {
    const char *base = test_data_path("model/qwen2_gqa_bf16");
    lr_model_config mc;
    lr_generation_config gc;
    if (model_config_load_dir(&mc, &gc, base) != 0) {
        EXPECT(0, "%s", lr_error_msg());
        return;
    }
    lora_config lc = {.r = 3, .alpha = 6, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, &mc);
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = (float)(0.05 * sin(0.37 * (double)i + 1.0));
    char ad[512], merged[512], cmd[2048];
    snprintf(ad, sizeof ad, "%s/bf16_adapter", dir);
    snprintf(merged, sizeof merged, "%s/bf16_merged", dir);
    EXPECT(peft_adapter_save(ad, a, base) == 0, "%s", lr_error_msg());
    snprintf(cmd, sizeof cmd, "%s merge --model %s --adapter %s --out %s --quiet", test_bin(), base, ad, merged);
    EXPECT(test_run(cmd, NULL) == 0, "merge bf16");
    st_set s;
    EXPECT(st_open_dir(&s, merged) == 0, "merged bf16 dir: %s", lr_error_msg());
    EXPECT(s.n_files == 9, "merged dir has %d shards, base 9", s.n_files);
    const st_tensor *q = st_find(&s, "model.layers.0.self_attn.q_proj.weight");
    EXPECT(q && q->dtype == ST_BF16, "merged q_proj is not bf16");
    st_close(&s);
    lr_model_opts mo = {.n_threads = 2};
    lr_model *m1 = model_load(merged, &mo), *m2 = model_load(base, &mo);
    EXPECT(m1 && m2 && model_apply_adapter(m2, ad) == 0, "%s", lr_error_msg());
    if (m1 && m2) {
        int32_t tok[6] = {1, 5, 9, 200, 3, 77};
        int lens[1] = {6};
        float *l1 = forward_all(m1, tok, lens, 1, 6), *l2 = forward_all(m2, tok, lens, 1, 6);
        double md = 0, mx = 0;
        for (size_t i = 0; i < (size_t)6 * model_vocab_size(m1); i++) {
            md = fmax(md, fabs((double)l1[i] - l2[i]));
            mx = fmax(mx, fabs(l2[i]));
        }
        printf("merge into bf16: merged-dir logits vs in-memory adapter: %.3g (max |logit| %.3g)\n", md, mx);
        EXPECT(md <= 0.02 * mx, "bf16 merge drifts too far: %g", md);
        free(l1), free(l2);
    }
    model_free(m1), model_free(m2);
    lora_free(a);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--make-runfile")) {
        test_write_golden_runfile(argv[2]);
        return 0;
    }
    if (st_open_file(&G, test_data_path("train/goldens.safetensors")) != 0) {
        fprintf(stderr, "%s\n", lr_error_msg());
        return 1;
    }
    const char *dir = test_fresh_dir("train_e2e");
    check_training(dir);
    check_roundtrip(dir);
    check_adapter_flags(dir);
    check_merge_bf16(dir);
    st_close(&G);
    return test_finish("test_train_e2e");
}
