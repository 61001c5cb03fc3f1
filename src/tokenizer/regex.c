#include "tokenizer/regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "tokenizer/unicode_tables.h"

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void put_range(sbuf *b, uint32_t lo, uint32_t hi) {
    char tmp[40];
    int k = lo == hi ? snprintf(tmp, sizeof tmp, "\\x{%X}", lo) : snprintf(tmp, sizeof tmp, "\\x{%X}-\\x{%X}", lo, hi);
    put(b, tmp, (size_t)k);
}

/* Class members for a range set or its complement; surrogates are left out
 * because PCRE2 in UTF mode rejects them as class members. */
static void put_range_no_surrogates(sbuf *b, uint32_t lo, uint32_t hi) {
    if (lo < 0xD800 && hi >= 0xD800) put_range(b, lo, 0xD7FF);
    if (hi > 0xDFFF && lo <= 0xDFFF) put_range(b, 0xE000, hi);
    if (hi < 0xD800 || lo > 0xDFFF) put_range(b, lo, hi);
}

static void put_set(sbuf *b, const lr_uc_range *r, int n, int negate) {
    if (!negate) {
        for (int i = 0; i < n; i++) put_range_no_surrogates(b, r[i].lo, r[i].hi);
        return;
    }
    uint32_t next = 0;
    for (int i = 0; i <= n; i++) {
        uint32_t lo = i < n ? r[i].lo : 0x110000;
        if (next < lo) put_range_no_surrogates(b, next, lo - 1);
        if (i < n) next = r[i].hi + 1;
    }
}

/* Recognizes the escapes that need rewriting at p (just after '\').
 * Returns how many pattern bytes they use (0 = not ours). */
static size_t special_escape(const char *p, const lr_uc_range **set, int *n, int *negate, const char **literal) {
    *literal = NULL;
    *negate = 0;
    if (p[0] == 's' || p[0] == 'S') {
        *set = lr_uc_space, *n = lr_uc_space_n, *negate = p[0] == 'S';
        return 1;
    }
    if (p[0] == 'h' || p[0] == 'H') {
        *literal = p[0] == 'h' ? "0-9a-fA-F" : "\\x{0}-/:-@G-`g-\\x{D7FF}\\x{E000}-\\x{10FFFF}";
        return 1;
    }
    if ((p[0] == 'p' || p[0] == 'P') && p[1] == '{') {
        int neg = p[0] == 'P';
        const char *q = p + 2;
        if (*q == '^') neg = !neg, q++;
        if (q[0] && q[1] == '}' && (q[0] == 'L' || q[0] == 'N')) {
            *set = q[0] == 'L' ? lr_uc_letter : lr_uc_number;
            *n = q[0] == 'L' ? lr_uc_letter_n : lr_uc_number_n;
            *negate = neg;
            return (size_t)(q + 2 - p);
        }
    }
    return 0;
}

char *lr_tok_regex_translate(const char *pat, const char *where) {
    sbuf b = {0};
    put(&b, "", 0);
    int in_class = 0;
    for (const char *p = pat; *p;) {
        if (*p == '\\') {
            if (!p[1]) {
                free(b.s);
                lr_error_set(where, "pre-tokenizer regex ends with a lone backslash");
                return NULL;
            }
            const lr_uc_range *set = NULL;
            int n = 0, negate = 0;
            const char *literal;
            size_t used = special_escape(p + 1, &set, &n, &negate, &literal);
            if (used) {
                if (!in_class) put(&b, "[", 1);
                if (literal) put(&b, literal, strlen(literal));
                else put_set(&b, set, n, negate);
                if (!in_class) put(&b, "]", 1);
                p += 1 + used;
                continue;
            }
            /* Any other escape is copied as is (with its first operand byte,
             * so "\[" never opens a class). */
            put(&b, p, 2);
            p += 2;
            continue;
        }
        if (!in_class && *p == '[') {
            in_class = 1;
            put(&b, p++, 1);
            if (*p == '^') put(&b, p++, 1);
            if (*p == ']') put(&b, p++, 1); /* a leading ']' is literal */
            continue;
        }
        if (in_class) {
            if (*p == ']') in_class = 0;
            else if ((*p == '[' && p[1] != ':') || (*p == '&' && p[1] == '&')) {
                free(b.s);
                lr_error_set(where, "pre-tokenizer regex uses a nested class or class intersection, which is not supported: %s", pat);
                return NULL;
            } else if (*p == '[') { /* POSIX class [:name:] copied whole */
                const char *e = strstr(p, ":]");
                size_t k = e ? (size_t)(e + 2 - p) : 1;
                put(&b, p, k);
                p += k;
                continue;
            }
        }
        put(&b, p++, 1);
    }
    if (in_class) {
        free(b.s);
        lr_error_set(where, "pre-tokenizer regex has an unterminated character class: %s", pat);
        return NULL;
    }
    return b.s;
}

pcre2_code *lr_tok_regex_compile(const char *pattern, int literal, const char *where) {
    char *tr = literal ? xstrdup(pattern) : lr_tok_regex_translate(pattern, where);
    if (!tr) return NULL;
    int err;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP); /* LITERAL refuses UCP */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, opts, &err, &eoff, NULL);
    free(tr);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        lr_error_set(where, "cannot compile pre-tokenizer regex '%s': %s", pattern, (const char *)msg);
        return NULL;
    }
    /* JIT is an optimisation only: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}
