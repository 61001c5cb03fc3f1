/* config.json + generation_config.json (the input split at its first NUL
 * byte): parsed and validated; an accepted config must have the positive
 * sizes the runtime divides and allocates by, and its rope table must
 * compute. */
#include "fuzz_util.h"
#include "io/model_config.h"
#include "model/rope.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off, n1 = fz_split(data, size, &off);
    char dir[320], p1[320], p2[320];
    fz_path(dir, sizeof dir, "model");
    snprintf(p1, sizeof p1, "%s/config.json", dir);
    snprintf(p2, sizeof p2, "%s/generation_config.json", dir);
    fz_write(p1, data, n1);
    if (off < size) fz_write(p2, data + off, size - off);
    else unlink(p2);
    lr_model_config c;
    lr_generation_config g;
    if (model_config_load_dir(&c, &g, dir) != 0) {
        if (!lr_error_msg()[0]) abort();
        lr_error_clear();
        return 0;
    }
    if (c.hidden_size < 1 || c.n_layers < 1 || c.n_heads < 1 || c.n_kv_heads < 1 || c.head_dim < 1 ||
        c.vocab_size < 1 || c.intermediate_size < 1 || c.max_position_embeddings < 1 || c.n_heads % c.n_kv_heads)
        abort(); /* accepted sizes the runtime cannot use */
    if (c.n_eos < 0 || c.n_eos > LR_MAX_EOS || g.n_eos < 0 || g.n_eos > LR_MAX_EOS) abort();
    model_config_print(devnull, &c, &g);
    if (c.head_dim <= 1024) { /* model_load refuses larger ones before this */
        float inv[512];
        if (rope_inv_freq(&c, p1, inv) != 0) lr_error_clear();
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char dir[320];
    fz_path(dir, sizeof dir, "model");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) abort();
    devnull = fopen("/dev/null", "w");
    return 0;
}
