/* The toolkit's reading of benchmark records and its prompt templates. */
#include "eval/tk_bench.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "common/error.h"

static const char *str_field(const cJSON *obj, const char *name, const char *where) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it) {
        lr_error_set(where, "missing field '%s'", name);
        return NULL;
    }
    if (!cJSON_IsString(it)) {
        lr_error_set(where, "field '%s' must be a string", name);
        return NULL;
    }
    return it->valuestring;
}

/* Python str() of a JSON scalar: strings as they are, numbers as repr */
static char *py_str(const cJSON *it) {
    if (cJSON_IsString(it)) return xstrdup(it->valuestring);
    char buf[64];
    if (cJSON_IsNumber(it)) {
        double v = it->valuedouble;
        /* JSON integers load as Python int, the rest as float */
        if (v == floor(v) && fabs(v) < 2e9) snprintf(buf, sizeof buf, "%d", it->valueint);
        else tk_float_repr(v, buf);
        return xstrdup(buf);
    }
    if (cJSON_IsBool(it)) return xstrdup(cJSON_IsTrue(it) ? "True" : "False");
    return NULL;
}

char *tk_gold(const cJSON *obj, tk_data d, const char *field, const char *where) {
    char *gt = NULL;
    const char *s;
    switch (d) {
    case TK_GSM8K: {
        if (!(s = str_field(obj, "answer", where))) return NULL;
        const char *m = strstr(s, "####");
        if (!m || strstr(m + 4, "####")) {
            lr_error_set(where, "the answer must hold exactly one '####' (the toolkit splits on it)");
            return NULL;
        }
        return tk_strip_string(m + 4, 0);
    }
    case TK_MATH:
    case TK_MINERVA: {
        if (!(s = str_field(obj, "solution", where))) return NULL;
        char *a = tk_extract_answer(s, d);
        if (d == TK_MATH) {
            gt = tk_strip_string(a, 0);
            free(a);
            return gt;
        }
        char *b = tk_replace(a, "\\neq", "\\ne"), *c = tk_replace(b, "\\leq", "\\le");
        gt = tk_replace(c, "\\geq", "\\ge");
        free(a), free(b), free(c);
        return gt;
    }
    case TK_SVAMP: {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "Answer");
        if (!it || !(cJSON_IsNumber(it) || cJSON_IsString(it))) {
            lr_error_set(where, "missing field 'Answer' (number)");
            return NULL;
        }
        char buf[64];
        if (cJSON_IsNumber(it)) tk_float_repr(it->valuedouble, buf); /* SVAMP answers are floats */
        char *r = tk_strip_string(cJSON_IsNumber(it) ? buf : it->valuestring, 0);
        return r;
    }
    case TK_ASDIV: {
        if (!(s = str_field(obj, "answer", where))) return NULL;
        /* re.sub(r"\(.*?\)", "", answer) */
        size_t n = strlen(s), w = 0;
        char *t = xmalloc(n + 1);
        for (size_t i = 0; i < n;) {
            const char *close = s[i] == '(' ? strchr(s + i, ')') : NULL;
            if (close && !memchr(s + i, '\n', (size_t)(close - s - i))) {
                i = (size_t)(close - s) + 1;
                continue;
            }
            t[w++] = s[i++];
        }
        t[w] = 0;
        gt = tk_strip_string(t, 0);
        free(t);
        return gt;
    }
    case TK_OLYMPIAD: {
        const cJSON *fa = cJSON_GetObjectItemCaseSensitive(obj, "final_answer");
        if (!cJSON_IsArray(fa) || !cJSON_IsString(cJSON_GetArrayItem(fa, 0))) {
            lr_error_set(where, "field 'final_answer' must be a list of strings");
            return NULL;
        }
        const char *a = cJSON_GetArrayItem(fa, 0)->valuestring;
        size_t n = strlen(a), i = 0;
        while (i < n && a[i] == '$') i++;
        while (n > i && a[n - 1] == '$') n--;
        char *t = strndup(a + i, n - i);
        gt = tk_strip_string(t, 0);
        free(t);
        return gt;
    }
    case TK_MMLU: {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "answer");
        if (!cJSON_IsNumber(it) || it->valueint < 0 || it->valueint > 3 || it->valuedouble != it->valueint) {
            lr_error_set(where, "field 'answer' must be the index 0-3 of the right choice");
            return NULL;
        }
        char l[2] = {(char)('A' + it->valueint), 0};
        return tk_strip_string(l, 0);
    }
    case TK_OTHER: {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, field);
        if (!it) {
            lr_error_set(where, "missing field '%s'", field);
            return NULL;
        }
        char *v = py_str(it);
        if (!v) {
            lr_error_set(where, "field '%s' must be a string or a number", field);
            return NULL;
        }
        gt = tk_strip_string(v, 0);
        free(v);
        return gt;
    }
    }
    return NULL;
}

static char *joined(const char *a, const char *sep, const char *b) {
    char *r = xmalloc(strlen(a) + strlen(sep) + strlen(b) + 1);
    sprintf(r, "%s%s%s", a, sep, b);
    return r;
}

char *tk_question(const cJSON *obj, tk_data d, const char *fields, const char *gt, const char *where) {
    char *q = NULL;
    if (d == TK_ASDIV || d == TK_SVAMP) {
        const char *body = str_field(obj, d == TK_ASDIV ? "body" : "Body", where);
        const char *ques = body ? str_field(obj, d == TK_ASDIV ? "question" : "Question", where) : NULL;
        if (!ques) return NULL;
        char *b = tk_py_strip(body), *qs = tk_py_strip(ques);
        size_t bl = strlen(b);
        if (d == TK_SVAMP && (bl == 0 || b[bl - 1] != '.')) {
            char *b2 = joined(b, "", ".");
            free(b);
            b = b2;
        }
        q = joined(b, " ", qs);
        free(b), free(qs);
    } else if (d == TK_MMLU) {
        const char *ques = str_field(obj, "question", where);
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(obj, "choices");
        if (!ques) return NULL;
        if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != 4) {
            lr_error_set(where, "field 'choices' must be a list of 4 options");
            return NULL;
        }
        char *qs = tk_py_strip(ques);
        q = joined(qs, "\nAnswer Choices:", "");
        free(qs);
        for (int i = 0; i < 4; i++) {
            char *o = py_str(cJSON_GetArrayItem(ch, i));
            if (!o) {
                lr_error_set(where, "choice %d is not a string or a number", i);
                free(q);
                return NULL;
            }
            char *os = tk_py_strip(o);
            char *q2 = xmalloc(strlen(q) + strlen(os) + 8);
            sprintf(q2, "%s (%c) %s", q, 'A' + i, os);
            free(q), free(o), free(os);
            q = q2;
        }
    } else if (d == TK_OTHER) {
        char *spec = xstrdup(fields), *save = NULL;
        for (char *f = strtok_r(spec, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            const char *v = str_field(obj, f, where);
            if (!v) {
                free(spec);
                free(q);
                return NULL;
            }
            char *q2 = q ? joined(q, " ", v) : xstrdup(v);
            free(q);
            q = q2;
        }
        free(spec);
        if (!q) q = xstrdup("");
    } else {
        /* the first of question / problem / Question / input */
        static const char *const keys[] = {"question", "problem", "Question", "input"};
        for (int k = 0; k < 4 && !q; k++) {
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, keys[k]);
            if (it) {
                if (!cJSON_IsString(it)) {
                    lr_error_set(where, "field '%s' must be a string", keys[k]);
                    return NULL;
                }
                q = xstrdup(it->valuestring);
            }
        }
        if (!q) {
            lr_error_set(where, "missing field 'question' (or 'problem')");
            return NULL;
        }
    }
    /* yes/no and true/false questions get told so */
    if (gt) {
        if (!strcasecmp(gt, "true") || !strcasecmp(gt, "false")) {
            char *q2 = joined(q, "", " (True or False)");
            free(q);
            q = q2;
        }
        if (!strcasecmp(gt, "yes") || !strcasecmp(gt, "no")) {
            char *q2 = joined(q, "", " (Yes or No)");
            free(q);
            q = q2;
        }
    }
    char *r = tk_py_strip(q);
    free(q);
    if (!*r) {
        lr_error_set(where, "empty question");
        free(r);
        return NULL;
    }
    return r;
}

/* ---- prompts (utils.PROMPT_TEMPLATES / construct_prompt) */
static const char *const k_names[] = {"spec", "qwen25-math-cot", "direct", "cot"};

int tk_prompt_type_parse(const char *name, tk_prompt_type *t) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, k_names[i])) {
            *t = (tk_prompt_type)i;
            return 0;
        }
    return -1;
}

const char *tk_prompt_type_name(tk_prompt_type t) { return k_names[t]; }

#define QWEN25_HEAD                                                                                                 \
    "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"      \
    "<|im_start|>user\n"
#define QWEN25_TAIL "<|im_end|>\n<|im_start|>assistant\n"

/* input_template.format(input=x) */
static char *fill(tk_prompt_type t, const char *x) {
    if (t == PT_QWEN25_MATH_COT) return joined(QWEN25_HEAD, x, QWEN25_TAIL);
    return joined("Question: ", x, "\nAnswer: ");
}

char *tk_render_prompt(tk_prompt_type t, const char *question, const char *const *demo_q,
                       const char *const *demo_a, int n_demos) {
    const char *splitter = t == PT_COT ? "\n\n\n" : "\n\n";
    char *full;
    if (n_demos <= 0) full = fill(t, question);
    else {
        /* the demonstrations joined by the splitter */
        char *demo = xstrdup("");
        for (int i = 0; i < n_demos; i++) {
            char *one;
            if (t == PT_QWEN25_MATH_COT) one = joined(demo_q[i], "\n", demo_a[i]); /* all in one user turn */
            else {
                char *f = fill(t, demo_q[i]);
                one = joined(f, "", demo_a[i]);
                free(f);
            }
            char *d2 = i ? joined(demo, splitter, one) : xstrdup(one);
            free(demo), free(one);
            demo = d2;
        }
        if (t == PT_QWEN25_MATH_COT) {
            char *inner = xmalloc(strlen(demo) + strlen(splitter) + strlen(question) + 1);
            sprintf(inner, "%s%s%s", demo, splitter, question);
            full = fill(t, inner);
            free(inner);
        } else {
            char *ctx = fill(t, question);
            full = xmalloc(strlen(demo) + strlen(splitter) + strlen(ctx) + 1);
            sprintf(full, "%s%s%s", demo, splitter, ctx);
            free(ctx);
        }
        free(demo);
    }
    /* .strip(" ") */
    size_t a = 0, n = strlen(full);
    while (a < n && full[a] == ' ') a++;
    while (n > a && full[n - 1] == ' ') n--;
    memmove(full, full + a, n - a);
    full[n - a] = 0;
    return full;
}

const char *const *tk_stop_words(tk_prompt_type t) {
    static const char *const base[] = {"</s>", "<|im_end|>", "<|endoftext|>", NULL};
    static const char *const cot[] = {"</s>", "<|im_end|>", "<|endoftext|>", "\n\nQuestion:", NULL};
    return t == PT_COT ? cot : base;
}
