/* Tokenizer parity with Hugging Face on the real Qwen2 vocabulary: every
 * golden string (GSM8K train/test questions and answers, SVAMP, ASDiv,
 * MATH-500, hand-made hard strings) must encode to exactly HF's ids, and
 * decode back to the text (NFC-normalized, invalid UTF-8 replaced, as HF's
 * own round trip gives). argv[1] picks the source: tokenizer.json or
 * vocab.json (+ merges.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static const char *const GOLDENS[] = {"encode_hard.tsv", "encode_gsm8k_test.tsv", "encode_eval.tsv",
                                      "encode_gsm8k_train.tsv"};

/* What decoding the ids of s should give: s with invalid UTF-8 replaced,
 * then in NFC (the Qwen2 normalizer). */
static char *expected_roundtrip(const char *s, size_t n, size_t *out_len) {
    size_t ln;
    char *lossy = lr_tok_utf8_lossy(s, n, &ln);
    size_t nn;
    char *nfc = lr_nfc(lossy, ln, &nn);
    if (!nfc) {
        *out_len = ln;
        return lossy;
    }
    free(lossy);
    *out_len = nn;
    return nfc;
}

static void check_file(const lr_tokenizer *t, const char *name) {
    size_t len;
    char *buf = tk_read_golden(name, &len);
    tk_ids want = {0};
    long lines = 0, bad_ids = 0, bad_rt = 0, changed_by_nfc = 0, malformed = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lines++;
        size_t tn;
        const char *end;
        char *text = tk_parse_text(line, &tn, &end);
        if (!text || *end != '\t') {
            if (malformed++ < 3) fprintf(stderr, "%s:%ld: malformed golden line\n", name, lines);
            free(text);
            line = nl ? nl + 1 : buf + len;
            continue;
        }
        tk_parse_ids(end + 1, &want);
        int32_t *got;
        long n = tokenizer_encode(t, text, tn, &got);
        long d = n < 0 ? 0 : tk_first_diff(got, (size_t)n, want.v, want.n);
        if (n < 0 || d >= 0) {
            if (bad_ids++ < 5) {
                fprintf(stderr, "%s:%ld: ids differ from HF at position %ld%s%s\n", name, lines, d,
                        n < 0 ? ": " : "", n < 0 ? lr_error_msg() : "");
                tk_print_text("text", text, tn);
                if (n >= 0 && d > 3) {
                    tk_print_ids("ours from the difference", got + d - 3, (size_t)n - (size_t)d + 3);
                    tk_print_ids("HF's from the difference", want.v + d - 3, want.n - (size_t)d + 3);
                } else {
                    if (n >= 0) tk_print_ids("ours", got, (size_t)n);
                    tk_print_ids("HF's", want.v, want.n);
                }
            }
        } else {
            size_t dl, el;
            char *dec = tokenizer_decode(t, got, (size_t)n, 0, &dl);
            char *exp = expected_roundtrip(text, tn, &el);
            if (el != tn || memcmp(exp, text, tn)) changed_by_nfc++;
            if (!dec || dl != el || memcmp(dec, exp, el) != 0) {
                if (bad_rt++ < 5) {
                    fprintf(stderr, "%s:%ld: decode(encode(s)) != s\n", name, lines);
                    tk_print_text("expected", exp, el);
                    if (dec) tk_print_text("decoded", dec, dl);
                }
            }
            free(dec);
            free(exp);
        }
        if (n >= 0) free(got);
        free(text);
        line = nl ? nl + 1 : buf + len;
    }
    printf("%-24s %6ld strings: %ld id mismatches, %ld round-trip mismatches (%ld texts not NFC or not UTF-8)\n",
           name, lines, bad_ids, bad_rt, changed_by_nfc);
    EXPECT(lines > 0, "%s is empty", name);
    EXPECT(malformed == 0, "%s: %ld malformed golden lines", name, malformed);
    EXPECT(bad_ids == 0, "%s: %ld of %ld strings tokenize differently from HF", name, bad_ids, lines);
    EXPECT(bad_rt == 0, "%s: %ld of %ld strings do not round-trip", name, bad_rt, lines);
    free(want.v);
    free(buf);
}

int main(int argc, char **argv) {
    const char *source = argc > 1 ? argv[1] : "tokenizer.json";
    lr_tokenizer *t = tokenizer_load_from(tk_qwen2_dir(), source);
    EXPECT(t != NULL, "loading %s from %s: %s", source, tk_qwen2_dir(), lr_error_msg());
    if (!t) return test_finish("test_tokenizer_parity");
    EXPECT(tokenizer_n_tokens(t) == 151646, "n_tokens %d", tokenizer_n_tokens(t));
    for (size_t i = 0; i < sizeof GOLDENS / sizeof *GOLDENS; i++) check_file(t, GOLDENS[i]);
    tokenizer_free(t);
    return test_finish(argc > 1 && !strcmp(argv[1], "vocab.json") ? "test_tokenizer_parity_vocab"
                                                                   : "test_tokenizer_parity_json");
}
