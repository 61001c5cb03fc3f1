/* Bad input to `lightreasoner eval`: exit 2, "lightreasoner: error:
 * <file>: <what>", no crash, and an existing run file left untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_eval_util.h"
#include "test_util.h"

static const char *g_dir, *g_run, *g_copy;

static void expect_refused(const char *what, const char *want, const char *fmt, const char *a1) {
    char args[4096];
    snprintf(args, sizeof args, fmt, a1);
    char *out = NULL;
    int rc = test_sh(&out, "%s eval %s", test_bin(), args);
    EXPECT(rc == 2, "%s: rc %d: %s", what, rc, out);
    EXPECT(out && strstr(out, "lightreasoner: error: "), "%s: error line: %s", what, out);
    EXPECT(out && strstr(out, want), "%s: [%s] not in: %s", what, want, out);
    EXPECT(out && !strstr(out, "runtime error") && !strstr(out, "AddressSanitizer"), "%s: sanitizer report", what);
    free(out);
    EXPECT(files_identical(g_run, g_copy), "%s: run file untouched", what);
}

int main(void) {
    g_dir = eval_scratch("cli");
    static char run[600], copy[600], longq[600], model_args[1200];
    snprintf(run, sizeof run, "%s/run.h5", g_dir);
    snprintf(copy, sizeof copy, "%s/run.orig", g_dir);
    snprintf(longq, sizeof longq, "%s/long.jsonl", g_dir);
    g_run = run;
    g_copy = copy;
    const char *model = eval_test_model();

    /* a valid run file to protect */
    char *out = NULL;
    int rc = test_sh(&out, "%s eval --model %s --benchmark %s --max-new-tokens 8 --quiet --out %s", test_bin(), model,
                     test_data_path("eval/mixed.jsonl"), run);
    EXPECT(rc == 0, "setup eval rc %d: %s", rc, out);
    free(out);
    test_sh(NULL, "cp %s %s", run, copy);

    /* a question longer than the tiny model's 512-token context */
    FILE *f = fopen(longq, "w");
    fprintf(f, "{\"question\": \"short\", \"answer\": \"1\"}\n{\"question\": \"");
    for (int i = 0; i < 700; i++) fprintf(f, "word%d ", i);
    fprintf(f, "\", \"answer\": \"2\"}\n");
    fclose(f);
    /* by default such a prompt is counted and scored wrong, like sample's skip-and-count */
    static char lrun[700];
    snprintf(lrun, sizeof lrun, "%s/long.h5", g_dir);
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --max-new-tokens 8 --out %s", test_bin(), model, longq, lrun);
    EXPECT(rc == 0 && out && strstr(out, "prompts longer than the context: 1"),
           "default --overlong: rc %d, the over-long prompt must be counted: %s", rc, out);
    free(out);

    snprintf(model_args, sizeof model_args, "--model %s --max-new-tokens 8 --quiet --out %s --benchmark", model, run);
    char fmt[2048];
#define M(s) (snprintf(fmt, sizeof fmt, "%s %s", model_args, s), fmt)
    expect_refused("non-JSON line", "bad_json.jsonl:2: not a JSON object", M("%s --name x"),
                   test_data_path("eval/bad_json.jsonl"));
    expect_refused("missing field", "missing_field.jsonl:3: missing field 'question'", M("%s --name x"),
                   test_data_path("eval/missing_field.jsonl"));
    expect_refused("wrong answer type", "bad_answer_type.jsonl:1: field 'answer'", M("%s --name x"),
                   test_data_path("eval/bad_answer_type.jsonl"));
    expect_refused("invalid UTF-8", "bad_utf8.jsonl:1: invalid UTF-8", M("%s --name x"),
                   test_data_path("eval/bad_utf8.jsonl"));
    expect_refused("missing custom field", "custom_fields.jsonl:1: missing field 'question'", M("%s --name x"),
                   test_data_path("eval/custom_fields.jsonl"));
    expect_refused("unknown benchmark", "gsm9k: unknown benchmark", M("%s"), "gsm9k");
    expect_refused("prompt over the context (--overlong error)", "long.jsonl:2: the prompt is",
                   M("%s --name x --overlong error"), longq);
    expect_refused("bad group name", "not a usable group name", M("%s --name a/b"),
                   test_data_path("eval/mixed.jsonl"));
    expect_refused("existing group", "already holds /eval/mixed", M("%s"), test_data_path("eval/mixed.jsonl"));
    expect_refused("bad --compare", "--compare", M("%s --name x --compare fuzzy"),
                   test_data_path("eval/mixed.jsonl"));
    expect_refused("resume + overwrite", "exclude each other", M("%s --resume --overwrite"),
                   test_data_path("eval/mixed.jsonl"));
    expect_refused("negative limit", "--limit", M("%s --limit -1"), test_data_path("eval/mixed.jsonl"));
    expect_refused("zero batch", "--batch", M("%s --batch 0"), test_data_path("eval/mixed.jsonl"));
    expect_refused("missing model", "nonexistent-model", "--model /nonexistent-model --quiet --out %s --name x "
                                                         "--benchmark gsm8k", run);
    snprintf(fmt, sizeof fmt, "--model %s --benchmark gsm8k --data-dir /nonexistent-data --name x --out %%s", model);
    expect_refused("data dir without benchmarks", "bundled benchmark not found", fmt, run);

    /* an output path that is not an HDF5 file is refused and left alone */
    char text[600];
    snprintf(text, sizeof text, "%s/notes.txt", g_dir);
    test_sh(NULL, "printf 'my notes\\n' > %s", text);
    rc = test_sh(&out, "%s eval --model %s --benchmark %s --quiet --out %s", test_bin(), model,
                 test_data_path("eval/mixed.jsonl"), text);
    EXPECT(rc == 2 && out && strstr(out, "not an HDF5 file"), "foreign output rc %d: %s", rc, out);
    free(out);
    test_sh(&out, "cat %s", text);
    EXPECT(out && !strcmp(out, "my notes\n"), "foreign file untouched: %s", out);
    free(out);
    return test_finish("test_eval_cli");
}
