/* Decoding parity with Hugging Face: ids -> text for id sequences whose bytes
 * are valid UTF-8, cut inside a character, or plain invalid (HF's ByteLevel
 * decoder replaces those as String::from_utf8_lossy does), with and without
 * skip_special_tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

int main(void) {
    lr_tokenizer *t = tokenizer_load(tk_qwen2_dir());
    EXPECT(t != NULL, "load: %s", lr_error_msg());
    if (!t) return test_finish("test_tokenizer_decode");
    size_t len;
    char *buf = tk_read_golden("decode.tsv", &len);
    tk_ids ids = {0};
    long lines = 0, bad = 0, malformed = 0, invalid_utf8 = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lines++;
        const char *p = tk_parse_ids(line, &ids), *e1 = "", *e2 = "";
        size_t l1 = 0, l2 = 0;
        char *want[2] = {NULL, NULL};
        if (*p == '\t') want[0] = tk_parse_text(p + 1, &l1, &e1);
        if (want[0] && *e1 == '\t') want[1] = tk_parse_text(e1 + 1, &l2, &e2);
        if (!want[1]) {
            malformed++;
        } else {
            for (int skip = 0; skip < 2; skip++) {
                size_t gl, wl = skip ? l2 : l1, bl;
                char *got = tokenizer_decode(t, ids.v, ids.n, skip, &gl);
                char *raw = tokenizer_decode_bytes(t, ids.v, ids.n, skip, &bl);
                if (!skip && raw && (bl != gl || memcmp(raw, got, gl))) invalid_utf8++;
                if (!got || gl != wl || memcmp(got, want[skip], wl) != 0) {
                    if (bad++ < 5) {
                        fprintf(stderr, "decode.tsv:%ld: skip_special=%d differs from HF\n", lines, skip);
                        tk_print_ids("ids", ids.v, ids.n);
                        tk_print_text("HF", want[skip], wl);
                        if (got) tk_print_text("ours", got, gl);
                        else fprintf(stderr, "    error: %s\n", lr_error_msg());
                    }
                }
                free(got);
                free(raw);
            }
        }
        free(want[0]);
        free(want[1]);
        line = nl ? nl + 1 : buf + len;
    }
    printf("decode.tsv: %ld cases (%ld with invalid UTF-8 bytes), %ld mismatches\n", lines, invalid_utf8, bad);
    EXPECT(lines > 500, "only %ld decode cases", lines);
    EXPECT(malformed == 0, "%ld malformed golden lines", malformed);
    EXPECT(invalid_utf8 > 50, "only %ld cases exercise invalid UTF-8", invalid_utf8);
    EXPECT(bad == 0, "%ld decodes differ from HF", bad);

    /* Ids past the vocabulary are an input error naming the id (HF silently
     * drops them; the project prefers to say so). */
    int32_t badid[] = {1, 151646};
    size_t n;
    char *s = tokenizer_decode(t, badid, 2, 0, &n);
    EXPECT(s == NULL && strstr(lr_error_msg(), "151646"), "out-of-range id: %s", s ? s : lr_error_msg());
    free(s);
    int32_t neg[] = {-1};
    s = tokenizer_decode(t, neg, 1, 0, &n);
    EXPECT(s == NULL, "negative id accepted");
    free(s);
    s = tokenizer_decode(t, NULL, 0, 0, &n);
    EXPECT(s && n == 0 && !*s, "empty decode");
    free(s);

    free(ids.v);
    free(buf);
    tokenizer_free(t);
    return test_finish("test_tokenizer_decode");
}
