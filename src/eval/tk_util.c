/* Python-compatible small pieces the toolkit port relies on: float(),
 * repr(float), \w, UTF-8 stepping, str.replace. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "eval/toolkit.h"

unsigned tk_utf8_cp(const char *s, int *len) {
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) {
        *len = 1;
        return c;
    }
    unsigned cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k <= n; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    *len = n + 1;
    return cp;
}

/* Python's str.isalnum() for the scripts answers use: ASCII, Latin-1 and
 * Latin Extended letters, Greek, Cyrillic, superscript/fraction digits,
 * CJK, kana, Hangul, fullwidth forms. */
int tk_is_word_cp(unsigned cp) {
    if (cp < 0x80) return isalnum((int)cp) || cp == '_';
    if (cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA) return 1;
    if (cp >= 0xBC && cp <= 0xBE) return 1;
    if (cp >= 0xC0 && cp <= 0x24F) return cp != 0xD7 && cp != 0xF7;
    if (cp >= 0x370 && cp <= 0x3FF) return cp != 0x37E && cp != 0x387 && cp != 0x375 && cp != 0x3F6;
    if (cp >= 0x400 && cp <= 0x52F) return cp < 0x482 || cp > 0x489;
    if (cp >= 0x2070 && cp <= 0x2079) return cp != 0x2072 && cp != 0x2073;
    if (cp >= 0x2080 && cp <= 0x2089) return 1;
    if (cp >= 0x2150 && cp <= 0x2189) return 1; /* number forms */
    if (cp >= 0x2460 && cp <= 0x249B) return 1; /* circled digits */
    if (cp >= 0x3040 && cp <= 0x30FF) return cp != 0x30FB && cp != 0x30A0;
    if (cp >= 0x3400 && cp <= 0x9FFF) return 1;
    if (cp >= 0xAC00 && cp <= 0xD7A3) return 1;
    if (cp >= 0xFF10 && cp <= 0xFF19) return 1;
    if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A)) return 1;
    if (cp >= 0x1D400 && cp <= 0x1D7FF) return 1; /* mathematical alphanumerics */
    return 0;
}

char *tk_replace(const char *s, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(s, from); p && fl; p = strstr(p + fl, from)) n++;
    size_t sl = strlen(s);
    char *out = xmalloc(sl + n * (tl > fl ? tl - fl : 0) + 1), *w = out;
    const char *p = s;
    for (const char *q; fl && (q = strstr(p, from)); p = q + fl) {
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, to, tl);
        w += tl;
    }
    strcpy(w, p);
    return out;
}

static int is_py_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f); }

int tk_py_float(const char *s, double *v) {
    while (is_py_space((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && is_py_space((unsigned char)s[n - 1])) n--;
    if (n == 0 || n > 400) return 0;
    char buf[512];
    size_t w = 0, i = 0;
    if (s[i] == '+' || s[i] == '-') buf[w++] = s[i++];
    /* inf / infinity / nan */
    const char *words[] = {"inf", "infinity", "nan"};
    for (int k = 0; k < 3; k++)
        if (n - i == strlen(words[k]) && !strncasecmp(s + i, words[k], n - i)) {
            *v = k == 2 ? NAN : (buf[0] == '-' ? -INFINITY : INFINITY);
            return 1;
        }
    int digits = 0, state = 0; /* 0 mantissa int, 1 fraction, 2 exponent */
    int exp_digits = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (isdigit((unsigned char)c)) {
            buf[w++] = c;
            if (state < 2) digits++;
            else exp_digits++;
        } else if (c == '_') {
            /* only between two digits */
            if (i == 0 || i + 1 >= n || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
                return 0;
        } else if (c == '.' && state == 0) {
            buf[w++] = c;
            state = 1;
        } else if ((c == 'e' || c == 'E') && state < 2 && digits) {
            buf[w++] = c;
            state = 2;
            if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-')) buf[w++] = s[++i];
        } else return 0;
    }
    if (!digits || (state == 2 && !exp_digits)) return 0;
    buf[w] = 0;
    *v = strtod(buf, NULL);
    return 1;
}

/* repr(float): the shortest digits that round-trip, fixed notation when
 * the decimal exponent is in [-4, 16), else d.ddde+XX. */
void tk_float_repr(double v, char *buf) {
    if (isnan(v)) {
        strcpy(buf, "nan");
        return;
    }
    if (isinf(v)) {
        strcpy(buf, v < 0 ? "-inf" : "inf");
        return;
    }
    char e[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = "-d.dddde+XX" */
    const char *p = e;
    int neg = *p == '-';
    if (neg) p++;
    char dig[32];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p)) dig[nd++] = *p;
    int ex = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    char *w = buf;
    if (neg) *w++ = '-';
    int decpt = ex + 1; /* digits before the point */
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            w += sprintf(w, "0.");
            for (int k = 0; k < -decpt; k++) *w++ = '0';
            w += sprintf(w, "%s", dig);
        } else {
            for (int k = 0; k < decpt; k++) *w++ = k < nd ? dig[k] : '0';
            *w++ = '.';
            if (nd > decpt) w += sprintf(w, "%s", dig + decpt);
            else *w++ = '0';
        }
        *w = 0;
    } else {
        *w++ = dig[0];
        if (nd > 1) {
            *w++ = '.';
            w += sprintf(w, "%s", dig + 1);
        }
        sprintf(w, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
}
