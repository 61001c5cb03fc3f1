/* Unicode data the tokenizer needs, generated from Hugging Face `tokenizers`
 * by gen_unicode_tables.py (see there for why not from a Unicode database). */
#ifndef LR_UNICODE_TABLES_H
#define LR_UNICODE_TABLES_H

#include <stdint.h>

typedef struct { uint32_t lo, hi; } lr_uc_range;            /* inclusive */
typedef struct { uint32_t cp; uint8_t ccc; } lr_uc_ccc;      /* nonzero classes */
typedef struct { uint32_t cp; uint16_t off, len; } lr_uc_decomp; /* into the pool */
typedef struct { uint32_t first, second, composite; } lr_uc_comp;

/* What HF's regex engine (Oniguruma) calls \p{L}, \p{N} and \s. Sorted. */
extern const lr_uc_range lr_uc_letter[], lr_uc_number[], lr_uc_space[];
extern const int lr_uc_letter_n, lr_uc_number_n, lr_uc_space_n;

/* Canonical combining classes, full canonical decompositions (Hangul
 * excluded: algorithmic) and primary compositions as HF's NFC knows them.
 * Sorted by code point (compositions by first, then second). */
extern const lr_uc_ccc lr_uc_ccc_table[];
extern const int lr_uc_ccc_table_n;
extern const uint32_t lr_uc_decomp_pool[];
extern const lr_uc_decomp lr_uc_decomp_table[];
extern const int lr_uc_decomp_table_n;
extern const lr_uc_comp lr_uc_comp_table[];
extern const int lr_uc_comp_table_n;

#endif
