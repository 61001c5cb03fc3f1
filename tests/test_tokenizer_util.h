/* Helpers shared by the tokenizer tests: golden-file parsing, mismatch
 * reports, scratch directories. */
#ifndef LR_TEST_TOKENIZER_UTIL_H
#define LR_TEST_TOKENIZER_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t *v;
    size_t n, cap;
} tk_ids;

/* Parses space-separated ids; returns the end of what it read. */
const char *tk_parse_ids(const char *s, tk_ids *out);

/* A golden text field: a JSON string, or "hex:" + hex bytes. Fresh buffer,
 * length in *len; NULL on malformed input. `end` gets the first byte after
 * the field. */
char *tk_parse_text(const char *s, size_t *len, const char **end);

/* Reads a whole golden file (from tests/data/tokenizer) or exits 1. */
char *tk_read_golden(const char *name, size_t *len);

/* The vendored Qwen2 tokenizer directory (data/tokenizers/qwen2). */
const char *tk_qwen2_dir(void);

/* Prints text (escaped, cut at 120 bytes) for mismatch reports. */
void tk_print_text(const char *label, const char *s, size_t n);
void tk_print_ids(const char *label, const int32_t *v, size_t n);
/* Index of the first difference, or -1 when equal. */
long tk_first_diff(const int32_t *a, size_t na, const int32_t *b, size_t nb);

/* A fresh temporary directory (removed by tk_rmtree). */
char *tk_mkdtemp(void);
void tk_rmtree(const char *dir);
int tk_write_file(const char *path, const char *data, size_t n);

#endif
