/* vocab.json + merges.txt (the input split at its first NUL byte; a second
 * NUL starts tokenizer_config.json): loaded as the vocab.json source; an
 * accepted tokenizer then encodes and decodes a few fixed texts. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off, n1 = fz_split(data, size, &off);
    size_t off2 = 0, n2 = off < size ? fz_split(data + off, size - off, &off2) : 0;
    off2 += off;
    char dir[320], p1[320], p2[320], p3[320];
    fz_path(dir, sizeof dir, "tok");
    snprintf(p1, sizeof p1, "%s/vocab.json", dir);
    snprintf(p2, sizeof p2, "%s/merges.txt", dir);
    snprintf(p3, sizeof p3, "%s/tokenizer_config.json", dir);
    fz_write(p1, data, n1);
    fz_write(p2, data + (off < size ? off : size), n2);
    if (off < size && off2 < size) fz_write(p3, data + off2, size - off2);
    else unlink(p3);
    lr_tokenizer *t = tokenizer_load_from(dir, "vocab.json");
    if (!t) {
        if (!lr_error_msg()[0]) abort();
        lr_error_clear();
        return 0;
    }
    exercise(t);
    tokenizer_free(t);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char dir[320], cmd[400];
    fz_path(dir, sizeof dir, "tok");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) abort();
    return 0;
}
