/* safetensors files: mmap'd reading (single file or sharded model
 * directories) with full validation, and a writer byte-compatible with the
 * `safetensors` Python library.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the data area; offsets are relative to the data area. */
#ifndef LR_SAFETENSORS_H
#define LR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_F32 = 0,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_N_DTYPES
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping; little-endian, unaligned possible */
    size_t nbytes;
    int file_index;   /* which shard */
} st_tensor;

typedef struct {
    int n_files;
    char **paths;      /* (n_files) */
    void **maps;       /* (n_files) mmap bases */
    size_t *map_sizes; /* (n_files) */
    int n_tensors;
    st_tensor *tensors; /* (n_tensors) sorted by name */
    int n_meta;
    char **meta_keys, **meta_values; /* __metadata__ of the first file */
} st_set;

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);
/* "F32" -> ST_F32 etc.; -1 for names this reader does not support. */
int st_dtype_from_name(const char *name, st_dtype *out);

/* Opens one .safetensors file. 0 on success; else -1 with lr_error set
 * naming the file and the problem. */
int st_open_file(st_set *s, const char *path);
/* Opens a model directory: model.safetensors.index.json (all shards, the
 * weight_map checked against the shards' contents) or model.safetensors. */
int st_open_dir(st_set *s, const char *dir);
void st_close(st_set *s);

/* Binary search by name; NULL when absent. */
const st_tensor *st_find(const st_set *s, const char *name);

/* Converts any float dtype (F32/F16/BF16/F64) to fp32 into dst (numel
 * floats). -1 with lr_error set for non-float dtypes. */
int st_to_f32(const st_tensor *t, float *dst);

/* NaN and infinity counts of a float tensor, read in its own dtype (F64
 * values that would overflow fp32 are not counted here). -1 (counts 0) for
 * non-float dtypes. */
int st_count_nonfinite(const st_tensor *t, uint64_t *n_nan, uint64_t *n_inf);

/* Looks up `name`, checks its shape equals `shape[0..ndim)` and converts to
 * a fresh fp32 array. NULL with lr_error ("<file>: tensor 'x' has shape
 * [..], expected [..]" / "missing tensor 'x'") on failure. */
float *st_load_f32(const st_set *s, const char *name, int ndim, const int64_t *shape);

/* fp16/bf16 <-> fp32, round-to-nearest-even like PyTorch. */
float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);
uint16_t st_f32_to_f16(float f);

/* ---- writing */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* nbytes = numel * dtype size, already in `dtype` */
} st_write_tensor;

/* Writes a .safetensors file the way the Python library does (tensors
 * sorted by dtype alignment then name, header padded with spaces to a
 * multiple of 8, "__metadata__" first when present), atomically (temporary
 * file + rename). meta_keys/values may be NULL. 0 ok, else lr_error set. */
int st_write_file(const char *path, const st_write_tensor *tensors, int n, const char *const *meta_keys,
                  const char *const *meta_values, int n_meta);

#endif
