/* safetensors writer: tensors described by the input (names with any bytes,
 * every dtype, 0-8 dims, metadata) are written, read back and compared
 * byte for byte; a refused write must say why and leave no file. */
#include "fuzz_util.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in in = {data, size};
    const int n = fz_u8(&in) % 6;
    st_write_tensor t[6];
    char names[6][24];
    void *bufs[6] = {0};
    for (int i = 0; i < n; i++) {
        size_t nl = fz_u8(&in) % 20;
        for (size_t k = 0; k < nl; k++) names[i][k] = (char)(fz_u8(&in) % 4 == 0 ? 'a' + i : fz_u8(&in));
        names[i][nl] = 0;
        t[i].name = names[i];
        t[i].dtype = (st_dtype)(fz_u8(&in) % (ST_N_DTYPES + 1)); /* one past the end: an invalid dtype */
        t[i].ndim = fz_u8(&in) % 10;                              /* 9: too many */
        int64_t numel = 1;
        for (int d = 0; d < ST_MAX_DIMS; d++) {
            t[i].shape[d] = d < t[i].ndim ? (int64_t)(fz_u8(&in) % 5) - (fz_u8(&in) == 255) : 1;
            if (d < t[i].ndim && d < ST_MAX_DIMS) numel *= t[i].shape[d] > 0 ? t[i].shape[d] : 0;
        }
        size_t es = st_dtype_size(t[i].dtype);
        size_t nb = (size_t)(numel > 0 ? numel : 0) * (es ? es : 1);
        bufs[i] = malloc(nb ? nb : 1);
        for (size_t k = 0; k < nb; k++) ((uint8_t *)bufs[i])[k] = fz_u8(&in);
        t[i].data = bufs[i];
    }
    const char *mk[2] = {"format", "k"}, *mv[2] = {"pt", "v\"\\\n"};
    const int n_meta = fz_u8(&in) % 3;
    char path[320];
    fz_path(path, sizeof path, "w.safetensors");
    unlink(path);
    if (st_write_file(path, t, n, mk, mv, n_meta) != 0) {
        if (!lr_error_msg()[0] || access(path, F_OK) == 0) abort(); /* says why, writes nothing */
        lr_error_clear();
    } else {
        st_set s;
        if (st_open_file(&s, path) != 0) {
            fprintf(stderr, "written file does not read back: %s\n", lr_error_msg());
            abort();
        }
        if (s.n_tensors != n) abort();
        for (int i = 0; i < n; i++) {
            const st_tensor *r = st_find(&s, t[i].name);
            if (!r || r->dtype != t[i].dtype || r->ndim != t[i].ndim) abort();
            for (int d = 0; d < r->ndim; d++)
                if (r->shape[d] != t[i].shape[d]) abort();
            if (r->nbytes && memcmp(r->data, t[i].data, r->nbytes) != 0) abort();
        }
        st_close(&s);
    }
    for (int i = 0; i < n; i++) free(bufs[i]);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_dir();
    return 0;
}
