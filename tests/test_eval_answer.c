/* Answer extraction and verdicts (SPEC §2) on the realistic model outputs
 * of tests/data/eval/extraction_cases.jsonl (>= 100 per benchmark, made by
 * tests/reference/make_extraction_cases.py with verdicts known by
 * construction), plus the number/normalisation building blocks and the
 * Wilson interval. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "eval/answer.h"
#include "eval/wilson.h"
#include "test_util.h"

static void test_cases(void) {
    lr_line_reader r;
    const char *path = test_data_path("eval/extraction_cases.jsonl");
    EXPECT(lr_lines_open(&r, path) == 0, "open %s", path);
    if (!r.f) return;
    const char *benches[] = {"gsm8k", "svamp", "asdiv", "math500"};
    int count[4] = {0}, n_correct_cases[4] = {0}, n_wrong_cases[4] = {0};
    char *line;
    long len;
    while ((len = lr_lines_next(&r, &line)) >= 0) {
        if (len == 0) continue;
        cJSON *c = cJSON_Parse(line);
        EXPECT(c != NULL, "line %ld parses", r.line_no);
        if (!c) continue;
        const char *b = cJSON_GetObjectItem(c, "benchmark")->valuestring;
        const char *out = cJSON_GetObjectItem(c, "output")->valuestring;
        const char *gold = cJSON_GetObjectItem(c, "gold")->valuestring;
        const char *want = cJSON_GetObjectItem(c, "extracted")->valuestring;
        int want_ok = cJSON_IsTrue(cJSON_GetObjectItem(c, "correct"));
        int bi = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(b, benches[i])) bi = i;
        EXPECT(bi >= 0, "line %ld: benchmark %s", r.line_no, b);
        if (bi < 0) {
            cJSON_Delete(c);
            continue;
        }
        count[bi]++;
        (want_ok ? n_correct_cases : n_wrong_cases)[bi]++;
        answer_method m;
        char *got = answer_extract(out, &m);
        EXPECT(strcmp(got, want) == 0, "line %ld (%s): extracted [%s], expected [%s]", r.line_no, b, got, want);
        EXPECT(m == ANSWER_NONE ? *got == 0 : *got != 0, "line %ld: method %d vs [%s]", r.line_no, m, got);
        answer_verdict v = answer_judge(bi == 3 ? COMPARE_MATH : COMPARE_NUMERIC, got, gold);
        EXPECT(v.correct == want_ok, "line %ld (%s): verdict %d, expected %d (extracted [%s], gold [%s])",
               r.line_no, b, v.correct, want_ok, got, gold);
        free(got);
        cJSON_Delete(c);
    }
    lr_lines_close(&r);
    for (int i = 0; i < 4; i++) {
        EXPECT(count[i] >= 100, "%s: %d cases (need >= 100)", benches[i], count[i]);
        EXPECT(n_correct_cases[i] >= 20 && n_wrong_cases[i] >= 10, "%s: %d right / %d wrong cases", benches[i],
               n_correct_cases[i], n_wrong_cases[i]);
    }
}

static void test_methods(void) {
    answer_method m;
    char *s = answer_extract("\\boxed{1} then \\boxed{2}", &m);
    EXPECT(!strcmp(s, "2") && m == ANSWER_BOXED, "last box: %s", s);
    free(s);
    s = answer_extract("\\boxed{\\frac{a}{\\sqrt{b}}} done", &m);
    EXPECT(!strcmp(s, "\\frac{a}{\\sqrt{b}}"), "nested braces: %s", s);
    free(s);
    s = answer_extract("\\boxed{a\\}b}", &m);
    EXPECT(!strcmp(s, "a\\}b"), "escaped brace: %s", s);
    free(s);
    s = answer_extract("so \\boxed 7 is it", &m);
    EXPECT(!strcmp(s, "7") && m == ANSWER_BOXED, "brace-less box: %s", s);
    free(s);
    s = answer_extract("Thus the answer is 12 apples.\nThen 5 more.", &m);
    EXPECT(!strcmp(s, "12 apples") && m == ANSWER_IS, "answer is: %s", s);
    free(s);
    s = answer_extract("x2 is 3, y is -4.5 and z is 5-2", &m);
    EXPECT(!strcmp(s, "2") && m == ANSWER_LAST_NUMBER, "last number with binary minus: %s", s);
    free(s);
    s = answer_extract("it is -4.5.", &m);
    EXPECT(!strcmp(s, "-4.5"), "negative decimal: %s", s);
    free(s);
    s = answer_extract("nothing", &m);
    EXPECT(!strcmp(s, "") && m == ANSWER_NONE, "none: %s", s);
    free(s);
    s = answer_extract(NULL, &m);
    EXPECT(!strcmp(s, "") && m == ANSWER_NONE, "NULL");
    free(s);
}

static void test_numbers(void) {
    double v = 0;
    EXPECT(answer_scan_number("1,234.5kg", &v) == 7 && v == 1234.5, "grouped %g", v);
    EXPECT(answer_scan_number("1,23", &v) == 1 && v == 1, "not a group %g", v);
    EXPECT(answer_scan_number("-3/4", &v) == 4 && v == -0.75, "fraction %g", v);
    EXPECT(answer_scan_number("3/0", &v) == 1 && v == 3, "zero denominator %g", v);
    EXPECT(answer_scan_number("\\frac{3}{4}", &v) == 11 && v == 0.75, "frac %g", v);
    EXPECT(answer_scan_number("-\\frac{ 1 }{ 8 }", &v) && v == -0.125, "signed frac %g", v);
    EXPECT(answer_scan_number("\\frac{x}{4}", &v) == 0, "symbolic frac");
    EXPECT(answer_scan_number(".5", &v) == 2 && v == 0.5, "leading dot %g", v);
    EXPECT(answer_scan_number(".", &v) == 0, "dot alone");
    EXPECT(answer_scan_number("abc", &v) == 0, "letters");
    EXPECT(answer_parse_number_strict("9 (apples)", 1, &v) && v == 9, "asdiv gold %g", v);
    EXPECT(!answer_parse_number_strict("3:30 p.m.", 1, &v), "time is not a number");
    EXPECT(!answer_parse_number_strict("2i", 0, &v), "2i in math mode");
    EXPECT(answer_parse_number_strict("\\$1,234.", 1, &v) && v == 1234, "money %g", v);
    EXPECT(answer_parse_number_lenient("2 \\times 9 = 18 apples", &v) && v == 18, "after '=' %g", v);
    EXPECT(answer_parse_number_lenient("\\text{about } 7", &v) && v == 7, "text then number %g", v);
    EXPECT(!answer_parse_number_lenient("none", &v), "no number");
    EXPECT(answer_numbers_equal(100000, 100009), "rel tol inside");
    EXPECT(!answer_numbers_equal(100000, 100011), "rel tol outside");
    EXPECT(answer_numbers_equal(0, 0) && !answer_numbers_equal(0, 1e-9), "zero exact");
    EXPECT(!answer_numbers_equal(NAN, NAN), "nan");
    /* a digit string too long to be an answer is not parsed */
    char big[200];
    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = 0;
    EXPECT(answer_scan_number(big, &v) == 0, "huge digit run");
}

static void test_normalize(void) {
    struct {
        const char *in, *want;
    } cases[] = {
        {"\\left( 3, \\dfrac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
        {"\\frac12", "\\frac{1}{2}"},
        {"\\tfrac{1}2", "\\frac{1}{2}"},
        {"\\sqrt2+\\sqrt{3}", "\\sqrt{2}+\\sqrt{3}"},
        {"90^\\circ", "90"},
        {"90^{\\circ}", "90"},
        {"\\text{(A)}", "(A)"},
        {"10,\\!080", "10,080"},
        {"5.0", "5"},
        {"2.50", "2.5"},
        {".5", "0.5"},
        {"x = 5", "5"},
        {"5x-7y+11z+4=0", "5x-7y+11z+4=0"},
        {"{5}", "5"},
        {"\\$32", "32"},
        {"50\\%", "50"},
        {"\\rightarrow", "\\rightarrow"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = answer_normalize_math(cases[i].in);
        EXPECT(!strcmp(s, cases[i].want), "normalize [%s] -> [%s], expected [%s]", cases[i].in, s, cases[i].want);
        free(s);
    }
    answer_verdict v = answer_judge(COMPARE_MATH, "5", "");
    EXPECT(v.gold_unparseable && !v.correct, "empty math gold");
    v = answer_judge(COMPARE_NUMERIC, "5", "   ");
    EXPECT(v.gold_unparseable && !v.correct, "blank gold");
    v = answer_judge(COMPARE_NUMERIC, "yes", "Yes");
    EXPECT(v.gold_unparseable && v.correct, "text gold");
    v = answer_judge(COMPARE_NUMERIC, "", "Yes");
    EXPECT(v.gold_unparseable && !v.correct, "no answer vs text gold");
    v = answer_judge(COMPARE_NUMERIC, NULL, NULL);
    EXPECT(!v.correct, "NULLs");
}

static void test_wilson(void) {
    double lo, hi;
    eval_wilson(5, 10, EVAL_Z95, &lo, &hi);
    EXPECT_NEAR(lo, 0.2366, 1e-4, "5/10 low");
    EXPECT_NEAR(hi, 0.7634, 1e-4, "5/10 high");
    eval_wilson(0, 10, EVAL_Z95, &lo, &hi);
    EXPECT_NEAR(lo, 0.0, 1e-12, "0/10 low");
    EXPECT_NEAR(hi, 0.2775, 1e-4, "0/10 high");
    eval_wilson(10, 10, EVAL_Z95, &lo, &hi);
    EXPECT_NEAR(lo, 0.7225, 1e-4, "10/10 low");
    EXPECT_NEAR(hi, 1.0, 1e-12, "10/10 high");
    eval_wilson(0, 0, EVAL_Z95, &lo, &hi);
    EXPECT(lo == 0 && hi == 1, "n = 0");
}

int main(void) {
    test_cases();
    test_methods();
    test_numbers();
    test_normalize();
    test_wilson();
    return test_finish("test_eval_answer");
}
