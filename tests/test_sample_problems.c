/* The jsonl problems reader: fields, ids, max_problems, bad lines with
 * file:line errors or --skip-bad-lines counting, invalid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "io/problems.h"
#include "test_util.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][256];
    static int k;
    char *p = path[k++ & 7];
    snprintf(p, 256, "%s/%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

int main(void) {
    lr_problem_opts o = {"question", "answer", NULL, 0, 0};
    lr_problem_set s;
    const char *good = write_tmp("lr_probs_good.jsonl",
                                 "{\"question\": \"What is 2+2?\", \"answer\": \"#### 4\"}\n"
                                 "\n"
                                 "{\"question\": \"caf\\u00e9?\", \"answer\": 7, \"id\": \"q-7\"}\r\n"
                                 "{\"question\": \"last\", \"answer\": \"x\", \"id\": 12}");
    EXPECT(problems_load(good, &o, &s) == 0, "%s", lr_error_msg());
    EXPECT(s.n == 3, "n %d", s.n);
    if (s.n == 3) {
        EXPECT(!strcmp(s.items[1].question, "caf\xc3\xa9?"), "unicode escape");
        EXPECT(!strcmp(s.items[1].answer, "7"), "numeric answer as text: %s", s.items[1].answer);
        EXPECT(!strcmp(s.items[0].id, "0") && !strcmp(s.items[2].id, "2"), "index ids");
        EXPECT(s.items[2].line == 4 && s.items[1].line == 3, "source lines");
    }
    uint64_t d1 = s.digest;
    problems_free(&s);

    o.id_field = "id";
    EXPECT(problems_load(good, &o, &s) != 0, "line 1 lacks the id field");
    EXPECT(strstr(lr_error_msg(), "lr_probs_good.jsonl:1: field 'id' is missing") != NULL, "msg: %s", lr_error_msg());
    o.skip_bad_lines = 1;
    EXPECT(problems_load(good, &o, &s) == 0 && s.n == 2 && s.n_bad_lines == 1, "skip counts");
    if (s.n == 2) EXPECT(!strcmp(s.items[0].id, "q-7") && !strcmp(s.items[1].id, "12"), "id field");
    problems_free(&s);
    o.id_field = NULL;
    o.skip_bad_lines = 0;

    o.max_problems = 2;
    EXPECT(problems_load(good, &o, &s) == 0 && s.n == 2, "max_problems");
    EXPECT(s.digest != d1, "digest covers the lines read");
    problems_free(&s);
    o.max_problems = 0;

    const char *bad = write_tmp("lr_probs_bad.jsonl", "{\"question\": \"ok\", \"answer\": \"1\"}\n"
                                                      "{\"question\": \"broken\", \n"
                                                      "[1, 2]\n"
                                                      "{\"question\": 5, \"answer\": \"1\"}\n"
                                                      "{\"question\": \"bad \xff utf8\", \"answer\": \"1\"}\n"
                                                      "{\"question\": \"no answer\"}\n");
    EXPECT(problems_load(bad, &o, &s) != 0, "broken JSON is an error");
    EXPECT(strstr(lr_error_msg(), "lr_probs_bad.jsonl:2: not a JSON object") != NULL, "msg: %s", lr_error_msg());
    o.skip_bad_lines = 1;
    EXPECT(problems_load(bad, &o, &s) == 0 && s.n == 1 && s.n_bad_lines == 5, "n %d bad %ld", s.n, s.n_bad_lines);
    problems_free(&s);
    o.skip_bad_lines = 0;
    o.answer_field = "";
    const char *noans = write_tmp("lr_probs_noans.jsonl", "{\"question\": \"no answer\"}\n");
    EXPECT(problems_load(noans, &o, &s) == 0 && s.n == 1 && !strcmp(s.items[0].answer, ""), "no answer field");
    problems_free(&s);
    o.answer_field = "answer";
    EXPECT(problems_load(noans, &o, &s) != 0 && strstr(lr_error_msg(), ":1: field 'answer' is missing"), "%s",
           lr_error_msg());
    const char *tp = write_tmp("lr_probs_types.jsonl", "{\"question\": \"bad \xff utf8\", \"answer\": \"1\"}\n");
    EXPECT(problems_load(tp, &o, &s) != 0 && strstr(lr_error_msg(), "not valid UTF-8"), "%s", lr_error_msg());
    EXPECT(problems_load("/nonexistent/p.jsonl", &o, &s) != 0 && strstr(lr_error_msg(), "/nonexistent/p.jsonl"),
           "missing file: %s", lr_error_msg());

    EXPECT(lr_utf8_valid("\xe2\x82\xac", 3) && !lr_utf8_valid("\xc0\xaf", 2) && !lr_utf8_valid("\xed\xa0\x80", 3) &&
               !lr_utf8_valid("\xe2\x82", 2),
           "utf8 validator");
    return test_finish("test_sample_problems");
}
