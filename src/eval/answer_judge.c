/* Verdicts: is an extracted answer the gold answer? (SPEC §2) */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "eval/answer.h"
#include "eval/toolkit.h"

/* Text answers ("Yes", "Mrs. Hilt", "\text{Evelyn}"): light normalisation,
 * case-folded, whitespace collapsed, trailing '.' dropped. */
static char *canonical_text(const char *s) {
    char *t = answer_normalize_light(s);
    size_t w = 0;
    int space = 1; /* drops leading whitespace */
    for (size_t i = 0; t[i]; i++) {
        unsigned char c = (unsigned char)t[i];
        if (isspace(c)) {
            if (!space) t[w++] = ' ';
            space = 1;
        } else {
            t[w++] = (char)tolower(c);
            space = 0;
        }
    }
    while (w && (t[w - 1] == ' ' || t[w - 1] == '.')) w--;
    t[w] = 0;
    return t;
}

static int is_blank(const char *s) {
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

static int all_letters(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s)) return 0;
    return 1;
}

static answer_verdict judge_numeric(const char *pred, const char *gold) {
    answer_verdict v = {0, 0};
    double g, p;
    if (is_blank(gold)) {
        v.gold_unparseable = 1;
        return v;
    }
    if (answer_parse_number_strict(gold, 1, &g)) {
        v.correct = answer_parse_number_lenient(pred, &p) && answer_numbers_equal(p, g);
        return v;
    }
    /* Not a number ("Yes", "3:30 p.m."): flagged, compared as text so that a
     * model which writes the same words still counts. */
    v.gold_unparseable = 1;
    char *cg = canonical_text(gold), *cp = canonical_text(pred);
    v.correct = *cp && strcmp(cg, cp) == 0;
    free(cg);
    free(cp);
    return v;
}

static answer_verdict judge_math(const char *pred, const char *gold) {
    answer_verdict v = {0, 0};
    char *ng = answer_normalize_math(gold), *np = answer_normalize_math(pred);
    double g, p;
    if (!*ng) v.gold_unparseable = 1;
    else if (!*np) v.correct = 0;
    else if (answer_parse_number_strict(ng, 0, &g) && answer_parse_number_strict(np, 0, &p))
        v.correct = answer_numbers_equal(p, g);
    else if (all_letters(ng) && all_letters(np)) v.correct = strcasecmp(ng, np) == 0; /* "East" == "east" */
    else v.correct = strcmp(ng, np) == 0;
    free(ng);
    free(np);
    return v;
}

answer_verdict answer_judge(answer_mode mode, const char *pred, const char *gold) {
    if (!pred) pred = "";
    if (!gold) gold = "";
    if (mode == COMPARE_TOOLKIT) {
        /* the toolkit grades whatever it extracted, an empty gold included */
        answer_verdict v = {tk_math_equal(pred, gold), *gold == 0};
        return v;
    }
    return mode == COMPARE_MATH ? judge_math(pred, gold) : judge_numeric(pred, gold);
}
