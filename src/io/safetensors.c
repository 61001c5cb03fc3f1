/* safetensors: validated mmap reading (single file or sharded directory),
 * fp16/bf16 conversion, and a writer that reproduces the Python library's
 * bytes exactly.
 *
 * Reading trusts nothing in the file: every header field is type-checked,
 * every byte range is checked against the data area and against the other
 * tensors, and each failure names the file and the tensor. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* The Python/Rust library refuses headers above 100 MB; so do we (a lying
 * length must not make us allocate gigabytes). */
#define ST_MAX_HEADER 100000000ull
/* Integers in the header arrive as JSON numbers (doubles): above 2^53 they
 * are no longer exact, and no real tensor gets near that. */
#define ST_MAX_JSON_INT 9007199254740992.0
#define ST_MAX_BYTES (1ull << 62)

static const char *const dtype_names[ST_N_DTYPES] = {"F32", "F16", "BF16", "F64", "I64",
                                                     "I32", "I16", "I8",   "U8",  "BOOL"};
static const size_t dtype_sizes[ST_N_DTYPES] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

const char *st_dtype_name(st_dtype d) { return (unsigned)d < ST_N_DTYPES ? dtype_names[d] : "?"; }
size_t st_dtype_size(st_dtype d) { return (unsigned)d < ST_N_DTYPES ? dtype_sizes[d] : 0; }

int st_dtype_from_name(const char *name, st_dtype *out) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (strcmp(name, dtype_names[i]) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------ utf-8 */

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), as
 * Rust's str::from_utf8 requires of the header. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else return 0;
        if (n - i < (size_t)len) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (int k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += (size_t)len;
    }
    return 1;
}

/* ------------------------------------------------------------ conversion */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in fp32 */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* inf, or NaN keeping its payload */
        return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t st_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    /* c10::BFloat16's scalar rule: canonical quiet NaN (ATen's vectorised
     * path writes 0xFFFF instead; both are NaN). */
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
    /* round to nearest, ties to even: add 0x7FFF plus the lsb that stays */
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t st_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t x = u & 0x7FFFFFFFu;
    if (x > 0x7F800000u) /* NaN: quiet it, keep the top payload bits (what F16C does) */
        return (uint16_t)(sign | 0x7E00 | ((x >> 13) & 0x3FF));
    if (x >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* >= 65520 rounds to inf */
    uint32_t e = x >> 23, m = x & 0x7FFFFF;
    if (e >= 113) { /* normal half: rebias 127 -> 15, round away 13 bits */
        uint32_t h = ((e - 112) << 10) | (m >> 13), rem = m & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is right */
        return (uint16_t)(sign | h);
    }
    if (e < 102) return sign; /* below 2^-25: rounds to (signed) zero */
    /* subnormal half: the value in units of 2^-24, rounded to even */
    uint32_t full = m | 0x800000, shift = 126 - e; /* 14..24 */
    uint32_t h = full >> shift, rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* ------------------------------------------------------------ the header */

/* A JSON number that is a whole number in [0, 2^53]; -1 otherwise. */
static int json_uint(const cJSON *it, uint64_t *out) {
    if (!cJSON_IsNumber(it)) return -1;
    double v = it->valuedouble;
    if (!isfinite(v) || v < 0 || v > ST_MAX_JSON_INT || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

typedef struct {
    uint64_t begin, end;
    int idx; /* into st_set.tensors */
} st_range;

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* One tensor entry of the header -> t (name set by the caller). */
static int parse_entry(const char *path, const cJSON *e, st_tensor *t, uint64_t data_size, uint64_t *begin_out,
                       uint64_t *end_out) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        lr_error_set(path, "tensor '%s': header entry is not a JSON object", name);
        return -1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dt || !sh || !off) {
        lr_error_set(path, "tensor '%s': header entry lacks \"%s\"", name,
                     !dt ? "dtype" : !sh ? "shape" : "data_offsets");
        return -1;
    }
    if (!cJSON_IsString(dt)) {
        lr_error_set(path, "tensor '%s': dtype is not a string", name);
        return -1;
    }
    if (st_dtype_from_name(dt->valuestring, &t->dtype) != 0) {
        lr_error_set(path, "tensor '%s': unknown or unsupported dtype '%.32s' (supported: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)",
                     name, dt->valuestring);
        return -1;
    }
    if (!cJSON_IsArray(sh)) {
        lr_error_set(path, "tensor '%s': shape is not a list", name);
        return -1;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) {
        lr_error_set(path, "tensor '%s': shape has %d dimensions, at most %d are supported", name, nd, ST_MAX_DIMS);
        return -1;
    }
    t->ndim = nd;
    uint64_t numel = 1;
    int k = 0;
    for (const cJSON *d = sh->child; d; d = d->next, k++) {
        uint64_t v;
        if (json_uint(d, &v) != 0) {
            lr_error_set(path, "tensor '%s': shape entry %d is not a non-negative integer", name, k);
            return -1;
        }
        t->shape[k] = (int64_t)v;
        /* saturate instead of overflowing: the byte check below then fails */
        numel = (v != 0 && numel > ST_MAX_BYTES / v) ? ST_MAX_BYTES : numel * v;
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) {
        lr_error_set(path, "tensor '%s': data_offsets is not a [begin, end] pair", name);
        return -1;
    }
    uint64_t b, en;
    if (json_uint(off->child, &b) != 0 || json_uint(off->child->next, &en) != 0) {
        lr_error_set(path, "tensor '%s': data_offsets are not non-negative integers", name);
        return -1;
    }
    if (b > en) {
        lr_error_set(path, "tensor '%s': data_offsets begin %" PRIu64 " is after end %" PRIu64, name, b, en);
        return -1;
    }
    size_t es = st_dtype_size(t->dtype);
    uint64_t nbytes = numel >= ST_MAX_BYTES / es ? ST_MAX_BYTES : numel * es;
    if (nbytes != en - b) {
        char s[256];
        shape_str(s, sizeof s, t->ndim, t->shape);
        lr_error_set(path, "tensor '%s': shape %s of %s needs %" PRIu64 " bytes but data_offsets [%" PRIu64 ", %" PRIu64
                           "] hold %" PRIu64,
                     name, s, dt->valuestring, nbytes, b, en, en - b);
        return -1;
    }
    if (en > data_size) {
        lr_error_set(path, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] lie outside the %" PRIu64
                           "-byte data area (file truncated or header lying)",
                     name, b, en, data_size);
        return -1;
    }
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    *begin_out = b;
    *end_out = en;
    return 0;
}

static void set_push(st_set *s, int *cap) {
    if (s->n_tensors == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        s->tensors = xrealloc(s->tensors, (size_t)*cap * sizeof *s->tensors);
    }
    memset(&s->tensors[s->n_tensors], 0, sizeof *s->tensors);
    s->n_tensors++;
}

static int parse_metadata(const char *path, const cJSON *m, st_set *s, int keep) {
    if (cJSON_IsNull(m)) return 0;
    if (!cJSON_IsObject(m)) {
        lr_error_set(path, "__metadata__ is not a JSON object");
        return -1;
    }
    int n = cJSON_GetArraySize(m);
    for (const cJSON *it = m->child; it; it = it->next)
        if (!cJSON_IsString(it)) {
            lr_error_set(path, "__metadata__ value for '%s' is not a string", it->string);
            return -1;
        }
    if (!keep || n == 0) return 0;
    s->meta_keys = xcalloc((size_t)n, sizeof(char *));
    s->meta_values = xcalloc((size_t)n, sizeof(char *));
    for (const cJSON *it = m->child; it; it = it->next) {
        s->meta_keys[s->n_meta] = xstrdup(it->string);
        s->meta_values[s->n_meta] = xstrdup(it->valuestring);
        s->n_meta++;
    }
    return 0;
}

/* Maps `path`, validates its header and appends its tensors to s as file
 * `fi`. The mapping is recorded in s before any check so that st_close frees
 * it on failure too. */
static int open_one(st_set *s, const char *path, int fi, int *cap) {
    s->paths[fi] = xstrdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lr_error_set(path, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        lr_error_set(path, "not a regular file");
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        if (size == 0) lr_error_set(path, "file is empty (not a safetensors file)");
        else lr_error_set(path, "file is %" PRIu64 " bytes, too short for the 8-byte header length", size);
        return -1;
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping stays valid */
    if (map == MAP_FAILED) {
        lr_error_set(path, "cannot mmap: %s", strerror(errno));
        return -1;
    }
    s->maps[fi] = map;
    s->map_sizes[fi] = (size_t)size;
    const unsigned char *base = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > ST_MAX_HEADER) {
        lr_error_set(path, "header length %" PRIu64 " exceeds the %llu-byte limit (corrupt or not a safetensors file)",
                     hlen, ST_MAX_HEADER);
        return -1;
    }
    if (hlen > size - 8) {
        lr_error_set(path, "header length %" PRIu64 " runs past the end of the %" PRIu64 "-byte file (truncated?)", hlen,
                     size);
        return -1;
    }
    if (hlen < 2 || base[8] != '{') {
        lr_error_set(path, "header does not start with a JSON object");
        return -1;
    }
    if (!utf8_valid(base + 8, (size_t)hlen)) {
        lr_error_set(path, "header is not valid UTF-8");
        return -1;
    }
    /* A private NUL-terminated copy: cJSON must never read past the header. */
    char *text = xmalloc((size_t)hlen + 1);
    memcpy(text, base + 8, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    int rc = -1;
    if (root) {
        /* the library pads with spaces; anything else after the object is corrupt */
        for (const char *p = end; p < text + hlen; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                cJSON_Delete(root);
                root = NULL;
                break;
            }
    }
    if (!root) {
        lr_error_set(path, "header is not valid JSON (near byte %ld of %" PRIu64 ")", end ? (long)(end - text) : 0L,
                     hlen);
        free(text);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        lr_error_set(path, "header is not a JSON object");
        goto out;
    }
    uint64_t data_size = size - 8 - hlen;
    const unsigned char *data = base + 8 + hlen;
    int n_ranges = 0;
    st_range *ranges = xmalloc(((size_t)cJSON_GetArraySize(root) + 1) * sizeof *ranges);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (parse_metadata(path, e, s, fi == 0) != 0) goto out_ranges;
            continue;
        }
        set_push(s, cap);
        st_tensor *t = &s->tensors[s->n_tensors - 1];
        t->name = xstrdup(e->string);
        t->file_index = fi;
        uint64_t b, en;
        if (parse_entry(path, e, t, data_size, &b, &en) != 0) goto out_ranges;
        t->data = data + b;
        if (en > b) ranges[n_ranges++] = (st_range){b, en, s->n_tensors - 1};
    }
    /* Overlap: after sorting by start, each range must begin at or after the
     * furthest end seen so far. Empty tensors occupy nothing. */
    qsort(ranges, (size_t)n_ranges, sizeof *ranges, cmp_range);
    int far = -1; /* the range reaching furthest so far */
    for (int i = 0; i < n_ranges; i++) {
        if (far >= 0 && ranges[i].begin < ranges[far].end) {
            const st_range *a = &ranges[far], *b = &ranges[i];
            lr_error_set(path, "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64
                               ") overlap in the data area",
                         s->tensors[a->idx].name, a->begin, a->end, s->tensors[b->idx].name, b->begin, b->end);
            goto out_ranges;
        }
        if (far < 0 || ranges[i].end > ranges[far].end) far = i;
    }
    rc = 0;
out_ranges:
    free(ranges);
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Sorts by name and refuses duplicates (within a header, or across shards). */
static int finish_set(st_set *s) {
    if (s->n_tensors > 1) qsort(s->tensors, (size_t)s->n_tensors, sizeof *s->tensors, cmp_tensor_name);
    for (int i = 1; i < s->n_tensors; i++) {
        const st_tensor *a = &s->tensors[i - 1], *b = &s->tensors[i];
        if (strcmp(a->name, b->name) != 0) continue;
        if (a->file_index == b->file_index)
            lr_error_set(s->paths[a->file_index], "tensor '%s' appears twice in the header", a->name);
        else
            lr_error_set(s->paths[b->file_index], "tensor '%s' is also stored in %s", a->name, s->paths[a->file_index]);
        return -1;
    }
    return 0;
}

static void set_alloc_files(st_set *s, int n) {
    s->n_files = n;
    s->paths = xcalloc((size_t)n, sizeof *s->paths);
    s->maps = xcalloc((size_t)n, sizeof *s->maps);
    s->map_sizes = xcalloc((size_t)n, sizeof *s->map_sizes);
}

int st_open_file(st_set *s, const char *path) {
    memset(s, 0, sizeof *s);
    set_alloc_files(s, 1);
    int cap = 0;
    if (open_one(s, path, 0, &cap) != 0 || finish_set(s) != 0) {
        st_close(s);
        return -1;
    }
    return 0;
}

/* A weight_map file name must stay inside the model directory. */
static int shard_name_ok(const char *f) {
    if (!*f || f[0] == '/') return 0;
    for (const char *p = f; *p;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
        if (!q) break;
        p = q + 1;
    }
    return 1;
}

static int open_sharded(st_set *s, const char *dir, const char *index_path) {
    size_t len;
    char *text = lr_read_file(index_path, 64u << 20, &len);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    const char **shard_names = NULL;
    if (!root) {
        lr_error_set(index_path, "not valid JSON");
        return -1;
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !wm) {
        lr_error_set(index_path, "no \"weight_map\" object");
        goto out;
    }
    if (!cJSON_IsObject(wm) || !wm->child) {
        lr_error_set(index_path, "\"weight_map\" is not a non-empty object of tensor name -> shard file");
        goto out;
    }
    /* distinct shard files in order of first mention */
    int n_wm = cJSON_GetArraySize(wm), n_sh = 0;
    shard_names = xcalloc((size_t)n_wm, sizeof *shard_names);
    for (const cJSON *it = wm->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !shard_name_ok(it->valuestring)) {
            lr_error_set(index_path, "weight_map entry for '%s' is not a file name inside the model directory", it->string);
            goto out;
        }
        int k = 0;
        while (k < n_sh && strcmp(shard_names[k], it->valuestring) != 0) k++;
        if (k == n_sh) shard_names[n_sh++] = it->valuestring;
    }
    set_alloc_files(s, n_sh);
    int cap = 0;
    for (int k = 0; k < n_sh; k++) {
        char *p = lr_path_join(dir, shard_names[k]);
        if (!lr_file_exists(p)) {
            lr_error_set(index_path, "shard '%s' named in weight_map is missing (%s)", shard_names[k], p);
            s->paths[k] = p;
            goto out;
        }
        int r = open_one(s, p, k, &cap);
        free(p);
        if (r != 0) goto out;
    }
    if (finish_set(s) != 0) goto out;
    /* every mapped tensor must be where the index says */
    for (const cJSON *it = wm->child; it; it = it->next) {
        const st_tensor *t = st_find(s, it->string);
        int k = 0;
        while (strcmp(shard_names[k], it->valuestring) != 0) k++;
        if (!t || t->file_index != k) {
            lr_error_set(index_path, "tensor '%s' is mapped to shard '%s' but that shard does not contain it", it->string,
                         it->valuestring);
            goto out;
        }
    }
    rc = 0;
out:
    free(shard_names);
    cJSON_Delete(root);
    return rc;
}

int st_open_dir(st_set *s, const char *dir) {
    memset(s, 0, sizeof *s);
    if (!lr_is_dir(dir)) {
        lr_error_set(dir, "not a directory");
        return -1;
    }
    char *index = lr_path_join(dir, "model.safetensors.index.json");
    int rc;
    if (lr_file_exists(index)) {
        rc = open_sharded(s, dir, index);
        if (rc != 0) st_close(s);
    } else {
        char *single = lr_path_join(dir, "model.safetensors");
        if (lr_file_exists(single)) rc = st_open_file(s, single);
        else {
            lr_error_set(dir, "no model.safetensors or model.safetensors.index.json");
            rc = -1;
        }
        free(single);
    }
    free(index);
    return rc;
}

void st_close(st_set *s) {
    for (int i = 0; i < s->n_files; i++) {
        if (s->maps && s->maps[i]) munmap(s->maps[i], s->map_sizes[i]);
        if (s->paths) free(s->paths[i]);
    }
    for (int i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    for (int i = 0; i < s->n_meta; i++) {
        free(s->meta_keys[i]);
        free(s->meta_values[i]);
    }
    free(s->paths);
    free(s->maps);
    free(s->map_sizes);
    free(s->tensors);
    free(s->meta_keys);
    free(s->meta_values);
    memset(s, 0, sizeof *s);
}

const st_tensor *st_find(const st_set *s, const char *name) {
    int lo = 0, hi = s->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(s->tensors[mid].name, name);
        if (c == 0) return &s->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* ---------------------------------------------------------- fp32 access */

int st_to_f32(const st_tensor *t, float *dst) {
    const unsigned char *src = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, src, (size_t)n * 4); return 0;
    case ST_BF16:
#pragma omp parallel for if (n > (1 << 20)) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2); /* the mapping need not be 2-aligned */
            dst[i] = st_bf16_to_f32(h);
        }
        return 0;
    case ST_F16:
#pragma omp parallel for if (n > (1 << 20)) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = st_f16_to_f32(h);
        }
        return 0;
    case ST_F64:
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        lr_error_set(NULL, "tensor '%s' has dtype %s, not a floating-point type", t->name, st_dtype_name(t->dtype));
        return -1;
    }
}

/* Exponent all ones: NaN when the mantissa is nonzero, else an infinity. */
#define ST_CLASSIFY(bits, emask, mmask)                                        \
    do {                                                                       \
        if (((bits) & (emask)) == (emask)) {                                   \
            if ((bits) & (mmask)) nan_n++;                                     \
            else inf_n++;                                                      \
        }                                                                      \
    } while (0)

int st_count_nonfinite(const st_tensor *t, uint64_t *n_nan, uint64_t *n_inf) {
    const unsigned char *src = t->data;
    const int64_t n = t->numel;
    uint64_t nan_n = 0, inf_n = 0;
    switch (t->dtype) {
    case ST_F32:
#pragma omp parallel for if (n > (1 << 20)) schedule(static) reduction(+ : nan_n, inf_n)
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, src + 4 * i, 4);
            ST_CLASSIFY(u, 0x7F800000u, 0x007FFFFFu);
        }
        break;
    case ST_BF16:
    case ST_F16: {
        const uint16_t em = t->dtype == ST_BF16 ? 0x7F80u : 0x7C00u, mm = t->dtype == ST_BF16 ? 0x007Fu : 0x03FFu;
#pragma omp parallel for if (n > (1 << 20)) schedule(static) reduction(+ : nan_n, inf_n)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            ST_CLASSIFY(h, em, mm);
        }
        break;
    }
    case ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u;
            memcpy(&u, src + 8 * i, 8);
            ST_CLASSIFY(u, 0x7FF0000000000000ull, 0x000FFFFFFFFFFFFFull);
        }
        break;
    default:
        *n_nan = *n_inf = 0;
        return -1;
    }
    *n_nan = nan_n, *n_inf = inf_n;
    return 0;
}
#undef ST_CLASSIFY

/* Where to point a user for set-level problems: the file, or the model
 * directory for a sharded set. */
static void set_where(const st_set *s, char *buf, size_t cap) {
    if (s->n_files == 0) snprintf(buf, cap, "safetensors");
    else if (s->n_files == 1) snprintf(buf, cap, "%s", s->paths[0]);
    else {
        const char *p = s->paths[0], *slash = strrchr(p, '/');
        if (slash) snprintf(buf, cap, "%.*s", (int)(slash - p), p);
        else snprintf(buf, cap, ".");
    }
}

float *st_load_f32(const st_set *s, const char *name, int ndim, const int64_t *shape) {
    const st_tensor *t = st_find(s, name);
    if (!t) {
        char w[4096];
        set_where(s, w, sizeof w);
        lr_error_set(w, "missing tensor '%s'", name);
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[256], want[256];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        lr_error_set(s->paths[t->file_index], "tensor '%s' has shape %s, expected %s", name, got, want);
        return NULL;
    }
    float *out = xmalloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
    if (st_to_f32(t, out) != 0) {
        lr_error_set(s->paths[t->file_index], "tensor '%s' has dtype %s, not a floating-point type", name,
                     st_dtype_name(t->dtype));
        free(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------- writer */

/* The Rust library orders tensors by its Dtype enum, descending, then by
 * name; for the dtypes we write that enum order is
 * BOOL < U8 < I8 < I16 < F16 < BF16 < I32 < F32 < F64 < I64
 * (verified against safetensors 0.8 output, see the writer golden test). */
static int dtype_rank(st_dtype d) {
    static const int rank[ST_N_DTYPES] = {
        [ST_BOOL] = 0, [ST_U8] = 1,  [ST_I8] = 2,  [ST_I16] = 3, [ST_F16] = 4,
        [ST_BF16] = 5, [ST_I32] = 6, [ST_F32] = 7, [ST_F64] = 8, [ST_I64] = 9,
    };
    return rank[d];
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 1024;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string the way serde_json writes it: the short escapes for
 * " \ \b \f \n \r \t, \u00xx (lower-case hex) for the other control
 * characters, everything else (DEL, non-ASCII) raw. */
static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", *p);
                sb_put(b, e, 6);
            } else sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Sort keys carry what they compare, so no global context is needed
 * (qsort has no context argument in C11) and writers may run in threads. */
typedef struct {
    int rank; /* dtype_rank, or 0 for metadata */
    const char *name;
    int idx;
} sort_key;

static int cmp_sort_key(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->rank != y->rank) return y->rank - x->rank;
    return strcmp(x->name, y->name); /* byte order, like Rust's String ordering */
}

static int write_check(const char *path, const st_write_tensor *t, int n, const char *const *mk,
                       const char *const *mv, int n_meta, uint64_t *sizes) {
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !utf8_valid((const unsigned char *)t[i].name, strlen(t[i].name))) {
            lr_error_set(path, "tensor %d: name is missing or not valid UTF-8", i);
            return -1;
        }
        if (strcmp(t[i].name, "__metadata__") == 0) {
            lr_error_set(path, "'__metadata__' cannot be a tensor name");
            return -1;
        }
        if ((unsigned)t[i].dtype >= ST_N_DTYPES || t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS) {
            lr_error_set(path, "tensor '%s': bad dtype or number of dimensions", t[i].name);
            return -1;
        }
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || (t[i].shape[d] && numel > ST_MAX_BYTES / (uint64_t)t[i].shape[d])) {
                lr_error_set(path, "tensor '%s': bad shape", t[i].name);
                return -1;
            }
            numel *= (uint64_t)t[i].shape[d];
        }
        sizes[i] = numel * st_dtype_size(t[i].dtype);
        if (sizes[i] && !t[i].data) {
            lr_error_set(path, "tensor '%s': no data", t[i].name);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0) {
                lr_error_set(path, "tensor '%s' given twice", t[i].name);
                return -1;
            }
    }
    for (int i = 0; i < n_meta; i++) {
        if (!mk[i] || !mv[i] || !utf8_valid((const unsigned char *)mk[i], strlen(mk[i])) ||
            !utf8_valid((const unsigned char *)mv[i], strlen(mv[i]))) {
            lr_error_set(path, "metadata entry %d is missing or not valid UTF-8", i);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(mk[i], mk[j]) == 0) {
                lr_error_set(path, "metadata key '%s' given twice", mk[i]);
                return -1;
            }
    }
    return 0;
}

int st_write_file(const char *path, const st_write_tensor *tensors, int n, const char *const *meta_keys,
                  const char *const *meta_values, int n_meta) {
    if (!meta_keys || !meta_values) n_meta = 0;
    uint64_t *sizes = xcalloc((size_t)n + 1, sizeof *sizes);
    if (write_check(path, tensors, n, meta_keys, meta_values, n_meta, sizes) != 0) {
        free(sizes);
        return -1;
    }
    sort_key *order = xmalloc(((size_t)n + 1) * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = (sort_key){dtype_rank(tensors[i].dtype), tensors[i].name, i};
    qsort(order, (size_t)n, sizeof *order, cmp_sort_key);
    /* The library's metadata is a hash map, so with more than one key its
     * order varies run to run; sorted keys make ours deterministic. */
    sort_key *morder = xmalloc(((size_t)n_meta + 1) * sizeof *morder);
    for (int i = 0; i < n_meta; i++) morder[i] = (sort_key){0, meta_keys[i], i};
    qsort(morder, (size_t)n_meta, sizeof *morder, cmp_sort_key);

    /* Header: compact JSON, __metadata__ first, then tensors in write order,
     * padded with spaces to a multiple of 8 bytes. */
    sbuf h = {0};
    sb_str(&h, "{");
    if (n_meta > 0) {
        sb_str(&h, "\"__metadata__\":{");
        for (int k = 0; k < n_meta; k++) {
            if (k) sb_str(&h, ",");
            sb_json_str(&h, meta_keys[morder[k].idx]);
            sb_str(&h, ":");
            sb_json_str(&h, meta_values[morder[k].idx]);
        }
        sb_str(&h, "}");
        if (n > 0) sb_str(&h, ",");
    }
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        const st_write_tensor *t = &tensors[order[k].idx];
        char num[64];
        if (k) sb_str(&h, ",");
        sb_json_str(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, st_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            sb_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + sizes[order[k].idx]);
        sb_str(&h, num);
        off += sizes[order[k].idx];
    }
    sb_str(&h, "}");
    while (h.n % 8) sb_str(&h, " ");

    int rc = -1;
    lr_atomic_file af;
    if (lr_atomic_open(&af, path) == 0) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
        int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(h.p, 1, h.n, af.f) == h.n;
        for (int k = 0; ok && k < n; k++) {
            size_t nb = (size_t)sizes[order[k].idx];
            if (nb) ok = fwrite(tensors[order[k].idx].data, 1, nb, af.f) == nb;
        }
        if (!ok) {
            lr_error_set(path, "write error: %s", strerror(errno));
            lr_atomic_abort(&af);
        } else rc = lr_atomic_commit(&af);
    }
    free(h.p);
    free(order);
    free(morder);
    free(sizes);
    return rc;
}
