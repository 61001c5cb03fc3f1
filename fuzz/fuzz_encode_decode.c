/* encode/decode with the real Qwen2 tokenizer (data/tokenizers/qwen2, or
 * $LR_FUZZ_TOKENIZER): the input's first byte picks the mode.
 *   even: the rest is text; every id is in range, and for valid UTF-8 the
 *         round trip decode(encode(NFC(text))) gives NFC(text) back;
 *   odd:  the rest is a list of little-endian int32 ids; decoding either
 *         fails with an error (an id outside) or gives valid UTF-8. */
#include "fuzz_util.h"
#include "io/problems.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer.h"

static lr_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        int32_t *ids = NULL;
        long k = tokenizer_encode(tok, text, n, &ids);
        if (k < 0) abort(); /* every byte string encodes (invalid UTF-8 as U+FFFD) */
        for (long i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= tokenizer_n_tokens(tok)) abort();
        free(ids);
        if (!lr_utf8_valid(text, n) || memchr(text, 0, n)) return 0;
        size_t nl = n;
        char *norm = lr_nfc(text, n, &nl);
        const char *want = norm ? norm : text;
        k = tokenizer_encode(tok, want, nl, &ids);
        size_t len = 0;
        char *back = k >= 0 ? tokenizer_decode(tok, ids, (size_t)k, 0, &len) : NULL;
        if (!back || len != nl || memcmp(back, want, nl) != 0) {
            fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", nl, len);
            abort();
        }
        free(back);
        free(ids);
        free(norm);
    } else {
        size_t m = n / 4;
        int32_t *ids = malloc((m ? m : 1) * sizeof *ids);
        memcpy(ids, text, m * 4);
        /* mostly valid ids: fold large values into the vocabulary, keep some lies */
        for (size_t i = 0; i < m; i++)
            if (ids[i] >= 0 && (ids[i] & 0x40000000)) ids[i] = (ids[i] & 0x3FFFFFFF) % tokenizer_n_tokens(tok);
        size_t len = 0;
        for (int skip = 0; skip < 2; skip++) {
            char *s = tokenizer_decode(tok, ids, m, skip, &len);
            if (!s) {
                if (!lr_error_msg()[0]) abort();
                lr_error_clear();
                continue;
            }
            if (!lr_utf8_valid(s, len) || strlen(s) > len) abort();
            free(s);
        }
        free(ids);
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("LR_FUZZ_TOKENIZER") ? getenv("LR_FUZZ_TOKENIZER") : LR_FUZZ_TOKENIZER_DIR;
    tok = tokenizer_load(dir);
    if (!tok) {
        fprintf(stderr, "fuzz_encode_decode: cannot load the tokenizer in %s: %s\n", dir, lr_error_msg());
        abort();
    }
    return 0;
}
