/* safetensors reader: any bytes as a .safetensors file. Opening must either
 * fail with an error or yield tensors whose every byte can be read and
 * converted (ASan checks the reads stay inside the mapping). */
#include "fuzz_util.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[320];
    fz_path(path, sizeof path, "in.safetensors");
    fz_write(path, data, size);
    st_set s;
    if (st_open_file(&s, path) != 0) {
        if (!lr_error_msg()[0]) abort(); /* a failure always says why */
        lr_error_clear();
        return 0;
    }
    for (int i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        if (st_find(&s, t->name) != t) abort(); /* names are unique and sorted */
        uint64_t nn, ni;
        st_count_nonfinite(t, &nn, &ni);
        if (t->numel > (1 << 20)) continue; /* the mapping holds it, but keep each run fast */
        float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (st_to_f32(t, buf) != 0) lr_error_clear();
        free(buf);
    }
    st_close(&s);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_dir();
    return 0;
}
