/* Tokenizer pieces and error paths: UTF-8 repair granularity, NFC, the
 * vocabulary API, both sources agreeing on every token, thread safety, and
 * every kind of broken tokenizer directory giving an error that names the
 * file (never a crash). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#define FFFD "\xef\xbf\xbd"

static void check_lossy(const char *in, size_t n, const char *want) {
    size_t len;
    char *got = lr_tok_utf8_lossy(in, n, &len);
    EXPECT(len == strlen(want) && !memcmp(got, want, len), "lossy of %zu bytes gave %zu bytes", n, len);
    EXPECT(lr_tok_utf8_valid(got, len), "lossy output not valid");
    free(got);
}

static void test_utf8(void) {
    /* Python's bytes.decode('utf-8', 'replace') on the same bytes. */
    check_lossy("\xe2\x82", 2, FFFD);
    check_lossy("\xe2\x82(", 3, FFFD "(");
    check_lossy("\xf0\x80\x80", 3, FFFD FFFD FFFD);
    check_lossy("\xed\xa0\x80", 3, FFFD FFFD FFFD);
    check_lossy("\xc0\xaf", 2, FFFD FFFD);
    check_lossy("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_lossy("a\xf1\x80\x80", 4, "a" FFFD);
    check_lossy("\xf1\x80\x80\xe1\x80\xc2", 6, FFFD FFFD FFFD);
    check_lossy("ok \xc3\xa9", 5, "ok \xc3\xa9");
    check_lossy("", 0, "");
    EXPECT(!lr_tok_utf8_valid("\xff", 1) && lr_tok_utf8_valid("\xf4\x8f\xbf\xbf", 4), "validity");
}

static void check_nfc(const char *in, const char *want) {
    size_t n;
    char *got = lr_nfc(in, strlen(in), &n);
    const char *g = got ? got : in;
    size_t gl = got ? n : strlen(in);
    EXPECT(gl == strlen(want) && !memcmp(g, want, gl), "NFC of '%s' gave '%.*s'", in, (int)gl, g);
    free(got);
}

static void test_nfc(void) {
    check_nfc("plain ascii", "plain ascii");
    check_nfc("e\xcc\x81", "\xc3\xa9");                     /* e + U+0301 -> é */
    check_nfc("\xe2\x84\xab", "\xc3\x85");                   /* Angstrom sign -> Å */
    check_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"); /* jamo -> 각 */
    check_nfc("a\xcc\x81\xcc\x96", "\xc3\xa1\xcc\x96");       /* reordered: a U+0316 U+0301 -> á U+0316 */
    check_nfc("\xcc\x81x", "\xcc\x81x");                     /* leading mark stays */
}

static void test_api(void) {
    lr_tokenizer *a = tokenizer_load_from(tk_qwen2_dir(), "tokenizer.json");
    lr_tokenizer *b = tokenizer_load_from(tk_qwen2_dir(), "vocab.json");
    EXPECT(a && b, "load: %s", lr_error_msg());
    if (!a || !b) return;
    EXPECT(tokenizer_n_tokens(a) == 151646 && tokenizer_n_tokens(b) == 151646, "n_tokens");
    long differ = 0;
    for (int32_t i = 0; i < tokenizer_n_tokens(a); i++) {
        const char *x = tokenizer_token_string(a, i), *y = tokenizer_token_string(b, i);
        if (!x || !y || strcmp(x, y) || tokenizer_is_special(a, i) != tokenizer_is_special(b, i)) differ++;
    }
    EXPECT(differ == 0, "%ld token strings differ between tokenizer.json and vocab.json", differ);
    EXPECT(tokenizer_token_id(a, "\xc4\xa0the") == 279, "id of 'Ġthe': %d", tokenizer_token_id(a, "\xc4\xa0the"));
    EXPECT(!strcmp(tokenizer_token_string(a, 279), "\xc4\xa0the"), "string of 279");
    EXPECT(tokenizer_token_id(a, "<|im_start|>") == 151644, "im_start id");
    EXPECT(tokenizer_token_id(a, "no such token at all") == -1, "unknown token");
    EXPECT(tokenizer_token_string(a, -1) == NULL && tokenizer_token_string(a, 151646) == NULL, "ids out of range");
    EXPECT(tokenizer_is_special(a, 151643) && tokenizer_is_special(b, 151645) && !tokenizer_is_special(a, 279),
           "special flags");
    EXPECT(tokenizer_eos_id(a) == 151645 && tokenizer_eos_id(b) == 151645, "eos %d %d", tokenizer_eos_id(a),
           tokenizer_eos_id(b));
    int32_t *ids;
    long n = tokenizer_encode(a, "", 0, &ids);
    EXPECT(n == 0 && ids, "empty text gives %ld ids", n);
    free(ids);
    n = tokenizer_encode(a, "a\0b", 3, &ids); /* NUL is an ordinary character */
    EXPECT(n == 3, "NUL inside text: %ld ids", n);
    free(ids);
    tokenizer_free(a);
    tokenizer_free(b);
    tokenizer_free(NULL);
}

/* ---- the encoder from several threads at once */

typedef struct {
    const lr_tokenizer *t;
    const char *const *texts;
    int n;
    unsigned long checksum;
} job;

static void *run_job(void *p) {
    job *j = p;
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < j->n; i++) {
            int32_t *ids;
            long n = tokenizer_encode(j->t, j->texts[i], strlen(j->texts[i]), &ids);
            for (long k = 0; k < n; k++) j->checksum = j->checksum * 31u + (unsigned long)ids[k];
            free(ids);
        }
    return NULL;
}

static void test_threads(void) {
    lr_tokenizer *t = tokenizer_load(tk_qwen2_dir());
    if (!t) return;
    static const char *const texts[] = {"Natalia sold clips to 48 of her friends in April.", "It's 3.14159!",
                                        "你好，世界！ Unicode", "<|im_start|>user\nhi<|im_end|>", "   spaces   "};
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){t, texts, 5, 0};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    job solo = {t, texts, 5, 0};
    run_job(&solo);
    for (int i = 0; i < 4; i++) EXPECT(jobs[i].checksum == solo.checksum, "thread %d got other ids", i);
    tokenizer_free(t);
}

/* ---- random inputs: never a crash or sanitizer report, and the round trip
 * decode(encode(x)) gives x repaired (U+FFFD) and NFC-normalized */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

static void test_random_text(void) {
    lr_tokenizer *t = tokenizer_load(tk_qwen2_dir());
    if (!t) return;
    static const char *const atoms[] = {"a", "Z", "7", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "<|im_end|>",
                                        "<|im_start|", "|>", "\xc3\xa9", "e\xcc\x81", "\xcc\x81", "\xe4\xbd\xa0",
                                        "\xf0\x9f\x98\x80", "\xe2\x80\x8d", "\xc2\x85", "\xe3\x80\x80",
                                        "\xe1\xa0\x8e", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\x80",
                                        "!", "...", "\xe1\x84\x80", "\xe1\x85\xa1", "\xea\xb0\x80", "\x00"};
    const int n_atoms = (int)(sizeof atoms / sizeof *atoms);
    long bad = 0;
    char s[512];
    for (int it = 0; it < 3000; it++) {
        size_t n = 0;
        int k = (int)rnd(24);
        for (int i = 0; i < k; i++) {
            const char *a = atoms[rnd((uint32_t)n_atoms)];
            size_t al = strlen(a) ? strlen(a) : 1; /* "\x00" is one NUL byte */
            memcpy(s + n, a, al);
            n += al;
        }
        int32_t *ids;
        long m = tokenizer_encode(t, s, n, &ids);
        size_t dl, ll, nl;
        char *dec = m >= 0 ? tokenizer_decode(t, ids, (size_t)m, 0, &dl) : NULL;
        char *lossy = lr_tok_utf8_lossy(s, n, &ll);
        char *nfc = lr_nfc(lossy, ll, &nl);
        const char *want = nfc ? nfc : lossy;
        size_t wl = nfc ? nl : ll;
        if (!dec || dl != wl || memcmp(dec, want, wl)) {
            if (bad++ < 3) {
                tk_print_text("random input", s, n);
                if (dec) tk_print_text("decoded", dec, dl);
            }
        }
        free(ids);
        free(dec);
        free(lossy);
        free(nfc);
    }
    EXPECT(bad == 0, "%ld random strings do not round-trip", bad);
    /* Random ids: decoding never fails inside the vocabulary. */
    int32_t ids[64];
    for (int it = 0; it < 2000; it++) {
        size_t n = rnd(64), len;
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)rnd((uint32_t)tokenizer_n_tokens(t));
        char *d = tokenizer_decode(t, ids, n, (int)rnd(2), &len);
        EXPECT(d && lr_tok_utf8_valid(d, len), "decode of random ids");
        free(d);
    }
    tokenizer_free(t);
}

/* Corrupted tokenizer.json files: load or refuse, never crash. */
static void test_corrupt_json(const char *dir) {
    const char *good = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"abb\": 4}, "
                       "\"merges\": [\"a b\", [\"ab\", \"b\"]], \"ignore_merges\": false}, \"added_tokens\": [{\"id\": "
                       "5, \"content\": \"<s>\", \"special\": true, \"lstrip\": true}], \"normalizer\": {\"type\": "
                       "\"NFC\"}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                       "\"pattern\": {\"Regex\": \"\\\\s+|[^\\\\s]+\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
                       "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}, \"decoder\": "
                       "{\"type\": \"ByteLevel\"}}";
    char *path = lr_path_join(dir, "tokenizer.json");
    size_t n = strlen(good);
    EXPECT(tk_write_file(path, good, n) == 0, "write");
    lr_tokenizer *t = tokenizer_load(dir);
    EXPECT(t != NULL, "small tokenizer.json: %s", lr_error_msg());
    tokenizer_free(t);
    char *bad = malloc(n);
    int loaded = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(bad, good, n);
        int flips = 1 + (int)rnd(3);
        for (int f = 0; f < flips; f++) bad[rnd((uint32_t)n)] = (char)"{}[]\",:0a\\ \xff"[rnd(12)];
        size_t cut = rnd(8) == 0 ? rnd((uint32_t)n) : n;
        tk_write_file(path, bad, cut);
        lr_error_clear();
        t = tokenizer_load(dir);
        if (t) {
            loaded++;
            int32_t *ids;
            long k = tokenizer_encode(t, "ab <s> ba", 9, &ids);
            if (k >= 0) free(ids);
        } else {
            EXPECT(strstr(lr_error_msg(), "tokenizer.json") != NULL, "error without the file name: %s", lr_error_msg());
        }
        tokenizer_free(t);
    }
    printf("corrupted tokenizer.json: %d of 400 still loaded, the rest refused\n", loaded);
    free(bad);
    unlink(path);
    free(path);
}

/* ---- broken directories */

static char *g_dir;

static void put(const char *name, const char *content) {
    char *p = lr_path_join(g_dir, name);
    EXPECT(tk_write_file(p, content, strlen(content)) == 0, "write %s", p);
    free(p);
}

static void link_real(const char *name) {
    char *src = lr_path_join(tk_qwen2_dir(), name), *dst = lr_path_join(g_dir, name), *abs = realpath(src, NULL);
    unlink(dst);
    EXPECT(abs && symlink(abs, dst) == 0, "link %s", dst);
    free(src);
    free(dst);
    free(abs);
}

static void expect_fail(const char *what, const char *source, const char *file, const char *words) {
    lr_error_clear();
    lr_tokenizer *t = tokenizer_load_from(g_dir, source);
    const char *msg = lr_error_msg();
    EXPECT(!t && strstr(msg, file) && (!words || strstr(msg, words)), "%s: loaded=%d, message '%s'", what, t != NULL,
           msg);
    tokenizer_free(t);
}

static void test_errors(void) {
    lr_error_clear();
    EXPECT(!tokenizer_load("/nonexistent/tokenizer/dir") && strstr(lr_error_msg(), "/nonexistent/tokenizer/dir"),
           "missing dir: %s", lr_error_msg());
    g_dir = tk_mkdtemp();
    expect_fail("empty dir", NULL, "vocab.json", NULL);
    expect_fail("unknown source", "sentencepiece", "sentencepiece", NULL);

    const char *tj = "tokenizer.json";
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0");
    expect_fail("truncated JSON", NULL, "tokenizer.json", "JSON");
    put(tj, "[1, 2]");
    expect_fail("not an object", NULL, "tokenizer.json", NULL);
    put(tj, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    expect_fail("WordPiece", NULL, "tokenizer.json", "WordPiece");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}");
    expect_fail("string id", NULL, "tokenizer.json", "vocab");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}");
    expect_fail("merge result missing", NULL, "tokenizer.json", "merges[0]");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}");
    expect_fail("one-element merge", NULL, "tokenizer.json", "merges[0]");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": "
            "\"NFKC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"}}");
    expect_fail("NFKC", NULL, "tokenizer.json", "NFKC");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": "
            "\"Whitespace\"}, \"decoder\": {\"type\": \"ByteLevel\"}}");
    expect_fail("Whitespace pre-tokenizer", NULL, "tokenizer.json", "Whitespace");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": null, "
            "\"decoder\": {\"type\": \"ByteLevel\"}}");
    expect_fail("no ByteLevel", NULL, "tokenizer.json", "ByteLevel");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": "
            "\"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, \"decoder\": {\"type\": "
            "\"ByteLevel\"}}");
    expect_fail("bad regex", NULL, "tokenizer.json", "regex");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": "
            "\"ByteLevel\"}, \"decoder\": {\"type\": \"WordPiece\"}}");
    expect_fail("WordPiece decoder", NULL, "tokenizer.json", "decoder");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 1}],"
            " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"}}");
    expect_fail("added token without content", NULL, "tokenizer.json", "added_tokens[0]");
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true}}");
    expect_fail("byte_fallback", NULL, "tokenizer.json", "byte_fallback");
    /* A minimal valid file loads (and a broken tokenizer_config.json beside it does not). */
    put(tj, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]},"
            " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}, \"decoder\": {\"type\": "
            "\"ByteLevel\"}}");
    lr_tokenizer *t = tokenizer_load(g_dir);
    EXPECT(t != NULL, "minimal tokenizer.json: %s", lr_error_msg());
    int32_t *ids = NULL;
    long n = t ? tokenizer_encode(t, "abxab", 5, &ids) : -1;
    EXPECT(n == 2 && ids[0] == 2 && ids[1] == 2, "minimal encode: %ld ids (x has no token and is dropped, as HF)", n);
    free(ids);
    tokenizer_free(t);
    put("tokenizer_config.json", "{\"chat_template\": ");
    expect_fail("broken tokenizer_config.json", NULL, "tokenizer_config.json", "JSON");
    char *p = lr_path_join(g_dir, tj);
    unlink(p);
    free(p);

    /* vocab.json + merges.txt */
    put("tokenizer_config.json", "{\"tokenizer_class\": \"Qwen2Tokenizer\"}");
    put("vocab.json", "{\"a\": 0, \"b\": ");
    put("merges.txt", "#version: 0.2\n");
    expect_fail("truncated vocab.json", NULL, "vocab.json", NULL);
    link_real("vocab.json");
    put("merges.txt", "#version: 0.2\n\xc4\xa0 \xc4\xa0\nonly-one-token\n");
    expect_fail("one-token merge line", NULL, "merges.txt:3", NULL);
    put("merges.txt", "#version: 0.2\n\xc4\xa0 t\nnot_a_token_at_all zzz\n");
    expect_fail("unknown merge token", NULL, "merges.txt:3", "vocabulary");
    link_real("merges.txt");
    put("tokenizer_config.json", "{\"tokenizer_class\": \"LlamaTokenizer\"}");
    expect_fail("unknown tokenizer class", NULL, "tokenizer_config.json", "LlamaTokenizer");
    put("tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"<a>\"}}}");
    expect_fail("bad added_tokens_decoder key", NULL, "tokenizer_config.json", "added_tokens_decoder");
    link_real("tokenizer_config.json");
    put("added_tokens.json", "{\"<x>\": -5}");
    expect_fail("bad added_tokens.json", NULL, "added_tokens.json", NULL);
    link_real("added_tokens.json");
    t = tokenizer_load(g_dir);
    EXPECT(t && tokenizer_n_tokens(t) == 151646, "re-assembled directory loads: %s", lr_error_msg());
    tokenizer_free(t);
    tk_rmtree(g_dir);
    free(g_dir);
}

static void test_fuzz_files(void) {
    char *dir = tk_mkdtemp();
    test_corrupt_json(dir);
    tk_rmtree(dir);
    free(dir);
}

int main(void) {
    test_utf8();
    test_nfc();
    test_api();
    test_threads();
    test_errors();
    test_random_text();
    test_fuzz_files();
    return test_finish("test_tokenizer_unit");
}
