/* Hugging Face's pre-tokenizer regexes are Oniguruma patterns; we run them
 * with PCRE2 (UTF + UCP + JIT). The syntax used by tokenizer files is common
 * to both, but a few classes mean different things, so patterns are first
 * rewritten:
 *   \p{L} \P{L} \p{N} \P{N} \s \S -> explicit code point classes holding
 *       exactly what HF's Oniguruma matches (PCRE2 10.42 has older Unicode
 *       tables and counts U+180E as whitespace);
 *   \h \H -> hexadecimal digit classes (Oniguruma's meaning; PCRE2's \h is
 *       horizontal space).
 * Nested classes and class intersections (Oniguruma-only) are refused. */
#ifndef LR_TOK_REGEX_H
#define LR_TOK_REGEX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

/* The PCRE2 form of an Oniguruma pattern (fresh string), or NULL with
 * lr_error set (`where` names the file). */
char *lr_tok_regex_translate(const char *pattern, const char *where);

/* Translates and compiles (with JIT when available). literal: the pattern is
 * a plain string, not a regex. NULL + lr_error on failure. */
pcre2_code *lr_tok_regex_compile(const char *pattern, int literal, const char *where);

#endif
