/* vocab.json + merges.txt (the input split at its first NUL byte; a second
 * NUL starts tokenizer_config.json): loaded as the vocab.json source; an
 * accepted tokenizer goes through exercise() (fuzz_tok.h). */
#include "fuzz_tok.h"

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
