/* What the tokenizer harnesses do with a tokenizer they managed to load:
 * encode fixed texts (ASCII, Unicode, special tokens, invalid UTF-8) to ids
 * it can decode, and check that an id outside is refused. */
#ifndef LR_FUZZ_TOK_H
#define LR_FUZZ_TOK_H

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

static const char *const TEXTS[] = {"Hello, world! 123 + 456 = 579", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87  \n\n\tx",
                                    "<|im_start|>user\nhi<|im_end|>", "\xff\xfe bad utf8 \xc3"};

static void exercise(const lr_tokenizer *t) {
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
        int32_t *ids = NULL;
        long n = tokenizer_encode(t, TEXTS[i], strlen(TEXTS[i]), &ids);
        if (n < 0) {
            lr_error_clear();
            continue;
        }
        for (long k = 0; k < n; k++)
            if (ids[k] < 0 || ids[k] >= tokenizer_n_tokens(t)) abort(); /* encode made an id it cannot decode */
        size_t len;
        char *s = tokenizer_decode(t, ids, (size_t)n, 0, &len);
        if (!s) lr_error_clear();
        free(s);
        free(ids);
    }
    int32_t probe[4] = {0, tokenizer_n_tokens(t) - 1, tokenizer_eos_id(t), tokenizer_n_tokens(t)};
    size_t len;
    char *s = tokenizer_decode(t, probe, 4, 1, &len); /* the last id is outside: an error */
    if (s) abort();
    lr_error_clear();
    s = tokenizer_decode_bytes(t, probe, probe[2] >= 0 ? 3 : 2, 1, &len);
    free(s);
}

#endif
