/* Unicode NFC normalization, as Hugging Face's `NFC` normalizer does it
 * (same Unicode data: see unicode_tables.h). */
#ifndef LR_TOK_NFC_H
#define LR_TOK_NFC_H

#include <stddef.h>

/* s[0..n) must be well-formed UTF-8. Returns NULL when s is already in NFC
 * (the common case, detected cheaply), else a fresh NUL-terminated NFC
 * string with its length in *out_len. */
char *lr_nfc(const char *s, size_t n, size_t *out_len);

#endif
