/* jsonl problems: any bytes as the problems file, read with default and
 * custom fields, strict and --skip-bad-lines. Every accepted problem is
 * valid UTF-8 without a NUL inside (the NUL check of issue 12). */
#include "fuzz_util.h"
#include "io/problems.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[320];
    fz_path(path, sizeof path, "p.jsonl");
    fz_write(path, data, size);
    const lr_problem_opts opts[3] = {{"question", "answer", NULL, 0, 0},
                                     {"question", "answer", "id", 0, 1},
                                     {"q", NULL, NULL, 3, 1}};
    for (int k = 0; k < 3; k++) {
        lr_problem_set s;
        if (problems_load(path, &opts[k], &s) != 0) {
            if (!lr_error_msg()[0]) abort();
            lr_error_clear();
            continue;
        }
        if (opts[k].max_problems > 0 && s.n > opts[k].max_problems) abort();
        for (int i = 0; i < s.n; i++) {
            const lr_problem *p = &s.items[i];
            if (!p->question || !p->answer || !p->id || p->line < 1) abort();
            if (!lr_utf8_valid(p->question, strlen(p->question)) || !lr_utf8_valid(p->answer, strlen(p->answer)))
                abort();
        }
        problems_free(&s);
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_dir();
    return 0;
}
