/* UTF-8 helpers with the error handling HF's pipeline implies.
 *
 * Invalid input is replaced, not rejected: one U+FFFD per "maximal subpart
 * of an ill-formed subsequence" (Unicode §3.9, U+FFFD substitution of maximal
 * subparts). That is what both Python's bytes.decode('utf-8', 'replace')
 * and Rust's String::from_utf8_lossy do, so it is HF's behaviour on the way
 * in (a Python str made from the bytes) and on the way out (the ByteLevel
 * decoder) alike. */
#ifndef LR_TOK_UTF8_H
#define LR_TOK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point at s[0..n). Returns its length (1-4) when the
 * sequence is well formed; otherwise -k, where k >= 1 is the length of the
 * maximal subpart to replace by one U+FFFD. n must be >= 1. */
int lr_tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Appends the UTF-8 form of cp (<= 0x10FFFF, not a surrogate) to out;
 * returns the number of bytes written (1-4). */
int lr_tok_utf8_put(uint32_t cp, char *out);

/* 1 when s[0..n) is well-formed UTF-8. */
int lr_tok_utf8_valid(const char *s, size_t n);

/* A fresh NUL-terminated copy of s[0..n) with every maximal ill-formed
 * subpart replaced by U+FFFD; *out_len gets its length. */
char *lr_tok_utf8_lossy(const char *s, size_t n, size_t *out_len);

#endif
