/* Normalisation of answers before comparison: the LaTeX spellings models and
 * data sets use for the same answer ("\dfrac12", "\frac{1}{2}", "90^\circ",
 * "\text{ cm}", "10,\!080") are mapped to one form. */
#include <ctype.h>
#include <string.h>

#include "common/check.h"
#include "eval/answer.h"

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_putc(sbuf *b, char c) { sb_putn(b, &c, 1); }

static int starts(const char *p, const char *lit) { return strncmp(p, lit, strlen(lit)) == 0; }

/* A control word "\name" matches only when not followed by another letter
 * ("\right" must not eat "\rightarrow"). */
static int control_word(const char *p, const char *word) {
    size_t n = strlen(word);
    return strncmp(p, word, n) == 0 && !isalpha((unsigned char)p[n]);
}

/* Pass 1: drop spacing, delimiters and decoration; rename \dfrac/\tfrac. */
static char *drop_decoration(const char *s) {
    static const char *const drop_words[] = {"\\left", "\\right", "\\displaystyle", "\\degree", "\\circ",
                                             "\\quad", "\\qquad", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr"};
    /* Literal sequences dropped wherever they occur; longest first. */
    static const char *const drop_lits[] = {"^{\\circ}", "^\\circ", "\\%", "\\$", "\\!", "\\,", "\\;", "\\:",
                                            "\xc2\xb0" /* ° */, "%", "$"};
    sbuf b = {0};
    sb_putn(&b, "", 0);
    for (const char *p = s; *p;) {
        int hit = 0;
        for (size_t i = 0; i < sizeof drop_lits / sizeof *drop_lits && !hit; i++)
            if (starts(p, drop_lits[i])) {
                p += strlen(drop_lits[i]);
                hit = 1;
            }
        for (size_t i = 0; i < sizeof drop_words / sizeof *drop_words && !hit; i++)
            if (control_word(p, drop_words[i])) {
                p += strlen(drop_words[i]);
                hit = 1;
            }
        if (hit) continue;
        if (control_word(p, "\\dfrac") || control_word(p, "\\tfrac")) {
            sb_putn(&b, "\\frac", 5);
            p += 6;
        } else if (starts(p, "\xe2\x88\x92")) { /* U+2212 minus sign */
            sb_putc(&b, '-');
            p += 3;
        } else if (starts(p, "\\ ")) {
            sb_putc(&b, ' ');
            p += 2;
        } else sb_putc(&b, *p++);
    }
    return b.s;
}

/* Index of the '}' closing the '{' at s[open], or -1. */
static long closing_brace(const char *s, size_t open) {
    int depth = 0;
    for (size_t i = open; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1]) {
            i++;
            continue;
        }
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) return (long)i;
    }
    return -1;
}

/* Pass 2: \text{X}, \mathrm{X}, … -> X (in place, repeated for nesting). */
static void unwrap_text(char *s) {
    static const char *const wrappers[] = {"\\text", "\\textbf", "\\textit", "\\textrm", "\\mathrm",
                                           "\\mathbf", "\\mbox", "\\operatorname", "\\textnormal"};
    for (size_t i = 0; s[i];) {
        size_t wl = 0;
        for (size_t k = 0; k < sizeof wrappers / sizeof *wrappers; k++) {
            size_t n = strlen(wrappers[k]);
            if (!strncmp(s + i, wrappers[k], n) && s[i + n] == '{') wl = n;
        }
        long close = wl ? closing_brace(s, i + wl) : -1;
        if (close < 0) {
            i++;
            continue;
        }
        /* delete the closing brace, then the "\text{" prefix */
        memmove(s + close, s + close + 1, strlen(s + close + 1) + 1);
        memmove(s + i, s + i + wl + 1, strlen(s + i + wl + 1) + 1);
    }
}

/* Copies one macro argument at *p to b, braced: "{…}" as is, a single
 * character c as "{c}". Returns 0 when there is no argument. */
static int put_braced_arg(sbuf *b, const char **p) {
    const char *q = *p;
    if (*q == '{') {
        long close = closing_brace(q, 0);
        if (close < 0) return 0;
        sb_putn(b, q, (size_t)close + 1);
        *p = q + close + 1;
        return 1;
    }
    if (!*q || *q == '}' || *q == '\\' || isspace((unsigned char)*q)) return 0;
    sb_putc(b, '{');
    sb_putc(b, *q);
    sb_putc(b, '}');
    *p = q + 1;
    return 1;
}

/* Pass 3: "\frac12" -> "\frac{1}{2}", "\sqrt2" -> "\sqrt{2}". */
static char *brace_arguments(const char *s) {
    sbuf b = {0};
    sb_putn(&b, "", 0);
    for (const char *p = s; *p;) {
        if (control_word(p, "\\frac")) {
            sb_putn(&b, "\\frac", 5);
            p += 5;
            if (put_braced_arg(&b, &p)) put_braced_arg(&b, &p);
        } else if (control_word(p, "\\sqrt") && p[5] != '[') {
            sb_putn(&b, "\\sqrt", 5);
            p += 5;
            put_braced_arg(&b, &p);
        } else sb_putc(&b, *p++);
    }
    return b.s;
}

char *answer_normalize_light(const char *s) {
    char *a = drop_decoration(s ? s : "");
    unwrap_text(a);
    char *b = brace_arguments(a);
    free(a);
    return b;
}

/* "2.50" -> "2.5", "5.0" -> "5", ".5" -> "0.5" for every decimal number. */
static char *tidy_decimals(const char *s) {
    sbuf b = {0};
    sb_putn(&b, "", 0);
    for (const char *p = s; *p;) {
        int prev_digit = p > s && isdigit((unsigned char)p[-1]);
        if (*p == '.' && isdigit((unsigned char)p[1])) {
            const char *e = p + 1;
            while (isdigit((unsigned char)*e)) e++;
            const char *last = e;
            while (last > p + 1 && last[-1] == '0') last--;
            if (!prev_digit) sb_putc(&b, '0');
            if (last > p + 1) sb_putn(&b, p, (size_t)(last - p));
            p = e;
        } else sb_putc(&b, *p++);
    }
    return b.s;
}

char *answer_normalize_math(const char *s) {
    char *light = answer_normalize_light(s);
    /* no whitespace: "3, 5, 7" == "3,5,7", "\frac {1}{2}" == "\frac{1}{2}" */
    size_t w = 0;
    for (size_t i = 0; light[i]; i++)
        if (!isspace((unsigned char)light[i])) light[w++] = light[i];
    light[w] = 0;
    /* "x=5" answers the question "what is x": keep the value. */
    char *eq = strchr(light, '=');
    if (eq && !strchr(eq + 1, '=') && eq - light >= 1 && eq - light <= 2 && eq[1]) {
        int var = 1;
        for (char *q = light; q < eq; q++) var &= isalpha((unsigned char)*q) != 0;
        if (var) memmove(light, eq + 1, strlen(eq + 1) + 1);
    }
    /* "{5}": braces around the whole answer group nothing */
    while (light[0] == '{' && closing_brace(light, 0) == (long)strlen(light) - 1) {
        size_t l = strlen(light);
        memmove(light, light + 1, l - 2);
        light[l - 2] = 0;
    }
    size_t n = strlen(light);
    while (n && light[n - 1] == '.') light[--n] = 0;
    char *out = tidy_decimals(light);
    free(light);
    return out;
}
