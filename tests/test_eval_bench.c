/* Benchmark loading: the four bundled test sets with their field
 * conventions, custom jsonl files, and bad input named by file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "eval/benchmark.h"
#include "test_util.h"

static int load(eval_benchmark *b, const char *bench, const char *qf, const char *af, long limit) {
    eval_benchmark_opts o = {.benchmark = bench, .question_field = qf, .answer_field = af, .compare = "auto",
                             .data_dir = test_repo_data_dir(), .limit = limit};
    lr_error_clear();
    return benchmark_load(b, &o);
}

/* The three benchmarks added for the paper's table are always read the
 * toolkit's way: its questions, its parsed golds, its judge. */
static void test_paper_sets(void) {
    eval_benchmark b;
    EXPECT(load(&b, "minerva_math", NULL, NULL, 0) == 0, "minerva: %s", lr_error_msg());
    EXPECT(b.n == 272 && b.mode == COMPARE_TOOLKIT && b.tk == TK_MINERVA, "minerva: %ld, mode %d", b.n, b.mode);
    if (b.n) EXPECT(!strcmp(b.items[0].gold, "1.6"), "minerva gold 0 (\\boxed{1.6}): %s", b.items[0].gold);
    benchmark_free(&b);
    EXPECT(load(&b, "olympiadbench", NULL, NULL, 0) == 0, "olympiadbench: %s", lr_error_msg());
    EXPECT(b.n == 675 && b.mode == COMPARE_TOOLKIT, "olympiadbench: %ld", b.n);
    if (b.n) EXPECT(!strcmp(b.items[0].gold, "2"), "olympiadbench gold 0: %s", b.items[0].gold);
    benchmark_free(&b);
    EXPECT(load(&b, "mmlu_stem", NULL, NULL, 3) == 0, "mmlu_stem: %s", lr_error_msg());
    EXPECT(b.n == 3 && b.mode == COMPARE_TOOLKIT && b.n_demos == 0, "mmlu_stem: %ld, %d demos in spec mode", b.n,
           b.n_demos);
    if (b.n) {
        EXPECT(!strcmp(b.items[0].gold, "C"), "mmlu gold 0 (index 2): %s", b.items[0].gold);
        EXPECT(strstr(b.items[0].question, "\nAnswer Choices: (A) maintain") != NULL, "mmlu question: %s",
               b.items[0].question);
    }
    benchmark_free(&b);
    /* toolkit prompt types: the 5 demonstrations of the toolkit's sh/eval.sh */
    eval_benchmark_opts o = {.benchmark = "mmlu_stem", .data_dir = test_repo_data_dir(), .limit = 2, .toolkit = 1,
                             .num_shots = -1};
    EXPECT(benchmark_load(&b, &o) == 0 && b.n_demos == 5, "mmlu demos: %d (%s)", b.n_demos, lr_error_msg());
    benchmark_free(&b);
    o.num_shots = 9;
    EXPECT(benchmark_load(&b, &o) != 0 && strstr(lr_error_msg(), "the file has 5"), "9 shots refused: %s",
           lr_error_msg());
    o.benchmark = "gsm8k", o.num_shots = 2;
    EXPECT(benchmark_load(&b, &o) != 0 && strstr(lr_error_msg(), "has none"), "gsm8k shots refused: %s",
           lr_error_msg());
    /* SVAMP as the toolkit asks it: a '.' closes the body */
    o.benchmark = "svamp", o.num_shots = 0, o.limit = 1;
    EXPECT(benchmark_load(&b, &o) == 0, "svamp toolkit: %s", lr_error_msg());
    if (b.n)
        EXPECT(strstr(b.items[0].question, "93 groups. How big") != NULL && !strcmp(b.items[0].gold, "145"),
               "svamp toolkit question '%s' gold '%s'", b.items[0].question, b.items[0].gold);
    benchmark_free(&b);
}

static void test_bundled(void) {
    eval_benchmark b;
    EXPECT(load(&b, "gsm8k", NULL, NULL, 0) == 0, "gsm8k: %s", lr_error_msg());
    EXPECT(b.n == 1319, "gsm8k has %ld problems", b.n);
    if (b.n > 0) {
        EXPECT(!strcmp(b.items[0].gold, "18"), "gsm8k gold 0 = %s", b.items[0].gold);
        EXPECT(!strncmp(b.items[0].question, "Janet", 5), "gsm8k q0 = %.20s", b.items[0].question);
        EXPECT(b.items[0].line == 1 && b.mode == COMPARE_NUMERIC, "line/mode");
    }
    benchmark_free(&b);

    EXPECT(load(&b, "svamp", NULL, NULL, 3) == 0, "svamp: %s", lr_error_msg());
    EXPECT(b.n == 3, "--limit 3 gives %ld", b.n);
    if (b.n > 0) {
        EXPECT(!strcmp(b.items[0].gold, "145"), "svamp gold 145.0 printed as %s", b.items[0].gold);
        EXPECT(!strcmp(b.items[0].question,
                       "There are 87 oranges and 290 bananas in Philip's collection. If the bananas are organized into "
                       "2 groups and oranges are organized into 93 groups How big is each group of bananas?"),
               "svamp question = Body + ' ' + Question: %s", b.items[0].question);
    }
    benchmark_free(&b);

    EXPECT(load(&b, "asdiv", NULL, NULL, 0) == 0, "asdiv: %s", lr_error_msg());
    EXPECT(b.n == 2215, "asdiv has %ld", b.n);
    if (b.n > 0) {
        EXPECT(!strcmp(b.items[0].gold, "9 (apples)"), "asdiv gold %s", b.items[0].gold);
        EXPECT(!strcmp(b.items[0].question,
                       "Seven red apples and two green apples are in the basket. How many apples are in the basket?"),
               "asdiv question %s", b.items[0].question);
    }
    benchmark_free(&b);

    EXPECT(load(&b, "math500", NULL, NULL, 0) == 0, "math500: %s", lr_error_msg());
    EXPECT(b.n == 500 && b.mode == COMPARE_MATH, "math500 has %ld, mode %d", b.n, b.mode);
    if (b.n > 0) EXPECT(!strcmp(b.items[0].gold, "\\left( 3, \\frac{\\pi}{2} \\right)"), "math gold %s", b.items[0].gold);
    benchmark_free(&b);

    EXPECT(load(&b, "gsm9k", NULL, NULL, 0) != 0, "unknown name refused");
    EXPECT(strstr(lr_error_msg(), "unknown benchmark") != NULL, "message: %s", lr_error_msg());
    /* a bundled name with a data dir that lacks it: the searched place is named */
    eval_benchmark_opts o = {.benchmark = "gsm8k", .compare = "auto", .data_dir = "/nonexistent-dir"};
    EXPECT(benchmark_load(&b, &o) != 0 && strstr(lr_error_msg(), "/nonexistent-dir"), "missing data dir: %s",
           lr_error_msg());
}

static void test_custom(void) {
    eval_benchmark b;
    EXPECT(load(&b, test_data_path("eval/mixed.jsonl"), NULL, NULL, 0) == 0, "mixed: %s", lr_error_msg());
    EXPECT(b.n == 3 && !strcmp(b.name, "mixed"), "n %ld name %s", b.n, b.name);
    if (b.n == 3) {
        EXPECT(!strcmp(b.items[0].gold, "1,234"), "plain gold %s", b.items[0].gold);
        EXPECT(!strcmp(b.items[1].gold, "no number here"), "text gold kept: %s", b.items[1].gold);
        EXPECT(!strcmp(b.items[2].gold, "-7"), "#### gold %s", b.items[2].gold);
        answer_verdict v = answer_judge(b.mode, "", b.items[1].gold);
        EXPECT(v.gold_unparseable, "text gold flagged");
    }
    benchmark_free(&b);

    EXPECT(load(&b, test_data_path("eval/custom_fields.jsonl"), "title,q", "a", 0) == 0, "custom: %s",
           lr_error_msg());
    if (b.n == 2) {
        EXPECT(!strcmp(b.items[0].question, "T1 How many?"), "joined fields: %s", b.items[0].question);
        EXPECT(!strcmp(b.items[0].gold, "3.5") && !strcmp(b.items[1].gold, "145"), "numeric golds %s %s",
               b.items[0].gold, b.items[1].gold);
    }
    benchmark_free(&b);

    /* numeric golds are written out plainly, never with an exponent */
    EXPECT(load(&b, test_data_path("eval/numeric_golds.jsonl"), NULL, NULL, 0) == 0, "numeric golds: %s",
           lr_error_msg());
    const char *want[] = {"100", "1000000", "0.00005", "2.5", "-7", "100000000000000000000"};
    EXPECT(b.n == 6, "numeric golds: %ld", b.n);
    for (long i = 0; i < b.n && i < 6; i++) {
        EXPECT(!strcmp(b.items[i].gold, want[i]), "gold %ld: %s, expected %s", i, b.items[i].gold, want[i]);
        double v;
        EXPECT(answer_parse_number_strict(b.items[i].gold, 1, &v), "gold %s parses", b.items[i].gold);
    }
    benchmark_free(&b);

    /* every bundled numeric gold reads as a number, except ASDiv's text answers */
    const char *names[] = {"gsm8k", "svamp", "asdiv"};
    for (int k = 0; k < 3; k++) {
        EXPECT(load(&b, names[k], NULL, NULL, 0) == 0, "%s", names[k]);
        long bad = 0;
        for (long i = 0; i < b.n; i++) bad += answer_judge(b.mode, "", b.items[i].gold).gold_unparseable;
        if (k < 2) EXPECT(bad == 0, "%s: %ld golds not numbers", names[k], bad);
        else EXPECT(bad > 0 && bad < 200, "asdiv: %ld text golds", bad);
        fprintf(stderr, "note: %s: %ld of %ld golds are not numbers\n", names[k], bad, b.n);
        benchmark_free(&b);
    }
}

static void expect_bad(const char *rel, const char *qf, const char *want) {
    eval_benchmark b;
    const char *path = test_data_path(rel);
    EXPECT(load(&b, path, qf, NULL, 0) != 0, "%s refused", rel);
    EXPECT(strstr(lr_error_msg(), want) != NULL, "%s: message [%s] lacks [%s]", rel, lr_error_msg(), want);
    EXPECT(b.items == NULL && b.n == 0, "%s: nothing left allocated", rel);
}

static void test_bad(void) {
    expect_bad("eval/bad_json.jsonl", NULL, "bad_json.jsonl:2: not a JSON object");
    expect_bad("eval/missing_field.jsonl", NULL, "missing_field.jsonl:3: missing field 'question'");
    expect_bad("eval/bad_answer_type.jsonl", NULL, "bad_answer_type.jsonl:1: field 'answer' must be a string or a number");
    expect_bad("eval/bad_utf8.jsonl", NULL, "bad_utf8.jsonl:1: invalid UTF-8");
    expect_bad("eval/empty.jsonl", NULL, "no problems");
    expect_bad("eval/custom_fields.jsonl", "q,nope", "custom_fields.jsonl:1: missing field 'nope'");
    expect_bad("eval/does_not_exist.jsonl", NULL, "cannot open");
}

static void test_utf8(void) {
    EXPECT(eval_utf8_valid("plain \xc3\xa9 \xe2\x88\x92 \xf0\x9f\x98\x80"), "valid");
    EXPECT(!eval_utf8_valid("\xc0\xaf"), "overlong");
    EXPECT(!eval_utf8_valid("\xed\xa0\x80"), "surrogate");
    EXPECT(!eval_utf8_valid("\xe2\x88"), "truncated");
}

int main(void) {
    test_bundled();
    test_paper_sets();
    test_custom();
    test_bad();
    test_utf8();
    return test_finish("test_eval_bench");
}
