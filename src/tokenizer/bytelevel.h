/* The GPT-2 byte-level alphabet: every byte gets a printable code point
 * (printable Latin-1 bytes map to themselves, the other 68 to U+0100..),
 * so vocabulary strings such as "Ġthe" stand for the bytes " the". */
#ifndef LR_TOK_BYTELEVEL_H
#define LR_TOK_BYTELEVEL_H

#include <stddef.h>
#include <stdint.h>

/* The code point standing for byte b. */
uint32_t lr_bytelevel_char(unsigned char b);
/* The byte a code point stands for, or -1 when it is not in the alphabet. */
int lr_bytelevel_byte(uint32_t cp);
/* Maps bytes to their byte-level UTF-8 string (at most 2 bytes each) in out;
 * returns the length. */
size_t lr_bytelevel_encode(const char *bytes, size_t n, char *out);
/* Inverse of the above: 0 and the bytes in out (at most strlen(s) of them)
 * when every character of s[0..n) is in the alphabet, else -1. */
int lr_bytelevel_decode(const char *s, size_t n, char *out, size_t *out_len);

#endif
