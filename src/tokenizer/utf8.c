#include "tokenizer/utf8.h"

#include <string.h>

#include "common/check.h"

int lr_tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    /* The allowed range of the second byte depends on the lead byte
     * (Unicode Table 3-7); later bytes are always 80..BF. */
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (b >= 0xC2 && b <= 0xDF) len = 2, v = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, v = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, v = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else return -1; /* 80..C1, F5..FF never start a sequence */
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -i;
        unsigned c = s[i];
        if (c < lo || c > hi) return -i;
        lo = 0x80, hi = 0xBF;
        v = (v << 6) | (c & 0x3F);
    }
    *cp = v;
    return len;
}

int lr_tok_utf8_put(uint32_t cp, char *o) {
    unsigned char *u = (unsigned char *)o;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | cp >> 18);
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int lr_tok_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = lr_tok_utf8_next(u + i, n - i, &cp);
        if (k < 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

char *lr_tok_utf8_lossy(const char *s, size_t n, size_t *out_len) {
    /* Each replaced byte grows to at most 3 bytes. */
    char *out = xmalloc(3 * n + 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int k = lr_tok_utf8_next(u + i, n - i, &cp);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            o += (size_t)lr_tok_utf8_put(0xFFFD, out + o);
            i += (size_t)-k;
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}
