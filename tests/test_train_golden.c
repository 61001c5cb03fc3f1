/* LoRA training forward / backward against transformers + peft
 * (tests/reference/make_train_goldens.py, fp32):
 *   - logits with nonzero peft adapters on a tied Qwen2 (all 7 modules) and a
 *     Llama with llama3 rope scaling (rslora): <= 1e-4 abs;
 *   - per-sequence SPEC loss and the gradient of every lora_A / lora_B over a
 *     ragged batch of 3, dropout off: <= 1e-4 relative to each tensor's
 *     largest entry; the same with dropout 0.25 given the trainer's masks;
 *   - per-layer recomputation gives the same gradients bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"
#include "trainer/peft_adapter.h"
#include "trainer/rng.h"
#include "trainer/train_net.h"

static st_set G;

static const st_tensor *need(const char *name) {
    const st_tensor *t = st_find(&G, name);
    if (!t) {
        fprintf(stderr, "golden tensor %s missing\n", name);
        exit(1);
    }
    return t;
}

static void *copy_of(const char *name) {
    const st_tensor *t = need(name);
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static float *f32_of(const char *name) {
    const st_tensor *t = need(name);
    float *p = malloc((size_t)t->numel * sizeof(float));
    st_to_f32(t, p);
    return p;
}

typedef struct {
    int n;
    int32_t *tokens;
    int *lens;
    int64_t *keys;
    int64_t *lab_off;
    int32_t *lab_ids;
    float *lab_w;
    long T;
} gbatch;

static gbatch load_batch(const char *prefix, int labels) {
    gbatch b = {0};
    char nm[128];
    snprintf(nm, sizeof nm, "%s.lens", prefix);
    const st_tensor *tl = need(nm);
    b.n = (int)tl->numel;
    int32_t *l32 = copy_of(nm);
    b.lens = malloc((size_t)b.n * sizeof(int));
    b.keys = malloc((size_t)b.n * sizeof(int64_t));
    for (int i = 0; i < b.n; i++) b.lens[i] = l32[i], b.keys[i] = i, b.T += l32[i];
    free(l32);
    snprintf(nm, sizeof nm, "%s.tokens", prefix);
    b.tokens = copy_of(nm);
    if (labels) {
        snprintf(nm, sizeof nm, "%s.lab_off", prefix);
        b.lab_off = copy_of(nm);
        snprintf(nm, sizeof nm, "%s.lab_ids", prefix);
        b.lab_ids = copy_of(nm);
        snprintf(nm, sizeof nm, "%s.lab_w", prefix);
        b.lab_w = copy_of(nm);
    }
    return b;
}

static void free_batch(gbatch *b) {
    free(b->tokens), free(b->lens), free(b->keys), free(b->lab_off), free(b->lab_ids), free(b->lab_w);
}

static tr_batch as_tr(const gbatch *b) {
    return (tr_batch){.n_seq = b->n, .tokens = b->tokens, .lens = b->lens, .key = b->keys, .lab_off = b->lab_off,
                      .lab_ids = b->lab_ids, .lab_w = b->lab_w};
}

static void check_logits(const char *model_rel, const char *adapter_rel, const char *prefix) {
    lr_model_opts mo = {.n_threads = 2};
    lr_model *m = model_load(test_data_path(model_rel), &mo);
    EXPECT(m != NULL, "load %s: %s", model_rel, lr_error_msg());
    if (!m) return;
    lr_lora *a = peft_adapter_load(test_data_path(adapter_rel), model_config(m), model_rel);
    EXPECT(a != NULL, "adapter %s: %s", adapter_rel, lr_error_msg());
    if (!a) {
        model_free(m);
        return;
    }
    gbatch b = load_batch(prefix, 0);
    tr_net *n = tr_net_new(m, a, 0);
    const int V = model_vocab_size(m);
    float *out = malloc((size_t)b.T * V * sizeof(float));
    tr_batch tb = as_tr(&b);
    EXPECT(tr_net_logits(n, &tb, 1, out) == 0, "%s", lr_error_msg());
    char nm[128];
    snprintf(nm, sizeof nm, "%s.logits", prefix);
    float *want = f32_of(nm);
    double md = 0;
    for (size_t i = 0; i < (size_t)b.T * V; i++) md = fmax(md, fabs((double)out[i] - want[i]));
    printf("%s: max |logit diff| %.3g over %ld positions\n", prefix, md, b.T);
    EXPECT(md <= 1e-4, "%s logits differ by %g", prefix, md);
    /* the last-position form agrees with the all-positions form */
    float *last = malloc((size_t)b.n * V * sizeof(float));
    EXPECT(tr_net_logits(n, &tb, 0, last) == 0, "%s", lr_error_msg());
    long row = -1;
    double ld = 0;
    for (int s = 0; s < b.n; s++) {
        row += b.lens[s];
        for (int v = 0; v < V; v++) ld = fmax(ld, fabs((double)last[(size_t)s * V + v] - out[(size_t)row * V + v]));
    }
    EXPECT(ld <= 1e-5, "%s last-position logits differ from all-position ones by %g", prefix, ld);
    free(last);
    free(want);
    free(out);
    tr_net_free(n);
    free_batch(&b);
    lora_free(a);
    model_free(m);
}

/* Gradients of Σ KL / 3 vs the golden tensors "<prefix>.<peft key>". */
static void check_grads(lr_model *m, lr_lora *a, const gbatch *b, const char *prefix, uint64_t dropout_key,
                        int recompute, float *grad_out) {
    tr_net *n = tr_net_new(m, a, recompute);
    float *grad = calloc(a->n_params, sizeof(float));
    double loss[8];
    tr_batch tb = as_tr(b);
    EXPECT(tr_net_step(n, &tb, dropout_key, 1.0 / b->n, grad, loss) == 0, "%s", lr_error_msg());
    char nm[320];
    snprintf(nm, sizeof nm, "%s.loss", prefix);
    const st_tensor *tl = need(nm);
    const double *want_loss = tl->data;
    for (int i = 0; i < b->n; i++)
        EXPECT_NEAR(loss[i], want_loss[i], 1e-5 * fmax(1.0, fabs(want_loss[i])), "per-sequence loss");
    double worst = 0;
    for (int s = 0; s < a->n_slots; s++)
        for (int w = 0; w < 2; w++) {
            char key[256];
            lora_peft_name(a, s, w, key, sizeof key);
            snprintf(nm, sizeof nm, "%s.%s", prefix, key);
            float *want = f32_of(nm);
            const lora_slot *sl = &a->slots[s];
            const size_t cnt = (size_t)a->cfg.r * (w ? sl->out : sl->in);
            const float *got = grad + (w ? sl->b : sl->a);
            double mx = 0, md = 0;
            for (size_t i = 0; i < cnt; i++) {
                mx = fmax(mx, fabs(want[i]));
                md = fmax(md, fabs((double)got[i] - want[i]));
            }
            const double rel = md / (mx > 0 ? mx : 1);
            worst = fmax(worst, rel);
            EXPECT(rel <= 1e-4 && mx > 0, "%s: max diff %g, largest entry %g (rel %g)", nm, md, mx, rel);
            free(want);
        }
    printf("%s%s: %d tensors, worst relative gradient error %.3g\n", prefix, recompute ? " (recompute)" : "",
           a->n_slots * 2, worst);
    if (grad_out) memcpy(grad_out, grad, a->n_params * sizeof(float));
    free(grad);
    tr_net_free(n);
}

int main(void) {
    if (st_open_file(&G, test_data_path("train/goldens.safetensors")) != 0) {
        fprintf(stderr, "%s\n", lr_error_msg());
        return 1;
    }
    check_logits("model/qwen2_tied", "train/adapter_tied_all", "fwd_tied");
    check_logits("model/llama3_scaled", "train/adapter_llama_ov", "fwd_llama");

    lr_model_opts mo = {.n_threads = 2};
    lr_model *m = model_load(test_data_path("sample/expert"), &mo);
    EXPECT(m != NULL, "%s", lr_error_msg());
    lr_lora *a = m ? peft_adapter_load(test_data_path("train/adapter_expert_all"), model_config(m), "expert") : NULL;
    EXPECT(a != NULL, "%s", lr_error_msg());
    if (m && a) {
        gbatch b = load_batch("grad", 1);
        a->cfg.dropout = 0.0;
        float *g0 = calloc(a->n_params, sizeof(float)), *g1 = calloc(a->n_params, sizeof(float));
        check_grads(m, a, &b, "grad", 0, 0, g0);
        check_grads(m, a, &b, "grad", 0, 1, g1);
        EXPECT(memcmp(g0, g1, a->n_params * sizeof(float)) == 0, "recompute changes the gradients");
        const int64_t seed = *(const int64_t *)need("drop.seed")->data;
        a->cfg.dropout = *(const float *)need("drop.p")->data;
        const uint64_t dk = rng_key(rng_key((uint64_t)seed, RNG_TAG_DROPOUT), 0);
        check_grads(m, a, &b, "drop", dk, 0, g0);
        check_grads(m, a, &b, "drop", dk, 1, g1);
        EXPECT(memcmp(g0, g1, a->n_params * sizeof(float)) == 0, "recompute changes the dropout gradients");
        free(g0), free(g1);
        free_batch(&b);
    }
    lora_free(a);
    model_free(m);
    st_close(&G);
    return test_finish("test_train_golden");
}
