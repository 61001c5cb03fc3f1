/* Final-answer extraction from a model output (SPEC §2): last brace-matched
 * \boxed{…}, else "answer is …", else the last number. */
#include <ctype.h>
#include <string.h>

#include "common/check.h"
#include "eval/answer.h"

static char *dup_range(const char *a, const char *b) {
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    size_t n = (size_t)(b - a);
    char *s = xmalloc(n + 1);
    memcpy(s, a, n);
    s[n] = 0;
    return s;
}

/* Content of the brace group opening at *open ('{'), or NULL when the group
 * never closes (an output cut off by max_new_tokens). "\{" and "\}" are
 * literal braces in LaTeX and do not count. */
static const char *match_brace(const char *open, const char **content_end) {
    int depth = 0;
    for (const char *p = open; *p; p++) {
        if (*p == '\\' && (p[1] == '{' || p[1] == '}')) {
            p++;
            continue;
        }
        if (*p == '{') depth++;
        else if (*p == '}' && --depth == 0) {
            *content_end = p;
            return open + 1;
        }
    }
    return NULL;
}

/* The content of a \boxed at kw (pointing just past the keyword), or NULL. */
static char *boxed_content(const char *kw) {
    const char *p = kw;
    while (*p == ' ') p++;
    if (*p == '{') {
        const char *end, *start = match_brace(p, &end);
        if (!start) return NULL;
        char *c = dup_range(start, end);
        if (*c) return c;
        free(c); /* "\boxed{}" echoes the instruction, not an answer */
        return NULL;
    }
    /* "\boxed 42": the answer is the next space-delimited token. */
    if (p == kw) return NULL; /* "\boxedfoo" is a different macro */
    const char *e = p;
    while (*e && !isspace((unsigned char)*e) && *e != '$') e++;
    while (e > p && e[-1] == '.') e--;
    if (e == p) return NULL;
    return dup_range(p, e);
}

/* Walks the \boxed / \fbox occurrences backwards so that the last
 * *matched* one wins: an unclosed trailing "\boxed{" (output cut off) falls
 * back to the previous answer. */
static char *last_boxed(const char *text) {
    const char *end = text + strlen(text);
    for (const char *p = end; p > text;) {
        p--;
        size_t kl = 0;
        if (!strncmp(p, "\\boxed", 6)) kl = 6;
        else if (!strncmp(p, "\\fbox", 5)) kl = 5;
        if (!kl || isalpha((unsigned char)p[kl])) continue; /* "\boxedfoo" is another macro */
        char *c = boxed_content(p + kl);
        if (c) return c;
    }
    return NULL;
}

static int ieq_prefix(const char *s, const char *pre) {
    for (; *pre; s++, pre++)
        if (tolower((unsigned char)*s) != *pre) return 0;
    return 1;
}

/* Text after the last "answer is" up to the end of its sentence or line. */
static char *answer_is(const char *text) {
    const char *hit = NULL;
    for (const char *p = text; *p; p++)
        if (ieq_prefix(p, "answer is")) hit = p + 9;
    if (!hit) return NULL;
    const char *p = hit;
    while (*p == ' ' || *p == ':' || *p == '*') p++;
    const char *e = p;
    /* A '.' ends the sentence unless a digit follows (a decimal point). */
    while (*e && *e != '\n' && !(*e == '.' && !isdigit((unsigned char)e[1]))) e++;
    /* Strip markdown emphasis and math delimiters around the answer. */
    while (e > p && (isspace((unsigned char)e[-1]) || e[-1] == '*')) e--;
    if (e - p >= 2 && p[0] == '\\' && (p[1] == '(' || p[1] == '[')) {
        p += 2;
        if (e - p >= 2 && e[-2] == '\\' && (e[-1] == ')' || e[-1] == ']')) e -= 2;
    }
    if (e - p >= 3 && *p == '$' && e[-1] == '$' && memchr(p + 1, '$', (size_t)(e - p - 2)) == NULL) {
        /* "$\frac{1}{2}$" is math mode; "$1,234" (one '$') is a dollar amount */
        p++;
        e--;
    }
    char *s = dup_range(p, e);
    if (*s) return s;
    free(s);
    return NULL;
}

/* A number token: optional sign (not a binary minus), digits with thousands
 * groups, decimals, optional "/denominator". Returns its length, 0 if none. */
static size_t number_at(const char *text, const char *p) {
    const char *q = p;
    if (*q == '-' || *q == '+') {
        char prev = p > text ? p[-1] : ' ';
        if (isalnum((unsigned char)prev) || prev == ')' || prev == '}') return 0;
        q++;
    }
    const char *d = q;
    while (isdigit((unsigned char)*q)) q++;
    if (q == d) {
        if (*q != '.' || !isdigit((unsigned char)q[1])) return 0;
    }
    if (q > d)
        while (q[0] == ',' && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2]) &&
               isdigit((unsigned char)q[3]) && !isdigit((unsigned char)q[4]))
            q += 4;
    if (*q == '.' && isdigit((unsigned char)q[1])) {
        q++;
        while (isdigit((unsigned char)*q)) q++;
    }
    if (*q == '/' && isdigit((unsigned char)q[1])) {
        q++;
        while (isdigit((unsigned char)*q)) q++;
    }
    return (size_t)(q - p);
}

static char *last_number(const char *text) {
    const char *best = NULL;
    size_t best_len = 0;
    for (const char *p = text; *p;) {
        /* Only start at a token boundary: "x2" or "a1b" are not numbers of
         * their own, and the middle of "123" is not a new number. */
        int boundary = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '.');
        size_t n = boundary ? number_at(text, p) : 0;
        if (n) {
            best = p;
            best_len = n;
            p += n;
        } else p++;
    }
    return best ? dup_range(best, best + best_len) : NULL;
}

char *answer_extract(const char *text, answer_method *method) {
    char *s;
    answer_method m = ANSWER_NONE;
    if (!text) text = "";
    if ((s = last_boxed(text))) m = ANSWER_BOXED;
    else if ((s = answer_is(text))) m = ANSWER_IS;
    else if ((s = last_number(text))) m = ANSWER_LAST_NUMBER;
    else s = xstrdup("");
    if (method) *method = m;
    return s;
}
