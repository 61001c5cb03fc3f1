/* parser.extract_answer / choice_answer_clean of the Qwen2.5-Math toolkit
 * and math_eval.py's path from a generated text to the graded prediction. */
#include <ctype.h>
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

/* the last occurrence of needle in s, or NULL */
static const char *last_strstr(const char *s, const char *needle) {
    const char *r = NULL;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) r = p;
    return r;
}

static void strip_set(char **s, const char *chars, int left, int right) {
    char *b = *s;
    size_t n = strlen(b);
    size_t i = 0;
    if (left)
        while (i < n && strchr(chars, b[i])) i++;
    if (right)
        while (n > i && strchr(chars, b[n - 1])) n--;
    memmove(b, b + i, n - i);
    b[n - i] = 0;
}

/* str.strip() for ASCII whitespace (Unicode spaces are rare in outputs) */
static char *py_strip_dup(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return dupn(s, n);
}

/* re.findall(r"\b(A|B|C|D|E)\b", s.upper()): the letters in order */
static int find_choice_letters(const char *s, char *out, int cap) {
    int n = 0, l;
    unsigned prev = 0; /* 0 = start: not a word char */
    int prev_word = 0;
    for (const char *p = s; *p; p += l) {
        unsigned cp = tk_utf8_cp(p, &l);
        unsigned up = cp < 0x80 ? (unsigned)toupper((int)cp) : cp;
        if (up >= 'A' && up <= 'E' && !prev_word) {
            int nl;
            unsigned next = p[l] ? tk_utf8_cp(p + l, &nl) : 0;
            if (!p[l] || !tk_is_word_cp(next)) {
                if (n < cap) out[n] = (char)up;
                n++;
            }
        }
        prev_word = tk_is_word_cp(cp);
        prev = cp;
    }
    (void)prev;
    return n < cap ? n : cap;
}

char *tk_choice_answer_clean(const char *in) {
    char *pred = xstrdup(in);
    strip_set(&pred, "\n", 1, 1);
    /* few-shot continuation: keep the first paragraph */
    static const char *const trig[] = {"choice is", "answer is"};
    int icl = 0;
    for (int t = 0; t < 2; t++) {
        int c = 0;
        for (const char *p = strstr(pred, trig[t]); p; p = strstr(p + strlen(trig[t]), trig[t])) c++;
        if (c > 1) icl = 1;
    }
    if (icl) {
        char *cut = strstr(pred, "\n\n");
        if (cut) *cut = 0;
    }
    /* re.split("choice is|answer is"): the part after the last trigger */
    int answer_flag = 0;
    const char *last = NULL;
    size_t tl = 0;
    for (const char *p = pred; *p;) {
        const char *a = strstr(p, "choice is"), *b = strstr(p, "answer is");
        const char *m = a && (!b || a <= b) ? a : b;
        if (!m) break;
        last = m;
        tl = 9;
        p = m + tl;
    }
    if (last) {
        answer_flag = 1;
        char *rest = xstrdup(last + tl);
        free(pred);
        pred = rest;
    }
    strip_set(&pred, "\n", 1, 1);
    strip_set(&pred, ".", 0, 1);
    strip_set(&pred, "/", 0, 1);
    strip_set(&pred, " ", 1, 1);
    strip_set(&pred, ":", 1, 0);
    char letters[4096];
    int nl = find_choice_letters(pred, letters, (int)sizeof letters);
    char *r;
    if (nl > 0) {
        r = dupn(answer_flag ? &letters[0] : &letters[nl - 1], 1);
    } else {
        r = py_strip_dup(pred, strlen(pred));
        strip_set(&r, ".", 1, 1);
    }
    free(pred);
    strip_set(&r, ".", 0, 1);
    strip_set(&r, "/", 0, 1);
    return r;
}

/* the brace-matched text after the last "boxed" (parser.extract_answer) */
static char *after_last_boxed(const char *s) {
    const char *b = last_strstr(s, "boxed");
    const char *ans = b + 5;
    if (!*ans) return xstrdup("");
    if (*ans == '{') {
        int depth = 1;
        const char *p = ans + 1;
        size_t n = strlen(p), w = 0;
        char *o = xmalloc(n + 1);
        for (; *p; p++) {
            if (*p == '{') depth++;
            else if (*p == '}' && --depth == 0) break;
            o[w++] = *p;
        }
        o[w] = 0;
        return o;
    }
    const char *dollar = strchr(ans, '$');
    return py_strip_dup(ans, dollar ? (size_t)(dollar - ans) : strlen(ans));
}

/* re.findall(r"-?\d*\.?\d+", s.replace(",", ""))[-1], or "" */
static char *last_number(const char *in) {
    char *s = tk_replace(in, ",", "");
    size_t n = strlen(s), i = 0;
    size_t best_b = 0, best_e = 0;
    int found = 0;
    while (i < n) {
        size_t j = i + (s[i] == '-');
        size_t k = j;
        while (k < n && isdigit((unsigned char)s[k])) k++;
        size_t end = 0;
        if (k < n && s[k] == '.' && k + 1 < n && isdigit((unsigned char)s[k + 1])) {
            end = k + 1;
            while (end < n && isdigit((unsigned char)s[end])) end++;
        } else if (k > j) end = k;
        if (end) {
            best_b = i, best_e = end, found = 1;
            i = end;
        } else i++;
    }
    char *r = found ? dupn(s + best_b, best_e - best_b) : xstrdup("");
    free(s);
    return r;
}

char *tk_extract_answer(const char *text, tk_data d) {
    char *s = tk_replace(text, "\xd0\xba\xd0\xb8", ""); /* "ки" */
    if (d == TK_MMLU) {
        char *r = tk_choice_answer_clean(s);
        free(s);
        return r;
    }
    char *pred;
    const char *m;
    if (strstr(s, "final answer is $") && strstr(s, "$. I hope")) {
        const char *tmp = strstr(s, "final answer is $") + strlen("final answer is $");
        const char *e = strstr(tmp, "$. I hope");
        pred = py_strip_dup(tmp, e ? (size_t)(e - tmp) : strlen(tmp));
    } else if (strstr(s, "boxed")) {
        const char *b = last_strstr(s, "boxed");
        if (!b[5]) {
            free(s);
            return xstrdup(""); /* returned before any cleaning */
        }
        pred = after_last_boxed(s);
    } else if ((m = last_strstr(s, "he answer is"))) {
        pred = py_strip_dup(m + 12, strlen(m + 12));
    } else if ((m = last_strstr(s, "final answer is"))) {
        pred = py_strip_dup(m + 15, strlen(m + 15));
    } else if ((m = strstr(s, "\xe7\xad\x94\xe6\xa1\x88\xe6\x98\xaf"))) { /* 答案是: the first one */
        const char *p = m + 9;
        const char *e = strstr(p, "\xe7\xad\x94\xe6\xa1\x88\xe6\x98\xaf");
        char *part = py_strip_dup(p, e ? (size_t)(e - p) : strlen(p));
        char *cut = strstr(part, "\n\n");
        if (cut) *cut = 0;
        pred = py_strip_dup(part, strlen(part));
        free(part);
    } else {
        pred = last_number(s);
    }
    free(s);
    /* re.sub(r"\n\s*", "", pred) */
    {
        size_t w = 0;
        for (size_t i = 0; pred[i];) {
            if (pred[i] == '\n') {
                i++;
                while (pred[i] && isspace((unsigned char)pred[i])) i++;
                continue;
            }
            pred[w++] = pred[i++];
        }
        pred[w] = 0;
    }
    size_t n = strlen(pred);
    if (n && pred[0] == ':') memmove(pred, pred + 1, n--);
    if (n && pred[n - 1] == '.') pred[--n] = 0;
    if (n && pred[n - 1] == '/') pred[--n] = 0;
    char *r = tk_strip_string(pred, d == TK_MINERVA);
    free(pred);
    return r;
}

static int is_choice(const char *s) { return strlen(s) == 1 && s[0] >= 'A' && s[0] <= 'E'; }

static int all_choice_chars(const char *s) {
    for (; *s; s++)
        if (!(*s >= 'A' && *s <= 'E')) return 0;
    return 1;
}

char *tk_predict(const char *output, tk_data d, const char *gt, const char *const *stop) {
    static const char *const k_stop[] = {"</s>", "<|im_end|>", "<|endoftext|>", NULL};
    if (!stop) stop = k_stop;
    char *code = py_strip_dup(output, strlen(output));
    for (int i = 0; stop[i]; i++) {
        char *p = strstr(code, stop[i]);
        if (p) {
            char *c2 = py_strip_dup(code, (size_t)(p - code));
            free(code);
            code = c2;
        }
    }
    char *ex = tk_extract_answer(code, d);
    char *pred = tk_strip_string(ex, d == TK_MINERVA);
    free(ex);
    if (is_choice(gt) && !is_choice(pred)) {
        free(pred);
        pred = tk_choice_answer_clean(code);
    } else if (all_choice_chars(gt) && !all_choice_chars(pred)) {
        size_t w = 0;
        for (size_t i = 0; pred[i]; i++)
            if (pred[i] >= 'A' && pred[i] <= 'E') pred[w++] = pred[i];
        pred[w] = 0;
    }
    free(code);
    return pred;
}
