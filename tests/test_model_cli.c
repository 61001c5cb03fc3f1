/* `generate` and `logprobs` through the binary: greedy ids equal the
 * transformers goldens (text prompt through the tokenizer + ChatML, and id
 * prompts), batch size never changes greedy or seeded outputs, logprobs
 * HDF5 contents equal the goldens; bad model directories and inputs exit 2
 * with "lightreasoner: error: <file>: <what>" and leave no output. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "io/safetensors.h"
#include "test_model_util.h"
#include "test_util.h"

static char tmpdir[64];

static char *run(const char *cmd, int *rc) {
    char *out = NULL;
    *rc = test_run(cmd, &out);
    return out;
}

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

/* "ids: 1 2 3" line -> ids; returns count */
__attribute__((noinline)) static int parse_ids_line(const char *text, int32_t *ids, int cap) {
    const char *at = strstr(text, "ids:");
    if (!at) return -1;
    char *rest = strdup(at + 4), *cur = rest;
    int n = 0;
    while (n < cap) {
        char *end = NULL;
        long v = strtol(cur, &end, 10);
        if (end == cur) break;
        ids[n++] = (int32_t)v;
        cur = end;
    }
    free(rest);
    return n;
}

static void ids_str(char *buf, size_t cap, const int32_t *ids, long n) {
    size_t o = 0;
    buf[0] = 0;
    for (long i = 0; i < n && o < cap; i++) o += snprintf(buf + o, cap - o, i ? " %d" : "%d", ids[i]);
}

static int first_eos(const int32_t *x, int n, int eos) {
    for (int i = 0; i < n; i++)
        if (x[i] == eos) return i + 1;
    return n;
}

static void test_generate_golden(void) {
    char cmd[8192], ids[4096];
    int rc;
    /* text prompt through the tokenizer and ChatML */
    golden g;
    if (golden_open(&g, "qwen2_tied") == 0) {
        long nc;
        int32_t *cg = golden_i32(&g, "chat_greedy", &nc);
        snprintf(cmd, sizeof cmd,
                 "%s generate --model %s --chat --system 'Please reason step by step.' --prompt 'What is 2+3? Think.' "
                 "--max-new-tokens %ld --ids --quiet",
                 test_bin(), test_model_dir("qwen2_tied"), nc);
        char *out = run(cmd, &rc);
        int32_t got[64] = {0};
        int n = parse_ids_line(out, got, 64);
        EXPECT(rc == 0 && n == nc && !memcmp(got, cg, nc * 4), "chat greedy through the CLI differs (rc %d):\n%s", rc, out);
        free(out);
        free(cg);
        golden_close(&g);
    }
    /* id prompts on every model; the CLI stops at the model's EOS */
    const int eos[N_TEST_MODELS] = {383, 300, 2};
    for (int mi = 0; mi < N_TEST_MODELS; mi++) {
        if (golden_open(&g, test_model_names[mi]) != 0) continue;
        long np, ng;
        int32_t *pr = golden_i32(&g, "greedy_prompts", NULL), *pl = golden_i32(&g, "greedy_lens", &np);
        int32_t *go = golden_i32(&g, "greedy_out", &ng);
        const int nn = (int)(ng / np);
        char jl[1024];
        snprintf(jl, sizeof jl, "%s/p%d.jsonl", tmpdir, mi);
        FILE *f = fopen(jl, "w");
        for (long i = 0, o = 0; i < np; o += pl[i++]) {
            ids_str(ids, sizeof ids, pr + o, pl[i]);
            for (char *c = ids; *c; c++)
                if (*c == ' ') *c = ',';
            fprintf(f, "{\"ids\": [%s]}\n", ids);
        }
        fclose(f);
        for (int b = 1; b <= 2; b++) {
            snprintf(cmd, sizeof cmd, "%s generate --model %s --prompts %s --max-new-tokens %d --batch %d --ids --quiet",
                     test_bin(), test_model_dir(test_model_names[mi]), jl, nn, b);
            char *out = run(cmd, &rc);
            EXPECT(rc == 0, "%s: generate --prompts failed:\n%s", test_model_names[mi], out);
            const char *line = out;
            for (long i = 0; i < np && rc == 0; i++) {
                const char *a = strstr(line, "\"ids\":[");
                EXPECT(a != NULL, "%s: no ids in output line %ld", test_model_names[mi], i);
                if (!a) break;
                a += 7;
                int32_t got[64] = {0};
                int n = 0;
                while (*a && *a != ']' && n < 64) {
                    got[n++] = (int32_t)strtol(a, (char **)&a, 10);
                    if (*a == ',') a++;
                }
                const int want = first_eos(go + i * nn, nn, eos[mi]);
                EXPECT(n == want && !memcmp(got, go + i * nn, want * 4), "%s batch %d: prompt %ld: %d ids, want %d",
                       test_model_names[mi], b, i, n, want);
                line = strchr(a, '\n');
                if (!line) break;
            }
            free(out);
        }
        /* seeded sampling: batch 1 and 3 give the same text */
        char *outs[2];
        for (int b = 0; b < 2; b++) {
            snprintf(cmd, sizeof cmd,
                     "%s generate --model %s --prompts %s --max-new-tokens 12 --temperature 0.8 --top-p 0.95 --sample-seed 5 "
                     "--batch %d --ids --quiet",
                     test_bin(), test_model_dir(test_model_names[mi]), jl, b ? 3 : 1);
            outs[b] = run(cmd, &rc);
            EXPECT(rc == 0, "sampling generate failed: %s", outs[b]);
        }
        EXPECT(!strcmp(outs[0], outs[1]), "%s: seeded samples differ between batch 1 and 3:\n%s---\n%s",
               test_model_names[mi], outs[0], outs[1]);
        free(outs[0]), free(outs[1]);
        free(pr), free(pl), free(go);
        golden_close(&g);
    }
}

static void *read_ds(hid_t f, const char *name, hid_t type, size_t elem, long *n) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t s = H5Dget_space(d);
    hssize_t k = H5Sget_simple_extent_npoints(s);
    void *buf = malloc((size_t)k * elem + 1);
    H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(s), H5Dclose(d);
    *n = (long)k;
    return buf;
}

static void test_logprobs_golden(void) {
    for (int mi = 0; mi < N_TEST_MODELS; mi++) {
        const char *name = test_model_names[mi];
        golden g;
        if (golden_open(&g, name) != 0) continue;
        long T, ns;
        int32_t *tok = golden_i32(&g, "ragged_tokens", &T), *lens = golden_i32(&g, "ragged_lens", &ns);
        float *ref_lg = golden_f32(&g, "ragged_logits", NULL), *ref_lp = golden_f32(&g, "logprobs", NULL);
        float *ref_ent = golden_f32(&g, "entropy", NULL);
        const long V = golden_dim(&g, "ragged_logits", 1);
        char in[1024], out[1024], cmd[4096], ids[8192];
        snprintf(in, sizeof in, "%s/lp%d.jsonl", tmpdir, mi);
        snprintf(out, sizeof out, "%s/lp%d.h5", tmpdir, mi);
        FILE *f = fopen(in, "w");
        for (long s = 0, o = 0; s < ns; o += lens[s++]) {
            ids_str(ids, sizeof ids, tok + o, lens[s]);
            for (char *c = ids; *c; c++)
                if (*c == ' ') *c = ',';
            fprintf(f, "{\"ids\": [%s]}\n", ids);
        }
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s logprobs --model %s --input %s --out %s --top-k 4 --full --batch-tokens 20 --quiet",
                 test_bin(), test_model_dir(name), in, out);
        int rc;
        char *o = run(cmd, &rc);
        EXPECT(rc == 0, "%s: logprobs failed (%d):\n%s", name, rc, o);
        free(o);
        hid_t h = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(h >= 0, "%s: cannot open %s", name, out);
        if (h >= 0) {
            long n_lp, n_ent, n_off, n_ti, n_full;
            float *lp = read_ds(h, "logprob", H5T_NATIVE_FLOAT, 4, &n_lp);
            float *ent = read_ds(h, "entropy", H5T_NATIVE_FLOAT, 4, &n_ent);
            int64_t *off = read_ds(h, "position_offsets", H5T_NATIVE_INT64, 8, &n_off);
            int32_t *ti = read_ds(h, "topk_ids", H5T_NATIVE_INT32, 4, &n_ti);
            float *full = read_ds(h, "full_logprobs", H5T_NATIVE_FLOAT, 4, &n_full);
            EXPECT(lp && ent && off && ti && full, "%s: datasets missing", name);
            if (lp && ent && off && ti && full) {
                EXPECT(n_lp == T - ns && n_off == ns + 1 && off[ns] == T - ns && n_ti == 4 * (T - ns) &&
                           n_full == (T - ns) * V,
                       "%s: sizes: %ld positions, %ld offsets", name, n_lp, n_off);
                double dlp = 0, dent = 0, dfull = 0;
                int top_ok = 1;
                long k = 0;
                for (long s = 0, o2 = 0; s < ns; o2 += lens[s++])
                    for (int t = 0; t + 1 < lens[s] && k < n_lp; t++, k++) {
                        dlp = fmax(dlp, fabs(lp[k] - ref_lp[k]));
                        dent = fmax(dent, fabs(ent[k] - ref_ent[k]));
                        const float *row = ref_lg + (o2 + t) * V;
                        double z = 0;
                        int am = 0;
                        for (long v = 0; v < V; v++) {
                            z += exp((double)row[v]);
                            if (row[v] > row[am]) am = (int)v;
                        }
                        for (long v = 0; v < V; v++) dfull = fmax(dfull, fabs(full[k * V + v] - (row[v] - log(z))));
                        top_ok &= ti[k * 4] == am;
                    }
                EXPECT(dlp <= 1e-4 && dent <= 1e-4 && dfull <= 1e-4, "%s: HDF5 log-probs %.3g, entropy %.3g, full %.3g",
                       name, dlp, dent, dfull);
                EXPECT(top_ok, "%s: topk_ids[:, 0] is not the golden argmax", name);
            }
            free(lp), free(ent), free(off), free(ti), free(full);
            H5Fclose(h);
        }
        free(tok), free(lens), free(ref_lg), free(ref_lp), free(ref_ent);
        golden_close(&g);
    }
}

/* Copies qwen2_tied to dst with the safetensors rewritten: tensor `drop`
 * left out, tensor `reshape` given shape [a, b]. */
static void broken_model(const char *dst, const char *drop, const char *reshape, int64_t a, int64_t b) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/", dst, test_model_dir("qwen2_tied"), dst);
    EXPECT(system(cmd) == 0, "%s failed", cmd);
    st_set s;
    char src[2048], out[2048];
    snprintf(src, sizeof src, "%s/model.safetensors", test_model_dir("qwen2_tied"));
    snprintf(out, sizeof out, "%s/model.safetensors", dst);
    if (st_open_file(&s, src) != 0) {
        EXPECT(0, "open %s: %s", src, lr_error_msg());
        return;
    }
    st_write_tensor *w = calloc(s.n_tensors, sizeof *w);
    int n = 0;
    for (int i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        if (drop && !strcmp(t->name, drop)) continue;
        w[n].name = t->name;
        w[n].dtype = t->dtype;
        w[n].ndim = t->ndim;
        memcpy(w[n].shape, t->shape, sizeof t->shape);
        if (reshape && !strcmp(t->name, reshape)) w[n].ndim = 2, w[n].shape[0] = a, w[n].shape[1] = b;
        w[n].data = t->data;
        n++;
    }
    EXPECT(st_write_file(out, w, n, NULL, NULL, 0) == 0, "write %s: %s", out, lr_error_msg());
    free(w);
    st_close(&s);
}

static void edit_config(const char *dir, const char *from, const char *to) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "sed -i 's|%s|%s|' %s/config.json", from, to, dir);
    EXPECT(system(cmd) == 0, "%s failed", cmd);
}

static void expect_error(const char *cmd, const char *must1, const char *must2) {
    int rc;
    char *out = run(cmd, &rc);
    EXPECT(rc == 2 && strstr(out, "lightreasoner: error: ") && strstr(out, must1) && (!must2 || strstr(out, must2)),
           "`%s` exited %d, output:\n%s(want exit 2 naming '%s'%s%s)", cmd, rc, out, must1, must2 ? " and '" : "",
           must2 ? must2 : "");
    free(out);
}

static void test_errors(void) {
    char d[1024], cmd[8192], in[1024], out[1024];
    snprintf(in, sizeof in, "%s/one.jsonl", tmpdir);
    write_text(in, "{\"ids\": [1, 2, 3]}\n");
    snprintf(out, sizeof out, "%s/keep.h5", tmpdir);

    snprintf(d, sizeof d, "%s/missing", tmpdir);
    broken_model(d, "model.layers.1.mlp.up_proj.weight", NULL, 0, 0);
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --input %s --out %s --quiet", test_bin(), d, in, out);
    expect_error(cmd, d, "missing tensor 'model.layers.1.mlp.up_proj.weight'");

    snprintf(d, sizeof d, "%s/shape", tmpdir);
    broken_model(d, NULL, "model.layers.0.self_attn.q_proj.weight", 32, 128);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids '1 2' --quiet", test_bin(), d);
    expect_error(cmd, "shape/model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' has shape [32, 128]",
                 "expected [64, 64]");

    snprintf(d, sizeof d, "%s/mtype", tmpdir);
    broken_model(d, NULL, NULL, 0, 0);
    edit_config(d, "\"model_type\": \"qwen2\"", "\"model_type\": \"gpt2\"");
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids '1 2' --quiet", test_bin(), d);
    expect_error(cmd, "mtype/config.json", "gpt2");

    snprintf(d, sizeof d, "%s/rope", tmpdir);
    broken_model(d, NULL, NULL, 0, 0);
    edit_config(d, "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\", \"factor\": 2.0");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --input %s --out %s --quiet", test_bin(), d, in, out);
    expect_error(cmd, "rope/config.json", "yarn");

    /* context overflow (qwen2_tied: 128 positions), output untouched */
    write_text(out, "keep me");
    snprintf(in, sizeof in, "%s/long.jsonl", tmpdir);
    FILE *f = fopen(in, "w");
    fputs("{\"ids\": [1, 2]}\n{\"ids\": [", f);
    for (int i = 0; i < 129; i++) fprintf(f, i ? ", %d" : "%d", i % 300);
    fputs("]}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --input %s --out %s --quiet", test_bin(), test_model_dir("qwen2_tied"),
             in, out);
    expect_error(cmd, "long.jsonl:2", "context overflow");
    FILE *k = fopen(out, "r");
    char buf[32] = {0};
    if (k) fread(buf, 1, sizeof buf - 1, k), fclose(k);
    EXPECT(!strcmp(buf, "keep me"), "a failed logprobs run changed the existing output");
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", tmpdir);
    int rc;
    char *ls = run(cmd, &rc);
    EXPECT(atoi(ls) == 0, "temporary output left behind: %s", ls);
    free(ls);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompts %s --quiet", test_bin(), test_model_dir("qwen2_tied"), in);
    expect_error(cmd, "long.jsonl:2", "context overflow");

    /* ids outside the vocabulary, lines without the field */
    write_text(in, "{\"ids\": [1, 384]}\n");
    snprintf(cmd, sizeof cmd, "%s logprobs --model %s --input %s --out %s --quiet", test_bin(), test_model_dir("qwen2_tied"),
             in, out);
    expect_error(cmd, "long.jsonl:1", "vocabulary");
    write_text(in, "{\"prompt\": \"x\"}\n");
    expect_error(cmd, "long.jsonl:1", "\"text\"");
    snprintf(cmd, sizeof cmd, "%s generate --model %s/nonexistent --prompt-ids 1 --quiet", test_bin(), tmpdir);
    expect_error(cmd, "nonexistent", NULL);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lr_model_cli_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    test_generate_golden();
    test_logprobs_golden();
    test_errors();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (!test_failures && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_model_cli");
}
