/* parser.strip_string of the Qwen2.5-Math toolkit: the normalisation both
 * the gold and the prediction go through before math_equal. Each step
 * below is one step of the toolkit's, in its order; the regular
 * expressions it uses are emulated by small scanners with the same
 * leftmost, non-overlapping semantics. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "eval/toolkit.h"

/* The toolkit's unit words (mostly from MathQA), in its order; each is
 * removed where it stands alone ((^|\W)unit($|\W)), '.' matching any
 * character as in the regex the toolkit builds from them. The list is
 * used twice over, then once more with an "s" appended to every entry. */
static const char *const k_units[] = {
    "east", "degree", "mph", "kmph", "ft", "m sqaure", " m east", "sq m", "deg", "mile", "q .", "monkey", "prime",
    "ratio", "profit of rs", "rd", "o", "gm", "p . m", "lb", "tile", "per", "dm", "lt", "gain", "ab", "way", "west",
    "a .", "b .", "c .", "d .", "e .", "f .", "g .", "h .", "t", "a", "h", "no change", "men", "soldier", "pie", "bc",
    "excess", "st", "inches", "noon", "percent", "by", "gal", "kmh", "c", "acre", "rise", "a . m", "th",
    "\xcf\x80 r 2", "sq", "mark", "l", "toy", "coin", "sq . m", "gallon", "\xc2\xb0 f", "profit", "minw", "yr",
    "women", "feet", "am", "pm", "hr", "cu cm", "square", "v \xc3\xa2 \xe2\x82\xac \xe2\x84\xa2", "are", "rupee",
    "rounds", "cubic", "cc", "mtr", "s", "ohm", "number", "kmph", "day", "hour", "minute", "min", "second", "man",
    "woman", "sec", "cube", "mt", "sq inch", "mp", "\xe2\x88\x8f cm \xc2\xb3", "hectare", "more", "sec", "unit",
    "cu . m", "cm 2", "rs .", "rs", "kg", "g", "month", "km", "m", "cm", "mm", "apple", "liter", "loss", "yard",
    "pure", "year", "increase", "decrease", "d", "less", "Surface", "litre", "pi sq m", "s .", "metre", "meter",
    "inch"};
#define N_UNITS (sizeof k_units / sizeof *k_units)

static void set(char **s, char *v) {
    free(*s);
    *s = v;
}

static void replace_in(char **s, const char *from, const char *to) { set(s, tk_replace(*s, from, to)); }

static int is_py_space_cp(unsigned cp) {
    return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* str.strip() (Unicode whitespace) as a fresh string */
char *tk_py_strip(const char *s) {
    const char *b = s;
    int l;
    while (*b && is_py_space_cp(tk_utf8_cp(b, &l))) b += l;
    const char *e = b, *last = b;
    for (const char *p = b; *p; p += l) {
        unsigned cp = tk_utf8_cp(p, &l);
        if (!is_py_space_cp(cp)) last = p + l;
    }
    e = last;
    char *o = xmalloc((size_t)(e - b) + 1);
    memcpy(o, b, (size_t)(e - b));
    o[e - b] = 0;
    return o;
}

/* re.sub(r"(^|\W)" + unit + r"($|\W)", r"\1\2", s) */
static int unit_at(const char *s, size_t pos, const char *unit) {
    size_t p = pos;
    int lu, ls;
    for (const char *u = unit; *u; u += lu) {
        unsigned cu = tk_utf8_cp(u, &lu);
        if (!s[p]) return -1;
        unsigned cs = tk_utf8_cp(s + p, &ls);
        if (cu == '.' ? cs == '\n' : cs != cu) return -1;
        p += (size_t)ls;
    }
    return (int)p;
}

static char *remove_unit(const char *s, const char *unit) {
    size_t n = strlen(s), w = 0, pos = 0;
    char *o = xmalloc(n + 1);
    while (pos <= n) {
        int l1 = 0, end = -1, l2 = 0;
        /* group 1: ^ (zero width at the start) or one \W character */
        for (int alt = 0; alt < 2 && end < 0; alt++) {
            if (alt == 0) {
                if (pos != 0) continue;
                l1 = 0;
            } else {
                if (!s[pos]) break;
                unsigned cp = tk_utf8_cp(s + pos, &l1);
                if (tk_is_word_cp(cp)) break;
            }
            int e = unit_at(s, pos + (size_t)l1, unit);
            if (e < 0) continue;
            /* group 2: $ or one \W character */
            if (!s[e]) {
                end = e, l2 = 0;
            } else {
                unsigned cp = tk_utf8_cp(s + e, &l2);
                if (!tk_is_word_cp(cp)) end = e;
            }
        }
        if (end >= 0) {
            memcpy(o + w, s + pos, (size_t)l1);
            w += (size_t)l1;
            memcpy(o + w, s + end, (size_t)l2);
            w += (size_t)l2;
            pos = (size_t)end + (size_t)l2;
            continue;
        }
        if (!s[pos]) break;
        int l;
        tk_utf8_cp(s + pos, &l);
        memcpy(o + w, s + pos, (size_t)l);
        w += (size_t)l;
        pos += (size_t)l;
    }
    o[w] = 0;
    return o;
}

/* re.sub(open + ".*?" + "}", repl, s): the shortest text up to the next
 * '}' after each occurrence of open; keep_inner puts it back (\1). */
static char *sub_braced(const char *s, const char *open, const char *repl, int keep_inner) {
    size_t n = strlen(s), ol = strlen(open), rl = strlen(repl);
    char *o = xmalloc(n * 2 + rl * n + 1);
    size_t w = 0;
    const char *p = s;
    for (;;) {
        const char *q = strstr(p, open);
        const char *close = q ? strchr(q + ol, '}') : NULL;
        /* '.' does not match '\n' */
        if (q && close) {
            const char *nl = memchr(q + ol, '\n', (size_t)(close - (q + ol)));
            if (nl) {
                memcpy(o + w, p, (size_t)(nl + 1 - p));
                w += (size_t)(nl + 1 - p);
                p = nl + 1;
                continue;
            }
        }
        if (!q || !close) break;
        memcpy(o + w, p, (size_t)(q - p));
        w += (size_t)(q - p);
        memcpy(o + w, repl, rl);
        w += rl;
        if (keep_inner) {
            memcpy(o + w, q + ol, (size_t)(close - q - ol));
            w += (size_t)(close - q - ol);
        }
        p = close + 1;
    }
    strcpy(o + w, p);
    return o;
}

/* ---- word2number.w2n.word_to_num as convert_word_number uses it */
static const struct {
    const char *w;
    long v;
} k_numwords[] = {{"zero", 0},        {"one", 1},        {"two", 2},         {"three", 3},         {"four", 4},
                  {"five", 5},        {"six", 6},        {"seven", 7},       {"eight", 8},         {"nine", 9},
                  {"ten", 10},        {"eleven", 11},    {"twelve", 12},     {"thirteen", 13},     {"fourteen", 14},
                  {"fifteen", 15},    {"sixteen", 16},   {"seventeen", 17},  {"eighteen", 18},     {"nineteen", 19},
                  {"twenty", 20},     {"thirty", 30},    {"forty", 40},      {"fifty", 50},        {"sixty", 60},
                  {"seventy", 70},    {"eighty", 80},    {"ninety", 90},     {"hundred", 100},     {"thousand", 1000},
                  {"million", 1000000}, {"billion", 1000000000L}, {"point", -1}};

static long word_value(const char *w) {
    for (size_t i = 0; i < sizeof k_numwords / sizeof *k_numwords; i++)
        if (!strcmp(k_numwords[i].w, w)) return k_numwords[i].v;
    return -2;
}

/* number_formation: -1 on an empty list (an IndexError in Python) */
static int formation(const long *v, int n, long long *out) {
    if (n <= 0) return -1;
    if (n == 4) *out = (long long)v[0] * v[1] + v[2] + v[3];
    else if (n == 3) *out = (long long)v[0] * v[1] + v[2];
    else if (n == 2) *out = (v[0] == 100 || v[1] == 100) ? (long long)v[0] * v[1] : (long long)v[0] + v[1];
    else *out = v[0];
    return 0;
}

/* Fresh string, or NULL when w2n raises (the text is then kept). */
static char *word_to_num(const char *text) {
    char *t = xstrdup(text);
    for (char *p = t; *p; p++) {
        if (*p == '-') *p = ' ';
        else *p = (char)tolower((unsigned char)*p);
    }
    /* isdigit(): the number itself, leading zeros dropped */
    int all_digits = *t != 0, ascii = 1;
    for (const char *p = t; *p; p++) {
        if (!isdigit((unsigned char)*p)) all_digits = 0;
        if ((unsigned char)*p >= 0x80) ascii = 0;
    }
    if (all_digits && ascii) {
        const char *p = t;
        while (p[0] == '0' && p[1]) p++;
        char *r = xstrdup(p);
        free(t);
        return r;
    }
    /* the words that are number words, in order */
    long vals[256];
    char *words[256];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(t, " \t\n\r\v\f", &save); w && n < 256; w = strtok_r(NULL, " \t\n\r\v\f", &save)) {
        long v = word_value(w);
        if (v != -2) {
            vals[n] = v;
            words[n++] = w;
        }
    }
    char *res = NULL;
    if (n == 0) goto out;
    int c_th = 0, c_mi = 0, c_bi = 0, c_pt = 0, i_pt = -1;
    for (int i = 0; i < n; i++) {
        c_th += !strcmp(words[i], "thousand");
        c_mi += !strcmp(words[i], "million");
        c_bi += !strcmp(words[i], "billion");
        if (!strcmp(words[i], "point")) c_pt++, i_pt = i_pt < 0 ? i : i_pt;
    }
    if (c_th > 1 || c_mi > 1 || c_bi > 1 || c_pt > 1) goto out;
    int nn = n, nd = 0;
    long *dec = NULL;
    if (c_pt == 1) {
        dec = vals + i_pt + 1;
        nd = n - i_pt - 1;
        nn = i_pt;
    }
    int bi = -1, mi = -1, th = -1;
    for (int i = 0; i < nn; i++) {
        if (vals[i] == 1000000000L && bi < 0) bi = i;
        if (vals[i] == 1000000 && mi < 0) mi = i;
        if (vals[i] == 1000 && th < 0) th = i;
    }
    if ((th > -1 && (th < mi || th < bi)) || (mi > -1 && mi < bi)) goto out;
    long long total = 0, part;
    if (nn == 1) total = vals[0];
    else if (nn > 1) {
        if (bi > -1) {
            if (formation(vals, bi, &part)) goto out;
            total += part * 1000000000LL;
        }
        if (mi > -1) {
            if (bi > -1 ? formation(vals + bi + 1, mi - bi - 1, &part) : formation(vals, mi, &part)) goto out;
            total += part * 1000000LL;
        }
        if (th > -1) {
            int r;
            if (mi > -1) r = formation(vals + mi + 1, th - mi - 1, &part);
            else if (bi > -1) r = formation(vals + bi + 1, th - bi - 1, &part);
            else r = formation(vals, th, &part);
            if (r) goto out;
            total += part * 1000LL;
        }
        long long hundreds = 0;
        int r = 0;
        if (th > -1 && th != nn - 1) r = formation(vals + th + 1, nn - th - 1, &hundreds);
        else if (mi > -1 && mi != nn - 1) r = formation(vals + mi + 1, nn - mi - 1, &hundreds);
        else if (bi > -1 && bi != nn - 1) r = formation(vals + bi + 1, nn - bi - 1, &hundreds);
        else if (th == -1 && mi == -1 && bi == -1) r = formation(vals, nn, &hundreds);
        if (r) goto out;
        total += hundreds;
    }
    char buf[64];
    int is_float = 0;
    double ftotal = 0;
    if (nd > 0) {
        /* get_decimal_sum: 0 (an int) unless every word is a digit word */
        char ds[300] = "0.";
        int ok = 1;
        for (int k = 0; k < nd; k++) {
            if (dec[k] < 0 || dec[k] > 9) {
                ok = 0;
                break;
            }
            size_t l = strlen(ds);
            if (l < sizeof ds - 2) ds[l] = (char)('0' + dec[k]), ds[l + 1] = 0;
        }
        if (ok) {
            is_float = 1;
            ftotal = (double)total + strtod(ds, NULL);
        }
    }
    if (is_float) tk_float_repr(ftotal, buf);
    else snprintf(buf, sizeof buf, "%lld", total);
    res = xstrdup(buf);
out:
    free(t);
    return res;
}

/* \frac1b -> \frac{1}{b} (parser._fix_fracs), by code points */
static char *fix_fracs(const char *s) {
    const char *first = strstr(s, "\\frac");
    if (!first) return xstrdup(s);
    size_t n = strlen(s);
    char *o = xmalloc(n * 3 + 16);
    size_t w = (size_t)(first - s);
    memcpy(o, s, w);
    const char *p = first + 5;
    for (;;) {
        const char *next = strstr(p, "\\frac");
        size_t len = next ? (size_t)(next - p) : strlen(p);
        memcpy(o + w, "\\frac", 5);
        w += 5;
        if (len > 0 && p[0] == '{') {
            memcpy(o + w, p, len);
            w += len;
        } else {
            int la = 0, lb = 0;
            if (len >= 1) tk_utf8_cp(p, &la);
            if (len < 1 || (size_t)la >= len) {
                free(o);
                return xstrdup(s); /* assert len(substr) >= 2 fails */
            }
            tk_utf8_cp(p + la, &lb);
            const char *a = p, *b = p + la, *post = p + la + lb;
            size_t pl = len - (size_t)(la + lb);
            o[w++] = '{';
            memcpy(o + w, a, (size_t)la);
            w += (size_t)la;
            o[w++] = '}';
            if (*b != '{') {
                o[w++] = '{';
                memcpy(o + w, b, (size_t)lb);
                w += (size_t)lb;
                o[w++] = '}';
            } else {
                memcpy(o + w, b, (size_t)lb);
                w += (size_t)lb;
            }
            memcpy(o + w, post, pl);
            w += pl;
        }
        if (!next) break;
        p = next + 5;
    }
    o[w] = 0;
    return o;
}

/* int(x) round-trips to x: an optional '-' and digits without leading 0 */
static int canonical_int(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0' && n - i > 1) return 0;
    if (s[i] == '0' && s[0] == '-') return 0; /* int("-0") prints "0" */
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* a/b -> \frac{a}{b} for plain integers (parser._fix_a_slash_b) */
static char *fix_a_slash_b(const char *s) {
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/')) return xstrdup(s);
    size_t la = (size_t)(slash - s), lb = strlen(slash + 1);
    const char *b = slash + 1;
    int a_ok = canonical_int(s, la), b_ok = canonical_int(b, lb);
    char *a_str = strndup(s, la), *b_str = strndup(b, lb);
    int a_sqrt = strstr(a_str, "sqrt") != NULL, b_sqrt = strstr(b_str, "sqrt") != NULL;
    char *r;
    if ((a_sqrt || a_ok) && (b_sqrt || b_ok)) {
        r = xmalloc(la + lb + 16);
        sprintf(r, "\\frac{%s}{%s}", a_str, b_str);
    } else r = xstrdup(s);
    free(a_str);
    free(b_str);
    return r;
}

/* re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", s) */
static char *fix_sqrt(const char *s) {
    size_t n = strlen(s);
    char *o = xmalloc(n * 2 + 1);
    size_t w = 0;
    const char *p = s;
    for (const char *q; (q = strstr(p, "\\sqrt"));) {
        const char *e = q + 5;
        int l;
        while (*e && tk_is_word_cp(tk_utf8_cp(e, &l))) e += l;
        memcpy(o + w, p, (size_t)(q + 5 - p));
        w += (size_t)(q + 5 - p);
        if (e > q + 5) {
            o[w++] = '{';
            memcpy(o + w, q + 5, (size_t)(e - q - 5));
            w += (size_t)(e - q - 5);
            o[w++] = '}';
        }
        p = e;
    }
    strcpy(o + w, p);
    return o;
}

/* re.sub(r"(\d+)\.0*([^\d])", r"\1\2", s) then re.sub(r"(\d+)\.0*$", r"\1", s) */
static char *drop_zero_decimals(const char *s) {
    size_t n = strlen(s), w = 0, i = 0;
    char *o = xmalloc(n + 1);
    while (i < n) {
        if (isdigit((unsigned char)s[i])) {
            size_t j = i;
            while (j < n && isdigit((unsigned char)s[j])) j++;
            if (j < n && s[j] == '.') {
                size_t k = j + 1;
                while (k < n && s[k] == '0') k++;
                if (k < n && !isdigit((unsigned char)s[k])) {
                    memcpy(o + w, s + i, j - i);
                    w += j - i;
                    int l;
                    tk_utf8_cp(s + k, &l);
                    memcpy(o + w, s + k, (size_t)l);
                    w += (size_t)l;
                    i = k + (size_t)l;
                    continue;
                }
            }
            memcpy(o + w, s + i, j - i);
            w += j - i;
            i = j;
            continue;
        }
        o[w++] = s[i++];
    }
    o[w] = 0;
    /* trailing "<digit>.000" */
    size_t e = w;
    while (e > 0 && o[e - 1] == '0') e--;
    if (e > 1 && o[e - 1] == '.' && isdigit((unsigned char)o[e - 2])) o[e - 1] = 0;
    return o;
}

static size_t n_cps(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

char *tk_strip_string(const char *in, int skip_unit) {
    char *s = tk_py_strip(in);
    replace_in(&s, "\n", "");
    size_t n = strlen(s);
    while (n && s[n - 1] == '.') s[--n] = 0;
    replace_in(&s, "\\!", "");
    /* matrices */
    set(&s, sub_braced(s, "\\begin{array}{", "\\begin{pmatrix}", 0));
    replace_in(&s, "\\end{array}", "\\end{pmatrix}");
    replace_in(&s, "bmatrix", "pmatrix");
    replace_in(&s, "tfrac", "frac");
    replace_in(&s, "dfrac", "frac");
    replace_in(&s, "\\neq", "\\ne");
    replace_in(&s, "\\leq", "\\le");
    replace_in(&s, "\\geq", "\\ge");
    replace_in(&s, "\\left", "");
    replace_in(&s, "\\right", "");
    replace_in(&s, "\\{", "{");
    replace_in(&s, "\\}", "}");
    /* a trailing \text{...} unit: from the first \text{ when s ends in '}' */
    {
        n = strlen(s);
        const char *t = strstr(s, "\\text{");
        if (t && n && s[n - 1] == '}' && !strchr(t, '\n')) {
            char *cut = strndup(s, (size_t)(t - s));
            char *st = tk_py_strip(cut);
            free(cut);
            if (*st && strcmp(st, s) != 0) set(&s, st);
            else free(st);
        }
    }
    if (!skip_unit) {
        for (int pass = 0; pass < 2; pass++)
            for (size_t u = 0; u < 2 * N_UNITS; u++) {
                char unit[64];
                snprintf(unit, sizeof unit, "%s%s", k_units[u % N_UNITS], u >= N_UNITS ? "s" : "");
                char *r = remove_unit(s, unit);
                if (*r) set(&s, r);
                else free(r);
            }
    }
    replace_in(&s, "^{\\circ}", "");
    replace_in(&s, "^\\circ", "");
    replace_in(&s, "\\$", "");
    replace_in(&s, "$", "");
    replace_in(&s, "\\(", "");
    replace_in(&s, "\\)", "");
    {
        char *r = word_to_num(s);
        if (r) set(&s, r);
    }
    set(&s, sub_braced(s, "\\text{", "", 1));
    static const char *const keys[] = {"x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) replace_in(&s, keys[k], "");
    replace_in(&s, "\\emptyset", "{}");
    replace_in(&s, "(-\\infty,\\infty)", "\\mathbb{R}");
    replace_in(&s, "\\%", "");
    replace_in(&s, "%", "");
    replace_in(&s, " .", " 0.");
    replace_in(&s, "{.", "{0.");
    replace_in(&s, "infinity", "\\infty");
    if (!strstr(s, "\\infty")) replace_in(&s, "inf", "\\infty");
    replace_in(&s, "+\\inity", "\\infty");
    replace_in(&s, "and", "");
    replace_in(&s, "\\mathbf", "");
    set(&s, sub_braced(s, "\\mbox{", "", 0));
    if (strchr(s, 'j') && !strchr(s, 'i')) replace_in(&s, "j", "i");
    set(&s, drop_zero_decimals(s));
    if (!*s) return s;
    if (s[0] == '.') {
        char *r = xmalloc(strlen(s) + 2);
        sprintf(r, "0%s", s);
        set(&s, r);
    }
    /* "k = 5" -> "5" when the left side is at most two characters */
    {
        char *eq = strchr(s, '=');
        if (eq && !strchr(eq + 1, '=') && n_cps(s, (size_t)(eq - s)) <= 2) set(&s, xstrdup(eq + 1));
    }
    set(&s, fix_sqrt(s));
    replace_in(&s, " ", "");
    set(&s, fix_fracs(s));
    set(&s, fix_a_slash_b(s));
    return s;
}
