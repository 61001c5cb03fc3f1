/* safetensors reader/writer against files written by the Python library
 * (tests/reference/make_safetensors_goldens.py), the fp16/bf16 conversions
 * against torch, and malformed files (made here at run time) through the
 * `lightreasoner tensors` binary: exit 2, the file named, no sanitizer
 * report. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "io/safetensors.h"
#include "test_util.h"

static char g_tmp[64];

static const char *tmp(const char *name) {
    static char bufs[8][512];
    static int k = 0;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", g_tmp, name);
    return b;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void write_raw(const char *path, const void *p, size_t n) {
    /* a fresh inode: rewriting by truncation makes ext4 flush on close
     * (auto_da_alloc), which costs milliseconds per file in the fuzz loops */
    remove(path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* A safetensors file from a header text and `data_len` data bytes. */
static void write_st(const char *path, const char *header, size_t data_len) {
    size_t h = strlen(header);
    unsigned char *buf = calloc(1, 8 + h + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    write_raw(path, buf, 8 + h + data_len);
    free(buf);
}

static unsigned char *slurp(const char *path, size_t *n) {
    char *p = lr_read_file(path, 1u << 26, n);
    if (!p) fprintf(stderr, "cannot read %s: %s\n", path, lr_error_msg());
    return (unsigned char *)p;
}

/* The binary must refuse `arg` with exit 2, name `file`, mention `what`. */
static void expect_cli_error(const char *arg, const char *file, const char *what) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' tensors '%s'", test_bin(), arg);
    int rc = test_run(cmd, &out);
    char want[1024];
    snprintf(want, sizeof want, "lightreasoner: error: %s", file);
    EXPECT(rc == 2, "%s: exit %d, want 2; output:\n%s", arg, rc, out);
    EXPECT(strstr(out, want) != NULL, "%s: message does not start with '%s':\n%s", arg, want, out);
    EXPECT(strstr(out, what) != NULL, "%s: message lacks '%s':\n%s", arg, what, out);
    EXPECT(!strstr(out, "Sanitizer") && !strstr(out, "runtime error"), "%s: sanitizer report:\n%s", arg, out);
    free(out);
}

/* Same file through the library: -1 with the file named. */
static void expect_lib_error(const char *path, const char *what) {
    st_set s;
    lr_error_clear();
    int rc = lr_is_dir(path) ? st_open_dir(&s, path) : st_open_file(&s, path);
    EXPECT(rc == -1, "%s: st_open returned %d", path, rc);
    EXPECT(strstr(lr_error_msg(), what) != NULL, "%s: error '%s' lacks '%s'", path, lr_error_msg(), what);
    if (rc == 0) st_close(&s);
}

static void malformed(const char *name, const char *what) {
    const char *p = tmp(name);
    expect_lib_error(p, what);
    expect_cli_error(p, p, what);
}

/* ------------------------------------------------------------ reading */

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || fbits(a) == fbits(b); }

static void test_f32(void) {
    st_set s;
    EXPECT(st_open_file(&s, test_data_path("io/st/f32.safetensors")) == 0, "%s", lr_error_msg());
    const st_tensor *t = st_find(&s, "values");
    EXPECT(t && t->dtype == ST_F32 && t->ndim == 1 && t->shape[0] == 10, "values header");
    if (t) {
        float v[10];
        const float want[10] = {0.0f, -0.0f, 1.0f, -1.5f, 3.4028234663852886e38f, 1.401298464324817e-45f,
                                INFINITY, -INFINITY, NAN, 0.1f};
        EXPECT(st_to_f32(t, v) == 0, "convert");
        for (int i = 0; i < 10; i++) EXPECT(same_float(v[i], want[i]), "f32[%d] = %g want %g", i, v[i], want[i]);
    }
    int64_t shape[2] = {2, 3};
    float *m = st_load_f32(&s, "matrix", 2, shape);
    EXPECT(m != NULL, "%s", lr_error_msg());
    for (int i = 0; m && i < 6; i++) EXPECT(m[i] == i * 0.5f - 1.0f, "matrix[%d] = %g", i, m[i]);
    free(m);
    const st_tensor *sc = st_find(&s, "scalar");
    EXPECT(sc && sc->ndim == 0 && sc->numel == 1 && sc->nbytes == 4, "scalar shape []");
    float *scv = st_load_f32(&s, "scalar", 0, NULL);
    EXPECT(scv && scv[0] == 2.5f, "scalar value");
    free(scv);
    /* errors name the file and the tensor */
    int64_t wrong[1] = {6};
    EXPECT(st_load_f32(&s, "matrix", 1, wrong) == NULL, "shape mismatch refused");
    EXPECT(strstr(lr_error_msg(), "f32.safetensors: tensor 'matrix' has shape [2, 3], expected [6]"), "%s",
           lr_error_msg());
    EXPECT(st_load_f32(&s, "nope", 1, wrong) == NULL && strstr(lr_error_msg(), "missing tensor 'nope'"), "%s",
           lr_error_msg());
    st_close(&s);
}

/* "values" (bf16 or f16) converted by us must equal torch's "values_f32". */
static void test_half_file(const char *file, st_dtype dt, int n_expect) {
    st_set s;
    EXPECT(st_open_file(&s, test_data_path(file)) == 0, "%s", lr_error_msg());
    const st_tensor *t = st_find(&s, "values"), *r = st_find(&s, "values_f32");
    EXPECT(t && r && t->dtype == dt && r->dtype == ST_F32 && t->numel == n_expect && r->numel == t->numel, "%s headers",
           file);
    if (t && r && r->numel == t->numel) {
        float *a = malloc((size_t)t->numel * 4), *b = malloc((size_t)t->numel * 4);
        EXPECT(st_to_f32(t, a) == 0 && st_to_f32(r, b) == 0, "convert");
        for (int64_t i = 0; i < t->numel; i++)
            EXPECT(same_float(a[i], b[i]), "%s[%ld]: %.9g (0x%08x) vs torch %.9g (0x%08x)", file, (long)i, a[i],
                   fbits(a[i]), b[i], fbits(b[i]));
        free(a);
        free(b);
    }
    st_close(&s);
}

static void test_half_values(void) {
    test_half_file("io/st/bf16.safetensors", ST_BF16, 13);
    test_half_file("io/st/f16.safetensors", ST_F16, 16);
    /* a few by hand: subnormals, extremes */
    EXPECT(st_f16_to_f32(0x0001) == ldexpf(1, -24), "f16 min subnormal");
    EXPECT(st_f16_to_f32(0x03FF) == ldexpf(1023, -24), "f16 max subnormal");
    EXPECT(st_f16_to_f32(0x0400) == ldexpf(1, -14), "f16 min normal");
    EXPECT(st_f16_to_f32(0x7BFF) == 65504.0f, "f16 max");
    EXPECT(st_f16_to_f32(0x8001) == -ldexpf(1, -24), "f16 negative subnormal");
    EXPECT(isinf(st_f16_to_f32(0xFC00)) && st_f16_to_f32(0xFC00) < 0, "f16 -inf");
    EXPECT(isnan(st_f16_to_f32(0x7E00)), "f16 nan");
    EXPECT(st_bf16_to_f32(0x0001) == ldexpf(1, -133), "bf16 min subnormal");
    EXPECT(isnan(st_bf16_to_f32(0x7FC0)), "bf16 nan");
}

/* fp32 -> bf16/f16 against torch's .bfloat16()/.half(), then exhaustive
 * round trips over every 16-bit pattern. */
static void test_rounding(void) {
    st_set s;
    EXPECT(st_open_file(&s, test_data_path("io/st/convert.safetensors")) == 0, "%s", lr_error_msg());
    const st_tensor *src = st_find(&s, "src"), *bf = st_find(&s, "src_bf16"), *hf = st_find(&s, "src_f16");
    EXPECT(src && bf && hf && src->numel > 800 && bf->numel == src->numel && hf->numel == src->numel, "headers");
    if (src && bf && hf && bf->numel == src->numel && hf->numel == src->numel) {
        int bad_bf = 0, bad_hf = 0;
        for (int64_t i = 0; i < src->numel; i++) {
            float x;
            uint16_t wb, wh;
            memcpy(&x, (const char *)src->data + 4 * i, 4);
            memcpy(&wb, (const char *)bf->data + 2 * i, 2);
            memcpy(&wh, (const char *)hf->data + 2 * i, 2);
            uint16_t gb = st_f32_to_bf16(x), gh = st_f32_to_f16(x);
            if (gb != wb && bad_bf++ < 10)
                fprintf(stderr, "bf16(%.9g = 0x%08x) = 0x%04x, torch 0x%04x\n", x, fbits(x), gb, wb);
            if (gh != wh && bad_hf++ < 10)
                fprintf(stderr, "f16(%.9g = 0x%08x) = 0x%04x, torch 0x%04x\n", x, fbits(x), gh, wh);
        }
        EXPECT(bad_bf == 0, "%d bf16 roundings differ from torch", bad_bf);
        EXPECT(bad_hf == 0, "%d f16 roundings differ from torch", bad_hf);
    }
    st_close(&s);
    int bad_b = 0, bad_h = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float fb = st_bf16_to_f32((uint16_t)h), fh = st_f16_to_f32((uint16_t)h);
        if (isnan(fb) ? !isnan(st_bf16_to_f32(st_f32_to_bf16(fb))) : st_f32_to_bf16(fb) != h) bad_b++;
        if (isnan(fh) ? !isnan(st_f16_to_f32(st_f32_to_f16(fh))) : st_f32_to_f16(fh) != h) bad_h++;
    }
    EXPECT(bad_b == 0, "%d bf16 patterns do not round-trip", bad_b);
    EXPECT(bad_h == 0, "%d f16 patterns do not round-trip", bad_h);
    EXPECT(st_f32_to_bf16(NAN) == 0x7FC0, "bf16 NaN is c10's canonical 0x7FC0");
}

static void test_mixed(void) {
    st_set s;
    EXPECT(st_open_file(&s, test_data_path("io/st/mixed.safetensors")) == 0, "%s", lr_error_msg());
    EXPECT(s.n_tensors == 13 && s.n_files == 1, "13 tensors, got %d", s.n_tensors);
    for (int i = 1; i < s.n_tensors; i++)
        EXPECT(strcmp(s.tensors[i - 1].name, s.tensors[i].name) < 0, "sorted by name");
    EXPECT(s.n_meta == 1 && !strcmp(s.meta_keys[0], "format") && !strcmp(s.meta_values[0], "pt"), "metadata");
    static const struct {
        const char *name;
        st_dtype dt;
        int64_t numel;
    } want[] = {{"f64", ST_F64, 2},  {"i64", ST_I64, 3}, {"i32", ST_I32, 2},     {"i16", ST_I16, 3},
                {"i8", ST_I8, 2},    {"u8", ST_U8, 3},   {"bool", ST_BOOL, 3},   {"f32", ST_F32, 4},
                {"f16", ST_F16, 2},  {"bf16", ST_BF16, 3}, {"empty", ST_F32, 0}, {"empty2", ST_BF16, 0},
                {"rank4", ST_F32, 24}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const st_tensor *t = st_find(&s, want[k].name);
        EXPECT(t && t->dtype == want[k].dt && t->numel == want[k].numel &&
                   t->nbytes == (size_t)want[k].numel * st_dtype_size(want[k].dt),
               "%s", want[k].name);
    }
    const st_tensor *t = st_find(&s, "i64");
    if (t) {
        int64_t v[3];
        memcpy(v, t->data, sizeof v);
        EXPECT(v[0] == -(INT64_C(1) << 40) && v[1] == 1 && v[2] == 2, "i64 values");
    }
    t = st_find(&s, "i32");
    if (t) {
        int32_t v[2];
        memcpy(v, t->data, sizeof v);
        EXPECT(v[0] == INT32_MIN && v[1] == INT32_MAX, "i32 values");
    }
    t = st_find(&s, "bool");
    EXPECT(t && !memcmp(t->data, "\1\0\1", 3), "bool values");
    t = st_find(&s, "empty2");
    EXPECT(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 0, "empty2 shape [2, 0]");
    t = st_find(&s, "rank4");
    EXPECT(t && t->ndim == 4 && t->shape[3] == 4, "rank4");
    float f64v[2];
    t = st_find(&s, "f64");
    EXPECT(t && st_to_f32(t, f64v) == 0 && f64v[0] == (float)3.14159265358979323846 && f64v[1] == (float)-2.71828182845904523536, "f64 -> f32");
    float iv[3];
    EXPECT(st_to_f32(st_find(&s, "i64"), iv) == -1 && strstr(lr_error_msg(), "not a floating-point"), "int refused");
    float bfv[3];
    t = st_find(&s, "bf16");
    EXPECT(t && st_to_f32(t, bfv) == 0 && bfv[0] == 1.0f && bfv[1] == -0.25f && bfv[2] == 3.0f, "bf16 values");
    EXPECT(st_find(&s, "") == NULL && st_find(&s, "zzz") == NULL && st_find(&s, "a") == NULL, "absent names");
    st_close(&s);
}

static void test_sharded(void) {
    const char *dir = test_data_path("io/st/tiny_qwen2_sharded");
    st_set s;
    EXPECT(st_open_dir(&s, dir) == 0, "%s", lr_error_msg());
    size_t n;
    char *text = lr_read_file(test_data_path("io/st/tiny_qwen2_sharded.sums.json"), 1 << 20, &n);
    cJSON *sums = text ? cJSON_Parse(text) : NULL;
    EXPECT(sums != NULL, "sums.json");
    EXPECT(s.n_files == 3, "3 shards, got %d", s.n_files);
    EXPECT(sums && s.n_tensors == cJSON_GetArraySize(sums), "tensor count %d", s.n_tensors);
    for (const cJSON *e = sums ? sums->child : NULL; e; e = e->next) {
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        int64_t sh[ST_MAX_DIMS];
        int nd = 0;
        for (const cJSON *d = shape->child; d; d = d->next) sh[nd++] = (int64_t)d->valuedouble;
        float *v = st_load_f32(&s, e->string, nd, sh);
        EXPECT(v != NULL, "%s: %s", e->string, lr_error_msg());
        if (!v) continue;
        int64_t numel = 1;
        for (int d = 0; d < nd; d++) numel *= sh[d];
        double sum = 0;
        for (int64_t i = 0; i < numel; i++) sum += v[i];
        EXPECT_NEAR(sum, cJSON_GetObjectItem(e, "sum")->valuedouble, 1e-5, e->string);
        EXPECT(v[0] == (float)cJSON_GetObjectItem(e, "first")->valuedouble, "%s first value", e->string);
        free(v);
    }
    /* file_index agrees with the index's weight_map */
    free(text);
    cJSON_Delete(sums);
    char *ip = lr_path_join(dir, "model.safetensors.index.json");
    text = lr_read_file(ip, 1 << 20, &n);
    cJSON *idx = text ? cJSON_Parse(text) : NULL;
    const cJSON *wm = cJSON_GetObjectItem(idx, "weight_map");
    for (const cJSON *e = wm ? wm->child : NULL; e; e = e->next) {
        const st_tensor *t = st_find(&s, e->string);
        const char *f = t ? strrchr(s.paths[t->file_index], '/') : NULL;
        EXPECT(f && !strcmp(f + 1, e->valuestring), "%s lives in %s", e->string, e->valuestring);
    }
    cJSON_Delete(idx);
    free(text);
    free(ip);
    st_close(&s);
}

/* ------------------------------------------------------------ writing */

/* Exactly the tensors of writer_tensors() in make_safetensors_goldens.py. */
static void test_writer(void) {
    float bw[6], z[2] = {7.0f, -7.0f}, one[1] = {1.0f}, two[1] = {2.0f}, empty_f[1] = {0};
    for (int i = 0; i < 6; i++) bw[i] = (float)((i - 2.5) * 0.5);
    uint16_t abias[4], a10[3], a9[4];
    for (int i = 0; i < 4; i++) abias[i] = (uint16_t)(0x3F80 + 0x11 * i);
    for (int i = 0; i < 3; i++) a10[i] = (uint16_t)(0x3C00 + i);
    for (int i = 0; i < 4; i++) a9[i] = (uint16_t)(0xC000 + 3 * i);
    int64_t B[2] = {-5, INT64_C(1) << 40};
    double c = 0.125;
    int32_t d[3] = {-1, 0, 7};
    int16_t e[2] = {-300, 300};
    int8_t f[3] = {-1, 2, -3};
    uint8_t g[4] = {0, 1, 254, 255}, h[3] = {1, 0, 1};
    const st_write_tensor t[] = {
        {"b.weight", ST_F32, 2, {2, 3}, bw},
        {"a.bias", ST_BF16, 1, {4}, abias},
        {"a.10", ST_F16, 1, {3}, a10},
        {"a.9", ST_F16, 2, {2, 2}, a9},
        {"B", ST_I64, 1, {2}, B},
        {"c", ST_F64, 0, {0}, &c},
        {"d", ST_I32, 1, {3}, d},
        {"e", ST_I16, 1, {2}, e},
        {"f", ST_I8, 1, {3}, f},
        {"g", ST_U8, 1, {4}, g},
        {"h", ST_BOOL, 1, {3}, h},
        {"empty", ST_F32, 1, {0}, empty_f},
        {"empty2", ST_BF16, 2, {2, 0}, NULL},
        {"z", ST_F32, 4, {2, 1, 1, 1}, z},
        {"\xc3\xa9/\xc3\xbcn\xc3\xaf", ST_F32, 1, {1}, one},
        {"quote\"back\\slash\ttab\x01" "del\x7f", ST_F32, 1, {1}, two},
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    struct {
        const char *golden;
        int n;
        const char *const *k, *const *v;
        int n_meta;
    } cases[] = {
        {"writer_meta", n, mk, mv, 1},
        {"writer_nometa", n, NULL, NULL, 0},
        {"writer_empty_meta", 0, mk, mv, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "io/st/%s.safetensors", cases[k].golden);
        const char *out = tmp(cases[k].golden);
        EXPECT(st_write_file(out, t, cases[k].n, cases[k].k, cases[k].v, cases[k].n_meta) == 0, "%s: %s",
               cases[k].golden, lr_error_msg());
        size_t na = 0, nb = 0;
        unsigned char *a = slurp(out, &na), *b = slurp(test_data_path(rel), &nb);
        EXPECT(a && b && na == nb && !memcmp(a, b, na), "%s: %zu bytes vs golden %zu bytes differ", cases[k].golden,
               na, nb);
        free(a);
        free(b);
    }
    /* escaped metadata key/value */
    const char *ek[] = {"k\n\"\\"}, *ev[] = {"v\xc3\xa9\x1f/"};
    const st_write_tensor x = {"x", ST_F32, 1, {1}, one};
    const char *out = tmp("writer_escaped_meta");
    EXPECT(st_write_file(out, &x, 1, ek, ev, 1) == 0, "%s", lr_error_msg());
    size_t na = 0, nb = 0;
    unsigned char *a = slurp(out, &na), *b = slurp(test_data_path("io/st/writer_escaped_meta.safetensors"), &nb);
    EXPECT(a && b && na == nb && !memcmp(a, b, na), "escaped metadata differs from golden");
    free(a);
    free(b);

    /* read back what we wrote */
    st_set s;
    EXPECT(st_open_file(&s, tmp("writer_empty_meta")) == 0 && s.n_tensors == 0 && s.n_meta == 1, "empty file: %s",
           lr_error_msg());
    st_close(&s);
    EXPECT(st_open_file(&s, tmp("writer_meta")) == 0, "%s", lr_error_msg());
    EXPECT(s.n_tensors == n, "read back %d tensors", s.n_tensors);
    for (int i = 0; i < n; i++) {
        const st_tensor *r = st_find(&s, t[i].name);
        EXPECT(r && r->dtype == t[i].dtype && r->ndim == t[i].ndim, "%s read back", t[i].name);
        if (r && r->nbytes) EXPECT(!memcmp(r->data, t[i].data, r->nbytes), "%s data", t[i].name);
    }
    st_close(&s);

    /* writer refusals */
    const st_write_tensor dup[] = {{"a", ST_F32, 1, {1}, one}, {"a", ST_F32, 1, {1}, two}};
    EXPECT(st_write_file(tmp("dup"), dup, 2, NULL, NULL, 0) == -1 && strstr(lr_error_msg(), "given twice"), "dup");
    EXPECT(!lr_file_exists(tmp("dup")), "nothing written on refusal");
    const st_write_tensor neg = {"a", ST_F32, 1, {-1}, one};
    EXPECT(st_write_file(tmp("neg"), &neg, 1, NULL, NULL, 0) == -1, "negative dim refused");
    EXPECT(st_write_file("/nonexistent-dir/x.safetensors", &x, 1, NULL, NULL, 0) == -1 &&
               strstr(lr_error_msg(), "/nonexistent-dir/x.safetensors"),
           "unwritable path: %s", lr_error_msg());
    /* atomic: an existing file survives a refused write untouched */
    write_raw(tmp("keep"), "keep", 4);
    EXPECT(st_write_file(tmp("keep"), dup, 2, NULL, NULL, 0) == -1, "refused");
    unsigned char *kp = slurp(tmp("keep"), &na);
    EXPECT(kp && na == 4 && !memcmp(kp, "keep", 4), "existing output not damaged");
    free(kp);
}

/* ---------------------------------------------------------- malformed */

static void test_malformed_files(void) {
    write_raw(tmp("empty.safetensors"), "", 0);
    malformed("empty.safetensors", "empty");

    write_raw(tmp("short.safetensors"), "\x10\0\0\0\0", 5);
    malformed("short.safetensors", "too short");

    /* header length 1000 in a 40-byte file */
    unsigned char past[40] = {0xE8, 0x03};
    memcpy(past + 8, "{}", 2);
    write_raw(tmp("past.safetensors"), past, sizeof past);
    malformed("past.safetensors", "runs past the end");

    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    write_raw(tmp("huge.safetensors"), huge, sizeof huge);
    malformed("huge.safetensors", "exceeds");

    write_st(tmp("notjson.safetensors"), "{not json at all}", 0);
    malformed("notjson.safetensors", "not valid JSON");

    write_st(tmp("array.safetensors"), "[1, 2, 3]", 0);
    malformed("array.safetensors", "JSON object");

    write_st(tmp("trailing.safetensors"), "{}xyz   ", 0);
    malformed("trailing.safetensors", "not valid JSON");

    write_st(tmp("badutf8.safetensors"), "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
    malformed("badutf8.safetensors", "UTF-8");

    write_st(tmp("entry.safetensors"), "{\"w\": 5}", 0);
    malformed("entry.safetensors", "tensor 'w': header entry is not a JSON object");

    write_st(tmp("nodtype.safetensors"), "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    malformed("nodtype.safetensors", "lacks \"dtype\"");

    write_st(tmp("dtype.safetensors"), "{\"w\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    malformed("dtype.safetensors", "tensor 'w': unknown or unsupported dtype 'F17'");

    write_st(tmp("mismatch.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 16);
    malformed("mismatch.safetensors", "tensor 'w': shape [2, 2] of F32 needs 16 bytes");

    write_st(tmp("negshape.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    malformed("negshape.safetensors", "shape entry 0 is not a non-negative integer");

    write_st(tmp("floatshape.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8);
    malformed("floatshape.safetensors", "shape entry 0 is not a non-negative integer");

    write_st(tmp("shapenotlist.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16);
    malformed("shapenotlist.safetensors", "shape is not a list");

    write_st(tmp("dims.safetensors"),
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    malformed("dims.safetensors", "9 dimensions");

    write_st(tmp("bigshape.safetensors"),
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4);
    malformed("bigshape.safetensors", "needs");

    write_st(tmp("beginend.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    malformed("beginend.safetensors", "begin 8 is after end 4");

    write_st(tmp("offsets1.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
    malformed("offsets1.safetensors", "not a [begin, end] pair");

    write_st(tmp("outside.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 16);
    malformed("outside.safetensors", "outside the 16-byte data area");

    write_st(tmp("overlap.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             12);
    malformed("overlap.safetensors", "tensors 'a' [0, 8) and 'b' [4, 12) overlap");

    /* b sits inside a: sorting by begin must still catch it */
    write_st(tmp("nested.safetensors"),
             "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}",
             20);
    malformed("nested.safetensors", "tensors 'a' [0, 16) and 'b' [4, 8) overlap");

    write_st(tmp("dupname.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             8);
    malformed("dupname.safetensors", "tensor 'a' appears twice");

    write_st(tmp("meta.safetensors"), "{\"__metadata__\":{\"format\":1}}", 0);
    malformed("meta.safetensors", "__metadata__ value for 'format' is not a string");

    /* a valid file cut short: the last tensor now lies outside */
    size_t n = 0;
    unsigned char *full = slurp(test_data_path("io/st/mixed.safetensors"), &n);
    if (full) write_raw(tmp("cut.safetensors"), full, n - 10);
    free(full);
    malformed("cut.safetensors", "outside");

    expect_cli_error(tmp("does-not-exist.safetensors"), tmp("does-not-exist.safetensors"), "cannot open");
}

/* A shard with the given tensors (all F32 [1]) via our writer. */
static void make_shard(const char *dir, const char *file, const char *const *names, int n) {
    st_write_tensor t[8];
    static const float v = 1.0f;
    for (int i = 0; i < n; i++) t[i] = (st_write_tensor){names[i], ST_F32, 1, {1}, &v};
    char *p = lr_path_join(dir, file);
    if (st_write_file(p, t, n, NULL, NULL, 0) != 0) fprintf(stderr, "make_shard: %s\n", lr_error_msg());
    free(p);
}

static const char *make_sharded(const char *name, const char *index_json) {
    const char *dir = tmp(name);
    lr_mkdir_p(dir);
    const char *s1[] = {"a", "b"}, *s2[] = {"c"};
    make_shard(dir, "m-1.safetensors", s1, 2);
    make_shard(dir, "m-2.safetensors", s2, 1);
    char *ip = lr_path_join(dir, "model.safetensors.index.json");
    write_raw(ip, index_json, strlen(index_json));
    free(ip);
    return dir;
}

static void test_malformed_dirs(void) {
    char idx[1024];
    /* the well-formed version first, so each case below fails for its own reason */
    const char *ok = make_sharded("shard_ok", "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"a\":\"m-1.safetensors\","
                                              "\"b\":\"m-1.safetensors\",\"c\":\"m-2.safetensors\"}}");
    st_set s;
    EXPECT(st_open_dir(&s, ok) == 0 && s.n_tensors == 3 && s.n_files == 2, "hand-made sharded dir: %s",
           lr_error_msg());
    st_close(&s);

    const char *d = make_sharded("shard_missing", "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\","
                                                  "\"c\":\"m-3.safetensors\"}}");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_lib_error(d, "shard 'm-3.safetensors'");
    expect_cli_error(d, idx, "shard 'm-3.safetensors' named in weight_map is missing");

    d = make_sharded("shard_notin", "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\","
                                    "\"c\":\"m-2.safetensors\",\"ghost\":\"m-2.safetensors\"}}");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_lib_error(d, "tensor 'ghost' is mapped to shard 'm-2.safetensors' but that shard does not contain it");
    expect_cli_error(d, idx, "tensor 'ghost'");

    d = make_sharded("shard_wrong", "{\"weight_map\":{\"a\":\"m-2.safetensors\",\"b\":\"m-1.safetensors\","
                                    "\"c\":\"m-2.safetensors\"}}");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_cli_error(d, idx, "tensor 'a' is mapped to shard 'm-2.safetensors'");

    d = make_sharded("shard_broken", "{\"weight_map\": {\"a\": ");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_cli_error(d, idx, "not valid JSON");

    d = make_sharded("shard_nomap", "{\"metadata\": {}}");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_cli_error(d, idx, "weight_map");

    d = make_sharded("shard_escape", "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}");
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    expect_cli_error(d, idx, "not a file name inside the model directory");

    /* the same tensor in two shards */
    d = tmp("shard_dup");
    lr_mkdir_p(d);
    const char *s1[] = {"a", "b"}, *s2[] = {"a", "c"};
    make_shard(d, "m-1.safetensors", s1, 2);
    make_shard(d, "m-2.safetensors", s2, 2);
    const char *j = "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\",\"c\":\"m-2.safetensors\"}}";
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    write_raw(idx, j, strlen(j));
    expect_lib_error(d, "tensor 'a' is also stored in");
    char shard2[512];
    snprintf(shard2, sizeof shard2, "%s/m-2.safetensors", d);
    expect_cli_error(d, shard2, "tensor 'a' is also stored in");

    /* a broken shard is reported under its own name */
    d = make_sharded("shard_bad", "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\","
                                  "\"c\":\"m-2.safetensors\"}}");
    char bad[512];
    snprintf(bad, sizeof bad, "%s/m-2.safetensors", d);
    write_raw(bad, "\x02\0\0\0\0\0\0\0[]", 10);
    expect_cli_error(d, bad, "header does not start with a JSON object");

    d = tmp("empty_dir");
    lr_mkdir_p(d);
    expect_cli_error(d, d, "no model.safetensors or model.safetensors.index.json");
}

/* Every truncation of a valid file is refused, and random byte flips in the
 * header never crash the reader (the sanitizer build checks memory). */
static void test_fuzz(void) {
    size_t n = 0;
    unsigned char *full = slurp(test_data_path("io/st/mixed.safetensors"), &n);
    if (!full) return;
    const char *p = tmp("fuzz.safetensors");
    int accepted = 0;
    for (size_t len = 0; len < n; len++) {
        write_raw(p, full, len);
        st_set s;
        if (st_open_file(&s, p) == 0) {
            accepted++;
            st_close(&s);
        }
    }
    EXPECT(accepted == 0, "%d truncated copies accepted", accepted);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | full[i];
    unsigned char *buf = malloc(n);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int opened = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, full, n);
        int flips = 1 + iter % 4;
        for (int f = 0; f < flips; f++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t at = (size_t)(rng % (hlen + 8));
            buf[at] = (unsigned char)(rng >> 32);
        }
        write_raw(p, buf, n);
        st_set s;
        if (st_open_file(&s, p) == 0) {
            opened++;
            /* whatever was accepted must be self-consistent */
            for (int i = 0; i < s.n_tensors; i++) {
                const st_tensor *t = &s.tensors[i];
                const unsigned char *base = s.maps[0];
                EXPECT((const unsigned char *)t->data >= base &&
                           (const unsigned char *)t->data + t->nbytes <= base + s.map_sizes[0],
                       "fuzz: tensor '%s' outside the mapping", t->name);
            }
            st_close(&s);
        }
    }
    test_checks++; /* reaching here without a crash is the check */
    printf("fuzz: %d of 3000 mutated headers still valid\n", opened);
    free(buf);
    free(full);
}

static void test_cli_ok(void) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' tensors '%s'", test_bin(), test_data_path("io/st/mixed.safetensors"));
    int rc = test_run(cmd, &out);
    EXPECT(rc == 0, "tensors mixed: exit %d\n%s", rc, out);
    EXPECT(strstr(out, "13 tensors in 1 file") && strstr(out, "rank4") && strstr(out, "[1, 2, 3, 4]") &&
               strstr(out, "BOOL") && strstr(out, "metadata format = pt"),
           "listing:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tensors --check-config '%s'", test_bin(),
             test_data_path("io/st/tiny_qwen2_sharded"));
    rc = test_run(cmd, &out);
    EXPECT(rc == 0, "tensors --check-config: exit %d\n%s", rc, out);
    EXPECT(strstr(out, "in 3 files") && strstr(out, "model.embed_tokens.weight") && strstr(out, "model_type: qwen2") &&
               strstr(out, "eos_token_ids: [2, 3]") && strstr(out, "model-00001-of-00003.safetensors"),
           "listing:\n%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tensors --help", test_bin());
    rc = test_run(cmd, &out);
    EXPECT(rc == 0 && strstr(out, "--check-config"), "--help: %d\n%s", rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tensors", test_bin());
    rc = test_run(cmd, &out);
    EXPECT(rc == 2 && strstr(out, "lightreasoner: error:"), "no PATH: %d\n%s", rc, out);
    free(out);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lr_test_st_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_f32();
    test_half_values();
    test_rounding();
    test_mixed();
    test_sharded();
    test_writer();
    test_malformed_files();
    test_malformed_dirs();
    test_fuzz();
    test_cli_ok();
    if (test_failures == 0 && !getenv("LR_KEEP_TMP")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    } else fprintf(stderr, "files kept in %s\n", g_tmp);
    return test_finish("test_safetensors");
}
