/* Numbers inside answers: "1,234", "-3.5", ".5", "3/4", "\frac{3}{4}",
 * "18 dollars", "9 (apples)". */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "eval/answer.h"

int answer_numbers_equal(double a, double b) {
    if (!isfinite(a) || !isfinite(b)) return 0;
    if (a == b) return 1;
    return fabs(a - b) <= 1e-4 * fmax(fabs(a), fabs(b));
}

/* Unsigned decimal: digits with optional thousands groups and decimals, or
 * ".digits". Returns bytes consumed, 0 if none. */
static int scan_unsigned(const char *s, double *v) {
    const char *q = s;
    char buf[64];
    size_t n = 0;
    while (isdigit((unsigned char)*q)) {
        if (n < sizeof buf - 1) buf[n++] = *q;
        q++;
    }
    if (q > s)
        /* a comma is a thousands separator only before exactly three digits */
        while (q[0] == ',' && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2]) &&
               isdigit((unsigned char)q[3]) && !isdigit((unsigned char)q[4])) {
            for (int k = 1; k <= 3; k++)
                if (n < sizeof buf - 1) buf[n++] = q[k];
            q += 4;
        }
    if (*q == '.' && isdigit((unsigned char)q[1])) {
        if (n < sizeof buf - 1) buf[n++] = '.';
        q++;
        while (isdigit((unsigned char)*q)) {
            if (n < sizeof buf - 1) buf[n++] = *q;
            q++;
        }
    }
    if (q == s || n == 0 || (n == 1 && buf[0] == '.')) return 0;
    if (n >= sizeof buf - 1) return 0; /* absurdly long digit strings are not answers */
    buf[n] = 0;
    *v = strtod(buf, NULL);
    return (int)(q - s);
}

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* \frac{a}{b} with plain numbers a (signed) and b. */
static int scan_frac(const char *s, double *v) {
    if (strncmp(s, "\\frac{", 6) != 0) return 0;
    const char *p = skip_spaces(s + 6);
    double sign = 1, a, b;
    if (*p == '-') {
        sign = -1;
        p++;
    }
    int n = scan_unsigned(p, &a);
    if (!n) return 0;
    p = skip_spaces(p + n);
    if (*p != '}') return 0;
    p = skip_spaces(p + 1);
    if (*p != '{') return 0;
    p = skip_spaces(p + 1);
    n = scan_unsigned(p, &b);
    if (!n) return 0;
    p = skip_spaces(p + n);
    if (*p != '}' || b == 0) return 0;
    *v = sign * a / b;
    return (int)(p + 1 - s);
}

int answer_scan_number(const char *s, double *value) {
    const char *p = s;
    double sign = 1, a, b;
    if (*p == '-' || *p == '+') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    int n = scan_frac(p, &a);
    if (n) {
        *value = sign * a;
        return (int)(p - s) + n;
    }
    n = scan_unsigned(p, &a);
    if (!n) return 0;
    p += n;
    /* "3/4": a simple fraction, but not "3/0" and not a date "3/4/2020" */
    if (*p == '/' && (n = scan_unsigned(p + 1, &b)) && b != 0 && p[1 + n] != '/') {
        a /= b;
        p += 1 + n;
    }
    *value = sign * a;
    return (int)(p - s);
}

/* Text after a number that reads as a unit: words, parentheses, '.', no
 * digits and no operators. */
static int unit_suffix(const char *r, int allow_short_units) {
    int letters = 0;
    for (const char *p = r; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalpha(c)) letters++;
        else if (c >= 0x80) letters++; /* non-ASCII words ("Äpfel", "€") */
        else if (!strchr(" \t().,'", c)) return 0;
    }
    if (allow_short_units) return 1;
    /* math answers: "2i", "3x", "2pi" are expressions, not units */
    if (letters < 2 || !strcmp(r, "pi")) return 0;
    return 1;
}

int answer_parse_number_strict(const char *s, int allow_short_units, double *value) {
    char *t = answer_normalize_light(s);
    const char *p = t;
    while (isspace((unsigned char)*p)) p++;
    double v;
    int n = answer_scan_number(p, &v);
    int ok = 0;
    if (n) {
        const char *r = p + n;
        while (isspace((unsigned char)*r)) r++;
        /* trailing sentence punctuation */
        size_t len = strlen(r);
        while (len && (r[len - 1] == '.' || isspace((unsigned char)r[len - 1]))) len--;
        char *rest = xmalloc(len + 1);
        memcpy(rest, r, len);
        rest[len] = 0;
        ok = len == 0 || unit_suffix(rest, allow_short_units);
        free(rest);
    }
    free(t);
    if (ok) *value = v;
    return ok;
}

int answer_parse_number_lenient(const char *s, double *value) {
    char *t = answer_normalize_light(s);
    const char *start = t;
    for (const char *p = t; *p; p++) {
        if (*p == '=') start = p + 1;
        else if (!strncmp(p, "\\approx", 7)) start = p + 7;
    }
    int ok = 0;
    for (const char *p = start; *p && !ok; p++) {
        char prev = p > t ? p[-1] : ' ';
        /* a number starts at a token boundary; '-' after an operand is the
         * binary minus ("10-2" reads 10 first anyway) */
        if (isalnum((unsigned char)prev) || prev == '.') continue;
        double v;
        if (answer_scan_number(p, &v)) {
            *value = v;
            ok = 1;
        }
    }
    free(t);
    return ok;
}
