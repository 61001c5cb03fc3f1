/* grader.math_equal of the Qwen2.5-Math toolkit: string, multiple-choice,
 * numeric (with percentages), bracket, tuple, matrix and equation checks,
 * then symbolic equality (tk_expr.c). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "eval/toolkit.h"

static char *dupn(const char *s, size_t n) {
    char *o = xmalloc(n + 1);
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}

static char *strip_ws(const char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return dupn(s, n);
}

static void lower(char *s) {
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* grader.choice_answer_clean (the simple one) */
static char *grader_choice_clean(const char *in) {
    char *p = xstrdup(in);
    size_t n = strlen(p), i = 0;
    while (n && p[n - 1] == '\n') n--;
    while (i < n && p[i] == '\n') i++;
    while (n > i && p[n - 1] == '.') n--;
    while (n > i && p[n - 1] == '/') n--;
    while (i < n && p[i] == ' ') i++;
    while (n > i && p[n - 1] == ' ') n--;
    while (i < n && p[i] == ':') i++;
    char *t = dupn(p + i, n - i);
    free(p);
    /* the last standalone A-E (upper-cased), else the text */
    char last = 0;
    int l, prev_word = 0;
    for (const char *q = t; *q; q += l) {
        unsigned cp = tk_utf8_cp(q, &l);
        unsigned up = cp < 0x80 ? (unsigned)toupper((int)cp) : cp;
        if (up >= 'A' && up <= 'E' && !prev_word) {
            int nl;
            if (!q[l] || !tk_is_word_cp(tk_utf8_cp(q + l, &nl))) last = (char)up;
        }
        prev_word = tk_is_word_cp(cp);
    }
    char *r;
    if (last) r = dupn(&last, 1);
    else {
        r = strip_ws(t);
        size_t a = 0, b = strlen(r);
        while (a < b && r[a] == '.') a++;
        while (b > a && r[b - 1] == '.') b--;
        memmove(r, r + a, b - a);
        r[b - a] = 0;
    }
    free(t);
    size_t m = strlen(r);
    while (m && r[m - 1] == '.') r[--m] = 0;
    while (m && r[m - 1] == '/') r[--m] = 0;
    return r;
}

/* grader.parse_digits: commas dropped, float(), or a trailing % (and \%) */
static int parse_digits(const char *s, double *v) {
    char *t = tk_replace(s, ",", "");
    int ok = tk_py_float(t, v);
    if (!ok) {
        size_t n = strlen(t);
        if (n && t[n - 1] == '%') {
            t[--n] = 0;
            if (n && t[n - 1] == '\\') t[--n] = 0;
            if (tk_py_float(t, v)) {
                *v /= 100;
                ok = 1;
            }
        }
    }
    free(t);
    return ok;
}

static int isclose(double ref, double pred) {
    if (ref == pred) return 1;
    if (isinf(ref) || isinf(pred)) return 0;
    return fabs(ref - pred) <= 1e-4 * fmax(fabs(ref), fabs(pred));
}

static size_t count_char(const char *s, char c) {
    size_t n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int ends(const char *s, const char *p) {
    size_t n = strlen(s), m = strlen(p);
    return n >= m && !strcmp(s + n - m, p);
}

/* grader.str_to_pmatrix: "{a,b}" groups -> \begin{pmatrix}a\b\end{pmatrix} */
static char *str_to_pmatrix(const char *in) {
    char *s = strip_ws(in);
    /* re.findall(r"\{.*,.*\}"): greedy, so at most one match: from the
     * first '{' that has a ',' and then a '}' after it, to the last '}' */
    char *r = xstrdup("");
    for (char *b = strchr(s, '{'); b; b = strchr(b + 1, '{')) {
        char *last = strrchr(b, '}');
        char *comma = strchr(b, ',');
        if (last && comma && comma < last) {
            char *m = dupn(b, (size_t)(last - b + 1));
            size_t a = 0, e = strlen(m);
            while (a < e && strchr("{}", m[a])) a++;
            while (e > a && strchr("{}", m[e - 1])) e--;
            char *inner = dupn(m + a, e - a);
            char *bs = tk_replace(inner, ",", "\\");
            free(r);
            r = xmalloc(strlen(bs) + 40);
            sprintf(r, "\\begin{pmatrix}%s\\end{pmatrix}", bs);
            free(bs);
            free(inner);
            free(m);
            break;
        }
    }
    free(s);
    return r;
}

/* Python str.split(sep): the pieces (caller frees each and the array) */
static char **split(const char *s, const char *sep, int *n) {
    int cap = 8, k = 0;
    char **v = xmalloc((size_t)cap * sizeof *v);
    size_t sl = strlen(sep);
    for (const char *p = s;;) {
        const char *q = strstr(p, sep);
        if (k == cap) v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
        if (!q) {
            v[k++] = xstrdup(p);
            break;
        }
        v[k++] = dupn(p, (size_t)(q - p));
        p = q + sl;
    }
    *n = k;
    return v;
}

static void free_split(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* regex.match(r"(\(|\[).+(\)|\])", s) */
static int bracketed(const char *s) {
    if (s[0] != '(' && s[0] != '[') return 0;
    for (size_t i = strlen(s); i-- > 2;)
        if ((s[i] == ')' || s[i] == ']') && !memchr(s + 1, '\n', i - 1)) return 1;
    return 0;
}

static int math_equal_rec(const char *pred, const char *ref, int depth);

static int parts_equal(const char *pred_inner, const char *ref_inner, const char *sep, int depth) {
    int np, nr, ok = 0;
    char **p = split(pred_inner, sep, &np), **r = split(ref_inner, sep, &nr);
    if (np == nr) {
        ok = 1;
        for (int i = 0; i < np && ok; i++) ok = math_equal_rec(p[i], r[i], depth + 1);
    }
    free_split(p, np);
    free_split(r, nr);
    return ok;
}

/* the matrix branch: rows split on "\\", cells on "&" */
static int pmatrix_equal(const char *pred, const char *ref, int depth) {
    static const char *const b = "\\begin{pmatrix}", *const e = "\\end{pmatrix}";
    size_t bl = strlen(b), el = strlen(e);
    if (strlen(pred) < bl + el || strlen(ref) < bl + el) return 0;
    char *pi = dupn(pred + bl, strlen(pred) - bl - el), *ri = dupn(ref + bl, strlen(ref) - bl - el);
    int np, nr;
    char **pl = split(pi, "\\\\", &np), **rl = split(ri, "\\\\", &nr);
    /* stripped, empty lines dropped */
    char **pv = xcalloc((size_t)np + 1, sizeof *pv), **rv = xcalloc((size_t)nr + 1, sizeof *rv);
    int pn = 0, rn = 0;
    for (int i = 0; i < np; i++) {
        char *t = strip_ws(pl[i]);
        if (*t) pv[pn++] = t;
        else free(t);
    }
    for (int i = 0; i < nr; i++) {
        char *t = strip_ws(rl[i]);
        if (*t) rv[rn++] = t;
        else free(t);
    }
    int matched = pn == rn;
    for (int i = 0; i < pn && matched; i++) matched = parts_equal(pv[i], rv[i], "&", depth);
    for (int i = 0; i < pn; i++) free(pv[i]);
    for (int i = 0; i < rn; i++) free(rv[i]);
    free(pv);
    free(rv);
    free_split(pl, np);
    free_split(rl, nr);
    free(pi);
    free(ri);
    return matched;
}

static int math_equal_rec(const char *pred_in, const char *ref_in, int depth) {
    if (depth > 32) return 0;
    /* 0. the same text, case-insensitively */
    {
        char *a = strip_ws(pred_in), *b = strip_ws(ref_in);
        lower(a), lower(b);
        int same = !strcmp(a, b);
        free(a), free(b);
        if (same) return 1;
    }
    /* 1. a multiple-choice letter */
    if (strlen(ref_in) == 1 && ref_in[0] >= 'A' && ref_in[0] <= 'E') {
        char *c = grader_choice_clean(pred_in);
        int same = !strcmp(c, ref_in);
        free(c);
        if (same) return 1;
    }
    /* 2. both numbers: the gold, or the gold as a percentage either way */
    double pv, rv;
    if (parse_digits(pred_in, &pv) && parse_digits(ref_in, &rv)) {
        double cand[3] = {rv / 100, rv, rv * 100};
        for (int i = 0; i < 3; i++)
            if (isclose(cand[i], pv)) return 1;
        return 0;
    }
    if (!*pred_in) return 0;
    /* 3. symbolic */
    char *ref = strip_ws(ref_in), *pred = strip_ws(pred_in);
    int result = 0;
    if (strstr(pred, "pmatrix") && !strstr(ref, "pmatrix")) {
        char *m = str_to_pmatrix(ref);
        free(ref);
        ref = m;
    }
    /* brackets and braces ignored: (1,2) vs 1,2; {a} vs a */
    {
        char *ps = xstrdup(pred), *rs = xstrdup(ref);
        if ((pred[0] == '[' && ends(pred, "]") && ref[0] != '(') ||
            (pred[0] == '(' && ends(pred, ")") && ref[0] != '[')) {
            char *v[2] = {ps, rs};
            for (int k = 0; k < 2; k++) {
                size_t a = 0, b = strlen(v[k]);
                while (a < b && strchr("[]()", v[k][a])) a++;
                while (b > a && strchr("[]()", v[k][b - 1])) b--;
                memmove(v[k], v[k] + a, b - a);
                v[k][b - a] = 0;
            }
        }
        char *v[2] = {ps, rs};
        for (int k = 0; k < 2; k++) {
            size_t w = 0;
            for (size_t i = 0; v[k][i]; i++)
                if (!strchr("{}()", v[k][i])) v[k][w++] = v[k][i];
            v[k][w] = 0;
            lower(v[k]);
        }
        int same = !strcmp(ps, rs);
        free(ps), free(rs);
        if (same) {
            result = 1;
            goto done;
        }
    }
    /* [a, b] vs [c, d]: element by element */
    if (bracketed(pred) && bracketed(ref)) {
        char *pi = dupn(pred + 1, strlen(pred) - 2), *ri = dupn(ref + 1, strlen(ref) - 2);
        int ok = parts_equal(pi, ri, ",", depth);
        free(pi), free(ri);
        if (ok) {
            result = 1;
            goto done;
        }
    }
    if ((starts(pred, "\\begin{pmatrix}") || starts(pred, "\\begin{bmatrix}")) &&
        (ends(pred, "\\end{pmatrix}") || ends(pred, "\\end{bmatrix}")) &&
        (starts(ref, "\\begin{pmatrix}") || starts(ref, "\\begin{bmatrix}")) &&
        (ends(ref, "\\end{pmatrix}") || ends(ref, "\\end{bmatrix}"))) {
        if (pmatrix_equal(pred, ref, depth)) {
            result = 1;
            goto done;
        }
    }
    /* equations */
    size_t pe = count_char(pred, '='), re_ = count_char(ref, '=');
    if (pe == 1 && re_ == 1) {
        char *pq = strchr(pred, '='), *rq = strchr(ref, '=');
        char *pl = dupn(pred, (size_t)(pq - pred)), *rl = dupn(ref, (size_t)(rq - ref));
        char *pls = strip_ws(pl), *prs = strip_ws(pq + 1), *rls = strip_ws(rl), *rrs = strip_ws(rq + 1);
        size_t n1 = strlen(pls) + strlen(prs) + 8, n2 = strlen(rls) + strlen(rrs) + 8;
        char *p2 = xmalloc(n1), *r2 = xmalloc(n2), *p3 = xmalloc(n1 + 4);
        sprintf(p2, "%s - (%s)", pls, prs);
        sprintf(r2, "%s - (%s)", rls, rrs);
        sprintf(p3, "-(%s)", p2);
        int ok = tk_symbolic_equal(p2, r2) || tk_symbolic_equal(p3, r2);
        free(pl), free(rl), free(pls), free(prs), free(rls), free(rrs), free(p2), free(r2), free(p3);
        if (ok) {
            result = 1;
            goto done;
        }
    } else if (pe == 1 && re_ == 0) {
        char *lhs = dupn(pred, (size_t)(strchr(pred, '=') - pred)), *l2 = strip_ws(lhs);
        size_t cps = 0; /* len() of a str: code points */
        for (const char *q = l2; *q; q++) cps += ((unsigned char)*q & 0xC0) != 0x80;
        int short_lhs = cps <= 2;
        free(lhs), free(l2);
        if (short_lhs && math_equal_rec(strchr(pred, '=') + 1, ref, depth + 1)) {
            result = 1;
            goto done;
        }
    } else if (re_ == 1 && pe == 0) {
        char *lhs = dupn(ref, (size_t)(strchr(ref, '=') - ref)), *l2 = strip_ws(lhs);
        size_t cps = 0;
        for (const char *q = l2; *q; q++) cps += ((unsigned char)*q & 0xC0) != 0x80;
        free(lhs), free(l2);
        if (cps <= 2 && math_equal_rec(pred, strchr(ref, '=') + 1, depth + 1)) {
            result = 1;
            goto done;
        }
    }
    result = tk_symbolic_equal(pred, ref);
done:
    free(ref);
    free(pred);
    return result;
}

int tk_math_equal(const char *pred, const char *ref) {
    if (!pred || !ref) return 0;
    return math_equal_rec(pred, ref, 0);
}
