/* LoRA adapters: peft's init, target lists, the PEFT directory writer and
 * reader (round trip, the forms peft produces, refusals of what we cannot
 * apply exactly), AdamW / schedule / clipping against hand-computed
 * values, and the data order. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "test_train_util.h"
#include "test_util.h"
#include "trainer/adamw.h"
#include "trainer/lora.h"
#include "trainer/peft_adapter.h"
#include "trainer/rng.h"

static lr_model_config expert_cfg(void) {
    lr_model_config mc;
    lr_generation_config gc;
    if (model_config_load_dir(&mc, &gc, test_data_path("sample/expert")) != 0) {
        fprintf(stderr, "%s\n", lr_error_msg());
        exit(1);
    }
    return mc;
}

static void test_init_and_targets(const lr_model_config *mc) {
    unsigned t = 0;
    EXPECT(lora_parse_targets("q_proj,v_proj", "t", &t) == 0 && t == LORA_DEFAULT_TARGETS, "default targets");
    EXPECT(lora_parse_targets("all", "t", &t) == 0 && t == (1u << LORA_N_MODULES) - 1, "all");
    EXPECT(lora_parse_targets("q_proj,,v_proj", "t", &t) != 0, "empty entry refused");
    EXPECT(lora_parse_targets("lm_head", "t", &t) != 0 && strstr(lr_error_msg(), "lm_head"), "unknown refused");
    char buf[128];
    lora_targets_str((1u << LORA_K) | (1u << LORA_DOWN), buf, sizeof buf);
    EXPECT(!strcmp(buf, "k_proj,down_proj"), "targets string %s", buf);

    lora_config lc = {.r = 8, .alpha = 16, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, mc), *b = lora_new(&lc, mc), *c = lora_new(&lc, mc);
    EXPECT(a->scale == 2.0f, "scale alpha/r");
    lora_init(a, 42), lora_init(b, 42), lora_init(c, 43);
    EXPECT(memcmp(a->w, b->w, a->n_params * sizeof(float)) == 0, "init is deterministic in the seed");
    EXPECT(memcmp(a->w, c->w, a->n_params * sizeof(float)) != 0, "another seed, other values");
    for (int s = 0; s < a->n_slots; s++) {
        const lora_slot *sl = &a->slots[s];
        const float bound = 1.0f / sqrtf((float)sl->in);
        double mx = 0, sum2 = 0;
        const size_t na = (size_t)a->cfg.r * sl->in;
        for (size_t i = 0; i < na; i++) {
            mx = fmax(mx, fabs(a->w[sl->a + i]));
            sum2 += (double)a->w[sl->a + i] * a->w[sl->a + i];
        }
        EXPECT(mx <= bound && mx > 0.9 * bound, "A within U(-1/sqrt(in), 1/sqrt(in)): max %g, bound %g", mx, bound);
        /* uniform variance bound²/3 */
        EXPECT(fabs(sum2 / na - bound * bound / 3.0) < 0.25 * bound * bound / 3.0, "A variance");
        for (size_t i = 0; i < (size_t)sl->out * a->cfg.r; i++) EXPECT(a->w[sl->b + i] == 0.0f, "B = 0");
    }
    lc.use_rslora = 1;
    lr_lora *d = lora_new(&lc, mc);
    EXPECT(fabsf(d->scale - 16.0f / sqrtf(8.0f)) < 1e-6f, "rslora scale");
    lora_free(a), lora_free(b), lora_free(c), lora_free(d);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Rewrites dir/adapter_model.safetensors with keys and dtype transformed. */
static void rewrite_st(const char *dir, const char *suffix_from, const char *suffix_to, int to_bf16, const char *extra,
                       int drop_first) {
    char p[1024];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    st_set s;
    if (st_open_file(&s, p) != 0) {
        EXPECT(0, "%s", lr_error_msg());
        return;
    }
    const int n = s.n_tensors;
    st_write_tensor *w = calloc((size_t)n + 1, sizeof *w);
    char (*names)[300] = calloc((size_t)n + 1, sizeof *names);
    void **bufs = calloc((size_t)n + 1, sizeof *bufs);
    int k = 0;
    for (int i = drop_first ? 1 : 0; i < n; i++) {
        const st_tensor *t = &s.tensors[i];
        snprintf(names[k], sizeof names[0], "%s", t->name);
        char *at = suffix_from ? strstr(names[k], suffix_from) : NULL;
        if (at) {
            char tail[300];
            snprintf(tail, sizeof tail, "%s", at + strlen(suffix_from));
            snprintf(at, sizeof names[0] - (size_t)(at - names[k]), "%s%s", suffix_to, tail);
        }
        w[k].name = names[k], w[k].ndim = t->ndim, w[k].dtype = t->dtype, w[k].data = t->data;
        memcpy(w[k].shape, t->shape, sizeof w[k].shape);
        if (to_bf16) {
            uint16_t *h = malloc((size_t)t->numel * 2);
            for (int64_t j = 0; j < t->numel; j++) h[j] = st_f32_to_bf16(((const float *)t->data)[j]);
            bufs[k] = h;
            w[k].data = h, w[k].dtype = ST_BF16;
        }
        k++;
    }
    float one = 1.0f;
    if (extra) {
        w[k].name = extra, w[k].ndim = 2, w[k].dtype = ST_F32, w[k].shape[0] = 1, w[k].shape[1] = 1, w[k].data = &one;
        k++;
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.new", p);
    EXPECT(st_write_file(tmp, w, k, NULL, NULL, 0) == 0, "%s", lr_error_msg());
    st_close(&s);
    rename(tmp, p);
    for (int i = 0; i < n + 1; i++) free(bufs[i]);
    free(bufs), free(names), free(w);
}

static void test_peft_io(const lr_model_config *mc, const char *dir) {
    lora_config lc = {.r = 4, .alpha = 8, .dropout = 0.1, .targets = (1u << LORA_Q) | (1u << LORA_UP)};
    lr_lora *a = lora_new(&lc, mc);
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = (float)sin(0.1 * (double)i);
    char d1[512];
    snprintf(d1, sizeof d1, "%s/rt", dir);
    EXPECT(peft_adapter_save(d1, a, "some/base") == 0, "%s", lr_error_msg());
    lr_lora *b = peft_adapter_load(d1, mc, "expert");
    EXPECT(b && b->n_params == a->n_params && memcmp(a->w, b->w, a->n_params * 4) == 0 && b->cfg.r == 4 &&
               b->cfg.alpha == 8 && b->cfg.targets == lc.targets && fabs(b->cfg.dropout - 0.1) < 1e-12,
           "save/load round trip: %s", lr_error_msg());
    lora_free(b);
    /* the config carries what peft needs */
    char p[1024];
    snprintf(p, sizeof p, "%s/adapter_config.json", d1);
    size_t len;
    char *text = lr_read_file(p, 1 << 20, &len);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    EXPECT(j != NULL, "adapter_config.json parses");
    if (j) {
        EXPECT(!strcmp(cJSON_GetObjectItem(j, "peft_type")->valuestring, "LORA"), "peft_type");
        EXPECT(!strcmp(cJSON_GetObjectItem(j, "task_type")->valuestring, "CAUSAL_LM"), "task_type");
        EXPECT(!strcmp(cJSON_GetObjectItem(j, "bias")->valuestring, "none"), "bias");
        EXPECT(!strcmp(cJSON_GetObjectItem(j, "base_model_name_or_path")->valuestring, "some/base"), "base model");
        EXPECT(cJSON_GetObjectItem(j, "r")->valueint == 4 && cJSON_GetObjectItem(j, "lora_alpha")->valuedouble == 8,
               "r, alpha");
        const cJSON *tm = cJSON_GetObjectItem(j, "target_modules");
        EXPECT(cJSON_GetArraySize(tm) == 2 && !strcmp(cJSON_GetArrayItem(tm, 0)->valuestring, "q_proj") &&
                   !strcmp(cJSON_GetArrayItem(tm, 1)->valuestring, "up_proj"),
               "target_modules");
        cJSON_Delete(j);
    }
    free(text);

    /* the in-memory key form (lora_A.default.weight) and bf16 load too */
    rewrite_st(d1, ".weight", ".default.weight", 1, NULL, 0);
    b = peft_adapter_load(d1, mc, "expert");
    EXPECT(b != NULL, "'.default' keys in bf16: %s", lr_error_msg());
    if (b) {
        double md = 0;
        for (size_t i = 0; i < a->n_params; i++) md = fmax(md, fabs(b->w[i] - a->w[i]));
        EXPECT(md < 4e-3, "bf16 values %g", md);
    }
    lora_free(b);

    /* refusals */
    struct {
        const char *what, *config, *needle;
    } bad[] = {
        {"DoRA", "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_dora\":true}", "use_dora"},
        {"bias", "{\"r\":4,\"lora_alpha\":8,\"bias\":\"all\"}", "bias"},
        {"rank pattern", "{\"r\":4,\"rank_pattern\":{\"q_proj\":8}}", "rank_pattern"},
        {"modules_to_save", "{\"r\":4,\"modules_to_save\":[\"lm_head\"]}", "modules_to_save"},
        {"other peft type", "{\"peft_type\":\"IA3\",\"r\":4}", "LORA"},
        {"broken json", "{\"r\":4,", "JSON"},
        {"r mismatch", "{\"r\":2,\"lora_alpha\":8}", "expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/adapter_config.json", d1);
        write_text(p, bad[i].config);
        lr_error_clear();
        b = peft_adapter_load(d1, mc, "expert");
        EXPECT(!b && strstr(lr_error_msg(), bad[i].needle), "%s: %s", bad[i].what, lr_error_msg());
        lora_free(b);
    }
    write_text(p, "{\"r\":4,\"lora_alpha\":8}");
    EXPECT((b = peft_adapter_load(d1, mc, "expert")) != NULL, "minimal config: %s", lr_error_msg());
    lora_free(b);
    /* an lm_head LoRA key, and a missing tensor */
    rewrite_st(d1, NULL, NULL, 0, "base_model.model.lm_head.lora_A.weight", 0);
    EXPECT(!peft_adapter_load(d1, mc, "expert") && strstr(lr_error_msg(), "lm_head"), "lm_head key: %s",
           lr_error_msg());
    EXPECT(peft_adapter_save(d1, a, "x") == 0, "re-save");
    rewrite_st(d1, NULL, NULL, 0, NULL, 1);
    EXPECT(!peft_adapter_load(d1, mc, "expert") && strstr(lr_error_msg(), "missing tensor"), "missing tensor: %s",
           lr_error_msg());
    write_text(p, "{\"r\":4,\"lora_alpha\":8,\"layers_to_transform\":[1]}");
    /* with layers_to_transform, absent layers are allowed, but half a pair is not */
    EXPECT(!peft_adapter_load(d1, mc, "expert"), "a lone B without its A is refused even with layers_to_transform");
    /* NaN values */
    EXPECT(peft_adapter_save(d1, a, "x") == 0, "re-save");
    a->w[3] = NAN;
    EXPECT(peft_adapter_save(d1, a, "x") == 0, "save with NaN");
    EXPECT(!peft_adapter_load(d1, mc, "expert") && strstr(lr_error_msg(), "NaN"), "NaN refused: %s", lr_error_msg());
    snprintf(p, sizeof p, "%s/none", dir);
    EXPECT(!peft_adapter_load(p, mc, "expert") && strstr(lr_error_msg(), "not an adapter directory"), "missing dir");
    lora_free(a);
}

static void test_adamw(void) {
    /* one parameter, two steps, by hand (torch's formulas) */
    adamw_state s;
    adamw_init(&s, 1);
    const adamw_hparams h = {0.9, 0.999, 1e-8, 0.0};
    float w = 1.0f;
    const float g1 = 0.5f, g2 = -0.25f;
    adamw_update(&s, &h, 0.1, &w, &g1);
    /* m = 0.05, v = 0.00025; mhat = 0.5, vhat = 0.25 -> w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) */
    EXPECT(fabs(w - (1.0 - 0.1 * 0.5 / (0.5 + 1e-8))) < 1e-6, "AdamW step 1: %.9g", w);
    double m = 0.9 * 0.05 + 0.1 * g2, v = 0.999 * 0.00025 + 0.001 * g2 * g2;
    double expect = w - 0.1 * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
    adamw_update(&s, &h, 0.1, &w, &g2);
    EXPECT(fabs(w - expect) < 1e-6, "AdamW step 2: %.9g vs %.9g", w, expect);
    EXPECT(s.t == 2, "step count");
    const adamw_hparams hw = {0.9, 0.999, 1e-8, 0.1};
    adamw_state s2;
    adamw_init(&s2, 1);
    float w2 = 2.0f, z = 0.0f;
    adamw_update(&s2, &hw, 0.5, &w2, &z); /* decoupled decay only */
    EXPECT(fabs(w2 - 2.0 * (1 - 0.05)) < 1e-6, "weight decay %.9g", w2);
    adamw_free(&s), adamw_free(&s2);
    /* schedule: warm-up 0, linear to 0 */
    EXPECT(lr_linear(5e-5, 0, 1000) == 5e-5, "lr at step 0");
    EXPECT(fabs(lr_linear(5e-5, 999, 1000) - 5e-8) < 1e-20, "lr at the last step");
    EXPECT(lr_linear(5e-5, 1000, 1000) == 0.0, "lr after the end");
    /* clipping */
    float g[2] = {3.0f, 4.0f};
    const double n = grad_norm(g, 2);
    EXPECT(n == 5.0, "norm");
    grad_clip(g, 2, n, 1.0);
    EXPECT(fabs(g[0] - 0.6) < 1e-6 && fabs(g[1] - 0.8) < 1e-6, "clip to 1");
    float g3[2] = {0.3f, 0.4f};
    grad_clip(g3, 2, 0.5, 1.0);
    EXPECT(g3[0] == 0.3f && g3[1] == 0.4f, "no clip below the norm");
}

static void test_permutation(void) {
    int64_t p[100], q[100], seen[100] = {0};
    rng_permutation(rng_key(7, 1), 100, p);
    rng_permutation(rng_key(7, 1), 100, q);
    EXPECT(memcmp(p, q, sizeof p) == 0, "permutation deterministic");
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[p[i]]++;
        moved += p[i] != i;
    }
    for (int i = 0; i < 100; i++) EXPECT(seen[i] == 1, "is a permutation");
    EXPECT(moved > 80, "shuffles");
}

int main(void) {
    const lr_model_config mc = expert_cfg();
    const char *dir = test_fresh_dir("train_adapter");
    test_init_and_targets(&mc);
    test_peft_io(&mc, dir);
    test_adamw();
    test_permutation();
    return test_finish("test_train_adapter");
}
