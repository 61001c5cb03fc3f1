/* Encoder throughput on GSM8K text, one core: MB/s of UTF-8 input.
 *
 *   build-tok/bench/bench_tokenizer [--tokenizer DIR] [--source tokenizer.json|vocab.json]
 *                                   [--input FILE] [--repeat N]
 *
 * The input defaults to the vendored GSM8K goldens (every train question and
 * answer, tests/data/tokenizer/encode_gsm8k_train.tsv); any file of lines
 * "JSON string<TAB>..." or plain JSON-string lines works. The first pass runs
 * with a cold piece cache (what a fresh process sees), the later ones warm;
 * both are reported. bench/bench_tokenizer.py measures HF `tokenizers` on
 * the same texts for the ratio. Not a test: timings live here only. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *arg(int argc, char **argv, const char *name, const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}

int main(int argc, char **argv) {
    const char *dir = arg(argc, argv, "--tokenizer", LR_SOURCE_DIR "/data/tokenizers/qwen2");
    const char *source = arg(argc, argv, "--source", "tokenizer.json");
    const char *input = arg(argc, argv, "--input", LR_SOURCE_DIR "/tests/data/tokenizer/encode_gsm8k_train.tsv");
    int repeat = atoi(arg(argc, argv, "--repeat", "5"));
    if (repeat < 1) repeat = 1;

    double t0 = now();
    lr_tokenizer *t = tokenizer_load_from(dir, source);
    if (!t) lr_die_last();
    double load_s = now() - t0;

    size_t len;
    char *buf = lr_read_file(input, 1u << 30, &len);
    if (!buf) lr_die_last();
    size_t n = 0, cap = 1024, bytes = 0;
    char **texts = malloc(cap * sizeof *texts);
    size_t *lens = malloc(cap * sizeof *lens);
    for (char *line = buf; line < buf + len;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        const char *end;
        cJSON *j = cJSON_ParseWithOpts(line, &end, 0);
        if (cJSON_IsString(j)) {
            if (n == cap) {
                cap *= 2;
                texts = xrealloc(texts, cap * sizeof *texts);
                lens = xrealloc(lens, cap * sizeof *lens);
            }
            texts[n] = strdup(j->valuestring);
            lens[n] = strlen(texts[n]);
            bytes += lens[n++];
        }
        cJSON_Delete(j);
        line = nl ? nl + 1 : buf + len;
    }
    free(buf);
    if (!n) lr_die_input(input, "no JSON-string lines");

    double best = 1e30, cold = 0;
    long tokens = 0;
    for (int r = 0; r < repeat; r++) {
        tokens = 0;
        double s = now();
        for (size_t i = 0; i < n; i++) {
            int32_t *ids;
            long k = tokenizer_encode(t, texts[i], lens[i], &ids);
            if (k < 0) lr_die_last();
            tokens += k;
            free(ids);
        }
        double e = now() - s;
        if (r == 0) cold = e;
        if (e < best) best = e;
    }
    double mb = (double)bytes / 1e6;
    printf("tokenizer %s (%s), load %.3f s\n", dir, source, load_s);
    printf("input %s: %zu strings, %.2f MB, %ld tokens\n", input, n, mb, tokens);
    printf("cold cache (first pass): %.3f s  %.2f MB/s  %.0f tokens/s\n", cold, mb / cold, (double)tokens / cold);
    printf("warm cache (best of %d): %.3f s  %.2f MB/s  %.0f tokens/s\n", repeat, best, mb / best,
           (double)tokens / best);
    printf("{\"bench\": \"tokenizer_encode\", \"source\": \"%s\", \"bytes\": %zu, \"strings\": %zu, \"tokens\": %ld, "
           "\"load_s\": %.4f, \"cold_s\": %.4f, \"warm_s\": %.4f, \"cold_mb_s\": %.3f, \"warm_mb_s\": %.3f}\n",
           source, bytes, n, tokens, load_s, cold, best, mb / cold, mb / best);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    tokenizer_free(t);
    return 0;
}
