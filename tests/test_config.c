/* config.json / generation_config.json: the published configs of the models
 * users run (tests/data/io/configs/) parse to the right values, transformers
 * 5's rope_parameters form too; malformed configs (made here at run time)
 * give exit 2 from `lightreasoner tensors --check-config` naming the file
 * and the key. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "test_util.h"

static char g_tmp[64];

typedef struct {
    const char *dir;
    const char *model_type;
    int hidden, layers, heads, kv, head_dim, inter, vocab, max_pos;
    double eps, theta;
    lr_rope_type rope;
    double factor, low, high;
    int orig_max;
    int tie, qkv_bias, o_bias, mlp_bias;
    const char *dtype;
    int bos;
    int n_eos, eos[3]; /* after merging with generation_config */
    int gen_present, do_sample;
    double temperature, top_p;
    int max_new;
    int gen_bos;
} want_cfg;

static const want_cfg published[] = {
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, 32768, 1e-6, 1e6, ROPE_DEFAULT, 1, 0, 0, 0,
     1, 1, 0, 0, "bfloat16", 151643, 1, {151643}, 1, 0, 1.0, 1.0, 2048, 151643},
    {"qwen2.5-math-1.5b", "qwen2", 1536, 28, 12, 2, 128, 8960, 151936, 4096, 1e-6, 10000, ROPE_DEFAULT, 1, 0, 0, 0,
     1, 1, 0, 0, "bfloat16", 151643, 1, {151643}, 1, 0, 1.0, 1.0, 2048, 151643},
    {"qwen2.5-math-7b", "qwen2", 3584, 28, 28, 4, 128, 18944, 152064, 4096, 1e-6, 10000, ROPE_DEFAULT, 1, 0, 0, 0,
     0, 1, 0, 0, "bfloat16", 151643, 1, {151643}, 1, 0, 1.0, 1.0, 2048, 151643},
    {"deepseek-r1-distill-qwen-1.5b", "qwen2", 1536, 28, 12, 2, 128, 8960, 151936, 131072, 1e-6, 10000,
     ROPE_DEFAULT, 1, 0, 0, 0, 0, 1, 0, 0, "bfloat16", 151643, 1, {151643}, 1, 1, 0.6, 0.95, -1, 151646},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 1e-5, 500000, ROPE_LLAMA3, 32, 1, 4,
     8192, 1, 0, 0, 0, "bfloat16", 128000, 1, {128001}, 1, 1, 0.6, 0.9, -1, 128000},
    {"llama-3.2-1b-instruct", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 1e-5, 500000, ROPE_LLAMA3, 32, 1,
     4, 8192, 1, 0, 0, 0, "bfloat16", 128000, 3, {128001, 128008, 128009}, 1, 1, 0.6, 0.9, -1, 128000},
    /* written by transformers 5: rope_parameters, "dtype", layer_types */
    {"tf5-llama3-rope", "llama", 64, 2, 4, 2, 16, 128, 300, 131072, 1e-5, 500000, ROPE_LLAMA3, 8, 1, 4, 8192, 0,
     1, 1, 1, "", 1, 2, {2, 5}, 0, 0, 1.0, 1.0, -1, -1},
    {"tf5-llama-linear", "llama", 64, 2, 4, 4, 16, 128, 300, 2048, 1e-6, 20000, ROPE_LINEAR, 2, 0, 0, 0, 1, 0, 0,
     0, "", 1, 1, {2}, 0, 0, 1.0, 1.0, -1, -1},
    {"tf5-qwen2", "qwen2", 64, 3, 4, 2, 32, 128, 300, 32768, 1e-6, 1e6, ROPE_DEFAULT, 1, 0, 0, 0, 0, 1, 0, 0,
     "bfloat16", -1, 1, {7}, 0, 0, 1.0, 1.0, -1, -1},
};

static void check_published(const want_cfg *w) {
    char rel[256];
    snprintf(rel, sizeof rel, "io/configs/%s", w->dir);
    lr_model_config c;
    lr_generation_config g;
    int rc = model_config_load_dir(&c, &g, test_data_path(rel));
    EXPECT(rc == 0, "%s: %s", w->dir, lr_error_msg());
    if (rc != 0) return;
    const char *n = w->dir;
    EXPECT(!strcmp(c.model_type, w->model_type), "%s model_type %s", n, c.model_type);
    EXPECT(c.hidden_size == w->hidden, "%s hidden_size %d", n, c.hidden_size);
    EXPECT(c.n_layers == w->layers, "%s layers %d", n, c.n_layers);
    EXPECT(c.n_heads == w->heads, "%s heads %d", n, c.n_heads);
    EXPECT(c.n_kv_heads == w->kv, "%s kv heads %d", n, c.n_kv_heads);
    EXPECT(c.head_dim == w->head_dim, "%s head_dim %d", n, c.head_dim);
    EXPECT(c.intermediate_size == w->inter, "%s intermediate %d", n, c.intermediate_size);
    EXPECT(c.vocab_size == w->vocab, "%s vocab %d", n, c.vocab_size);
    EXPECT(c.max_position_embeddings == w->max_pos, "%s max_pos %d", n, c.max_position_embeddings);
    EXPECT(c.rms_norm_eps == w->eps, "%s eps %g", n, c.rms_norm_eps);
    EXPECT(c.rope_theta == w->theta, "%s rope_theta %g", n, c.rope_theta);
    EXPECT(c.rope_type == w->rope, "%s rope type %d", n, (int)c.rope_type);
    EXPECT(c.rope_factor == w->factor, "%s rope factor %g", n, c.rope_factor);
    if (w->rope == ROPE_LLAMA3) {
        EXPECT(c.rope_low_freq_factor == w->low && c.rope_high_freq_factor == w->high, "%s llama3 low/high %g %g", n,
               c.rope_low_freq_factor, c.rope_high_freq_factor);
        EXPECT(c.rope_original_max_position == w->orig_max, "%s original max pos %d", n, c.rope_original_max_position);
    }
    EXPECT(c.tie_word_embeddings == w->tie, "%s tie %d", n, c.tie_word_embeddings);
    EXPECT(c.attention_bias == w->qkv_bias && c.o_proj_bias == w->o_bias && c.mlp_bias == w->mlp_bias,
           "%s biases %d %d %d", n, c.attention_bias, c.o_proj_bias, c.mlp_bias);
    EXPECT(!strcmp(c.hidden_act, "silu"), "%s act", n);
    EXPECT(!strcmp(c.torch_dtype, w->dtype), "%s dtype '%s'", n, c.torch_dtype);
    EXPECT(c.bos_token_id == w->bos, "%s bos %d", n, c.bos_token_id);
    EXPECT(c.n_eos == w->n_eos && g.n_eos == w->n_eos, "%s n_eos %d/%d", n, c.n_eos, g.n_eos);
    for (int k = 0; k < w->n_eos && k < c.n_eos; k++)
        EXPECT(c.eos_token_ids[k] == w->eos[k] && g.eos_token_ids[k] == w->eos[k], "%s eos[%d] = %d", n, k,
               c.eos_token_ids[k]);
    EXPECT(g.present == w->gen_present, "%s generation_config present %d", n, g.present);
    EXPECT(g.do_sample == w->do_sample, "%s do_sample", n);
    EXPECT(g.temperature == w->temperature && g.top_p == w->top_p, "%s temperature %g top_p %g", n, g.temperature,
           g.top_p);
    EXPECT(g.max_new_tokens == w->max_new, "%s max_new_tokens %d", n, g.max_new_tokens);
    EXPECT(g.bos_token_id == w->gen_bos, "%s generation bos %d", n, g.bos_token_id);
    EXPECT(g.top_k == 50 && g.repetition_penalty == 1.0 && g.pad_token_id == -1, "%s generation defaults", n);
}

static void test_published(void) {
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) check_published(&published[i]);
    /* a single file, and a missing generation_config */
    lr_model_config c;
    EXPECT(model_config_load(&c, test_data_path("io/configs/qwen2.5-0.5b/config.json")) == 0, "%s", lr_error_msg());
    lr_generation_config g;
    EXPECT(generation_config_load(&g, test_data_path("io/configs/tf5-qwen2/generation_config.json")) == 0 &&
               g.present == 0 && g.n_eos == 0 && g.max_new_tokens == -1 && g.temperature == 1.0,
           "missing generation_config is fine");
    EXPECT(model_config_load(&c, test_data_path("io/configs/no-such/config.json")) == -1 &&
               strstr(lr_error_msg(), "no-such/config.json: cannot open"),
           "%s", lr_error_msg());
}

/* ------------------------------------------------------------ malformed */

static const char *base_config =
    "{\"model_type\":\"qwen2\",\"hidden_size\":896,\"num_hidden_layers\":2,\"num_attention_heads\":14,"
    "\"num_key_value_heads\":2,\"intermediate_size\":4864,\"vocab_size\":1000,\"rms_norm_eps\":1e-06,"
    "\"rope_theta\":1000000.0,\"tie_word_embeddings\":true,\"hidden_act\":\"silu\",\"bos_token_id\":1,"
    "\"eos_token_id\":2,\"use_sliding_window\":false,\"torch_dtype\":\"bfloat16\"}";

static void write_text(const char *path, const char *text) {
    /* a fresh inode: rewriting by truncation makes ext4 flush on close
     * (auto_da_alloc), which costs milliseconds per file in the fuzz loops */
    remove(path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* A model dir: an (empty) model.safetensors and config.json = base_config
 * with `key` set to the JSON `value` (NULL: key removed), or `raw` verbatim. */
static const char *make_dir(const char *name, const char *key, const char *value, const char *raw) {
    static char dirs[64][512];
    static int k = 0;
    char *dir = dirs[k++ & 63];
    snprintf(dir, sizeof dirs[0], "%s/%s", g_tmp, name);
    lr_mkdir_p(dir);
    char *st = lr_path_join(dir, "model.safetensors"), *cp = lr_path_join(dir, "config.json");
    st_write_file(st, NULL, 0, NULL, NULL, 0);
    if (raw) write_text(cp, raw);
    else {
        cJSON *root = cJSON_Parse(base_config);
        if (key) {
            cJSON_DeleteItemFromObjectCaseSensitive(root, key);
            if (value) cJSON_AddItemToObject(root, key, cJSON_Parse(value));
        }
        char *text = cJSON_Print(root);
        write_text(cp, text);
        free(text);
        cJSON_Delete(root);
    }
    free(st);
    free(cp);
    return dir;
}

static void expect_cli(const char *dir, const char *file, const char *what) {
    char cmd[2048], *out = NULL, want[1024];
    snprintf(cmd, sizeof cmd, "'%s' tensors --check-config '%s'", test_bin(), dir);
    int rc = test_run(cmd, &out);
    snprintf(want, sizeof want, "lightreasoner: error: %s/%s: ", dir, file);
    EXPECT(rc == 2, "%s: exit %d, want 2:\n%s", dir, rc, out);
    EXPECT(strstr(out, want) != NULL, "%s: message does not name %s:\n%s", dir, file, out);
    EXPECT(strstr(out, what) != NULL, "%s: message lacks \"%s\":\n%s", dir, what, out);
    EXPECT(!strstr(out, "Sanitizer") && !strstr(out, "runtime error"), "%s: sanitizer report:\n%s", dir, out);
    free(out);
}

static void bad_config(const char *name, const char *key, const char *value, const char *what) {
    expect_cli(make_dir(name, key, value, NULL), "config.json", what);
}

static void test_malformed(void) {
    /* the base itself is fine */
    const char *ok = make_dir("ok", NULL, NULL, NULL);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' tensors --check-config '%s'", test_bin(), ok);
    int rc = test_run(cmd, &out);
    EXPECT(rc == 0 && strstr(out, "head_dim: 64") && strstr(out, "generation_config: absent"), "base config: %d\n%s",
           rc, out);
    free(out);

    expect_cli(make_dir("notjson", NULL, NULL, "{\"model_type\": \"qwen2\",,}"), "config.json", "not valid JSON");
    expect_cli(make_dir("array", NULL, NULL, "[1, 2]"), "config.json", "not a JSON object");
    bad_config("no_type", "model_type", NULL, "missing required key 'model_type'");
    bad_config("gpt2", "model_type", "\"gpt2\"", "model_type 'gpt2' is not supported");
    bad_config("hidden_str", "hidden_size", "\"896\"", "'hidden_size' must be a positive integer (got \"896\")");
    bad_config("hidden_zero", "hidden_size", "0", "'hidden_size' must be a positive integer");
    bad_config("hidden_frac", "hidden_size", "896.5", "'hidden_size' must be a positive integer");
    bad_config("layers_missing", "num_hidden_layers", NULL, "missing required key 'num_hidden_layers'");
    bad_config("vocab_neg", "vocab_size", "-3", "'vocab_size' must be a positive integer");
    bad_config("kv_heads", "num_key_value_heads", "3", "not a multiple of 'num_key_value_heads'");
    expect_cli(make_dir("heads_div", NULL, NULL,
                        "{\"model_type\":\"llama\",\"hidden_size\":100,\"num_hidden_layers\":1,"
                        "\"num_attention_heads\":3,\"intermediate_size\":8,\"vocab_size\":10}"),
               "config.json", "'hidden_size' (100) is not divisible by 'num_attention_heads' (3)");
    bad_config("rope_yarn", "rope_scaling", "{\"type\":\"yarn\",\"factor\":4.0,\"original_max_position_embeddings\":32768}",
               "rope type 'yarn' is not supported");
    bad_config("rope_dynamic", "rope_parameters", "{\"rope_type\":\"dynamic\",\"rope_theta\":10000.0,\"factor\":2.0}",
               "'rope_parameters' rope type 'dynamic' is not supported");
    bad_config("llama3_missing", "rope_scaling",
               "{\"rope_type\":\"llama3\",\"factor\":8.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}",
               "missing required key 'rope_scaling.low_freq_factor'");
    bad_config("llama3_order", "rope_scaling",
               "{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":4.0,\"high_freq_factor\":4.0,"
               "\"original_max_position_embeddings\":8192}",
               "must exceed low_freq_factor");
    bad_config("linear_nofactor", "rope_scaling", "{\"type\":\"linear\"}", "missing required key 'rope_scaling.factor'");
    bad_config("rope_params_type", "rope_parameters", "5", "'rope_parameters' must be an object or null");
    bad_config("theta_neg", "rope_theta", "-1", "'rope_theta' must be a positive number");
    bad_config("act", "hidden_act", "\"gelu\"", "'hidden_act' 'gelu' is not supported");
    bad_config("eos_str", "eos_token_id", "[2, \"x\"]", "'eos_token_id' must be a non-negative token id");
    bad_config("eos_vocab", "eos_token_id", "999999", "'eos_token_id' token id 999999 is outside the vocabulary");
    bad_config("eos_many", "eos_token_id", "[1,2,3,4,5,6,7,8,9]", "lists 9 ids");
    bad_config("bos_list", "bos_token_id", "[1]", "'bos_token_id' must be");
    bad_config("eps_neg", "rms_norm_eps", "-1e-6", "'rms_norm_eps' must be a positive number");
    bad_config("tie_str", "tie_word_embeddings", "\"yes\"", "'tie_word_embeddings' must be true or false");
    bad_config("sliding", "use_sliding_window", "true", "sliding-window attention is not supported");
    bad_config("layer_types", "layer_types", "[\"full_attention\", \"sliding_attention\"]", "sliding_attention");
    bad_config("dtype_num", "torch_dtype", "16", "'torch_dtype' must be a string");

    /* generation_config.json problems are reported under its own name */
    const char *d = make_dir("gen_broken", NULL, NULL, NULL);
    char *gp = lr_path_join(d, "generation_config.json");
    write_text(gp, "{\"eos_token_id\": [1,");
    free(gp);
    expect_cli(d, "generation_config.json", "not valid JSON");
    d = make_dir("gen_top_p", NULL, NULL, NULL);
    gp = lr_path_join(d, "generation_config.json");
    write_text(gp, "{\"top_p\": 2.0}");
    free(gp);
    expect_cli(d, "generation_config.json", "'top_p' must be in (0, 1]");
    d = make_dir("gen_eos", NULL, NULL, NULL);
    gp = lr_path_join(d, "generation_config.json");
    write_text(gp, "{\"eos_token_id\": \"</s>\", \"do_sample\": false}");
    free(gp);
    expect_cli(d, "generation_config.json", "'eos_token_id' must be");
    d = make_dir("gen_sample", NULL, NULL, NULL);
    gp = lr_path_join(d, "generation_config.json");
    write_text(gp, "{\"do_sample\": 1}");
    free(gp);
    expect_cli(d, "generation_config.json", "'do_sample' must be true or false");

    /* EOS union: generation_config's first, then config.json's */
    d = make_dir("gen_union", NULL, NULL, NULL);
    gp = lr_path_join(d, "generation_config.json");
    write_text(gp, "{\"eos_token_id\": [5, 2], \"pad_token_id\": 3, \"top_k\": 20, \"repetition_penalty\": 1.05}");
    free(gp);
    lr_model_config c;
    lr_generation_config g;
    EXPECT(model_config_load_dir(&c, &g, d) == 0, "%s", lr_error_msg());
    EXPECT(c.n_eos == 2 && c.eos_token_ids[0] == 5 && c.eos_token_ids[1] == 2, "EOS union");
    EXPECT(g.pad_token_id == 3 && g.top_k == 20 && g.repetition_penalty == 1.05, "generation fields");

    /* missing config.json */
    char *empty = lr_path_join(g_tmp, "no_config");
    lr_mkdir_p(empty);
    char *st = lr_path_join(empty, "model.safetensors");
    st_write_file(st, NULL, 0, NULL, NULL, 0);
    expect_cli(empty, "config.json", "cannot open");
    free(st);
    free(empty);

    /* config and weights disagree */
    d = make_dir("embed_mismatch", NULL, NULL, NULL);
    st = lr_path_join(d, "model.safetensors");
    static const float zero[2] = {0};
    const st_write_tensor t = {"model.embed_tokens.weight", ST_F32, 2, {1, 2}, zero};
    st_write_file(st, &t, 1, NULL, NULL, 0);
    snprintf(cmd, sizeof cmd, "'%s' tensors --check-config '%s'", test_bin(), d);
    rc = test_run(cmd, &out);
    EXPECT(rc == 2 && strstr(out, "model.safetensors: tensor 'model.embed_tokens.weight' has shape [1, 2]"),
           "embedding mismatch: %d\n%s", rc, out);
    free(out);
    free(st);
}

/* Random byte flips in a real config never crash the parser; whatever it
 * accepts still satisfies the invariants the model code relies on. */
static void test_fuzz(void) {
    size_t n = 0;
    char *orig = lr_read_file(test_data_path("io/configs/llama-3.2-1b/config.json"), 1 << 20, &n);
    if (!orig) return;
    char *path = lr_path_join(g_tmp, "fuzz.json"), *buf = malloc(n + 1);
    static const char alphabet[] = "0123456789-.e\\\",[]{}:ntf x";
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    int ok = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, orig, n + 1);
        for (int f = 0; f < 1 + iter % 3; f++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            buf[rng % n] = alphabet[(rng >> 40) % (sizeof alphabet - 1)];
        }
        write_text(path, buf);
        lr_model_config c;
        if (model_config_load(&c, path) == 0) {
            ok++;
            EXPECT(c.hidden_size > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.n_heads % c.n_kv_heads == 0 &&
                       c.head_dim > 0 && c.head_dim % 2 == 0 && c.vocab_size > 0 && c.rms_norm_eps > 0 &&
                       c.rope_theta > 0 && c.n_eos <= LR_MAX_EOS,
                   "fuzz: accepted config breaks an invariant");
            for (int k = 0; k < c.n_eos; k++) EXPECT(c.eos_token_ids[k] < c.vocab_size, "fuzz: eos in vocab");
        }
    }
    test_checks++;
    printf("fuzz: %d of 3000 mutated configs still valid\n", ok);
    free(buf);
    free(path);
    free(orig);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lr_test_cfg_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_published();
    test_malformed();
    test_fuzz();
    if (test_failures == 0 && !getenv("LR_KEEP_TMP")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    } else fprintf(stderr, "files kept in %s\n", g_tmp);
    return test_finish("test_config");
}
