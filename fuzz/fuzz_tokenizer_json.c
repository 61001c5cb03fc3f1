/* tokenizer.json (+ tokenizer_config.json after a NUL byte): loaded as the
 * tokenizer.json source; an accepted tokenizer goes through exercise()
 * (fuzz_tok.h). */
#include "fuzz_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off, n1 = fz_split(data, size, &off);
    char dir[320], p1[320], p2[320];
    fz_path(dir, sizeof dir, "tok");
    snprintf(p1, sizeof p1, "%s/tokenizer.json", dir);
    snprintf(p2, sizeof p2, "%s/tokenizer_config.json", dir);
    fz_write(p1, data, n1);
    if (off < size) fz_write(p2, data + off, size - off);
    else unlink(p2);
    lr_tokenizer *t = tokenizer_load_from(dir, "tokenizer.json");
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
