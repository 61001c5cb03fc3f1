/* `lightreasoner tokenize` / `detokenize` through the binary: ids equal to
 * HF's goldens, JSON-string round trips, --chat, both sources, stdin, and
 * bad input of each kind -> exit code 2 with the file (and line) named. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "test_tokenizer_util.h"
#include "test_util.h"

static char *g_dir;

static char *tmp(const char *name) { return lr_path_join(g_dir, name); }

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", test_bin(), args);
    return test_run(cmd, out);
}

static void expect_error(const char *what, const char *needle, const char *fmt, const char *a, const char *b) {
    char *out = NULL;
    char args[8192];
    snprintf(args, sizeof args, fmt, a, b);
    int rc = run(&out, "%s", args);
    EXPECT(rc == 2 && strstr(out, "lightreasoner: error: ") && strstr(out, needle),
           "%s: exit %d, output '%s' (wanted '%s')", what, rc, out, needle);
    free(out);
}

int main(void) {
    g_dir = tk_mkdtemp();
    const char *tok = tk_qwen2_dir();

    /* Up to 200 JSON-text goldens from the hard strings (hex ones need bytes
     * a JSON line cannot carry, so they stay in the library tests). */
    size_t len;
    char *buf = tk_read_golden("encode_hard.tsv", &len);
    char *in_path = tmp("in.jsonl"), *want_path = tmp("want.txt");
    FILE *in = fopen(in_path, "w"), *want = fopen(want_path, "w");
    int n = 0;
    for (char *line = buf; line < buf + len && n < 200;) {
        char *nl = strchr(line, '\n');
        *nl = 0;
        char *tab = strchr(line, '\t');
        if (line[0] == '"' && tab) {
            fprintf(in, "%.*s\n", (int)(tab - line), line);
            fprintf(want, "%s\n", tab + 1);
            n++;
        }
        line = nl + 1;
    }
    fclose(in);
    fclose(want);
    free(buf);

    char *out = NULL, *expected = lr_read_file(want_path, 1 << 26, &len);
    int rc = run(&out, "tokenize --tokenizer '%s' --jsonl '%s'", tok, in_path);
    EXPECT(rc == 0 && expected && !strcmp(out, expected), "tokenize --jsonl differs from HF's ids (exit %d)", rc);
    char *ids_path = tmp("ids.txt");
    EXPECT(tk_write_file(ids_path, out, strlen(out)) == 0, "write ids");
    free(out);
    rc = run(&out, "tokenize --tokenizer '%s' --source vocab.json --jsonl - < '%s'", tok, in_path);
    EXPECT(rc == 0 && !strcmp(out, expected), "tokenize from vocab.json via stdin differs (exit %d)", rc);
    free(out);

    /* detokenize --jsonl gives back each text (these goldens are valid UTF-8
     * in NFC, so the round trip is exact). */
    rc = run(&out, "detokenize --tokenizer '%s' --jsonl '%s'", tok, ids_path);
    char *texts = lr_read_file(in_path, 1 << 26, &len);
    long lines = 0, bad = 0;
    char *o = out, *t = texts;
    while (rc == 0 && *t) {
        char *on = strchr(o, '\n'), *tn = strchr(t, '\n');
        if (!on || !tn) {
            bad++;
            break;
        }
        *on = *tn = 0;
        cJSON *a = cJSON_Parse(o), *b = cJSON_Parse(t);
        if (!cJSON_IsString(a) || !cJSON_IsString(b) || strcmp(a->valuestring, b->valuestring)) {
            if (bad++ < 3) fprintf(stderr, "round trip line %ld: '%s' vs '%s'\n", lines + 1, o, t);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
        lines++;
        o = on + 1;
        t = tn + 1;
    }
    EXPECT(rc == 0 && lines == n && bad == 0, "detokenize round trip: exit %d, %ld lines, %ld differ", rc, lines, bad);
    free(out);
    free(texts);
    free(expected);

    /* Raw lines, --skip-special, --chat. */
    char *raw = tmp("raw.txt");
    tk_write_file(raw, "Hello world\n\n<|im_start|>x\n", 27);
    rc = run(&out, "tokenize --tokenizer '%s' '%s'", tok, raw);
    EXPECT(rc == 0 && !strcmp(out, "9707 1879\n\n151644 87\n"), "raw lines: %s", out);
    free(out);
    char *idf = tmp("ids2.txt");
    tk_write_file(idf, "9707 1879\n\n151644 87 151645\n", 28);
    rc = run(&out, "detokenize --tokenizer '%s' --skip-special '%s'", tok, idf);
    EXPECT(rc == 0 && !strcmp(out, "Hello world\n\nx\n"), "detokenize --skip-special: %s", out);
    free(out);
    rc = run(&out, "detokenize --tokenizer '%s' '%s'", tok, idf);
    EXPECT(rc == 0 && !strcmp(out, "Hello world\n\n<|im_start|>x<|im_end|>\n"), "detokenize: %s", out);
    free(out);
    char *q = tmp("q.txt");
    tk_write_file(q, "What is 2+2?\n", 13);
    rc = run(&out, "tokenize --tokenizer '%s' --chat --system 'Please reason step by step.' - < '%s'", tok, q);
    free(q);
    /* HF: apply_chat_template([system, user], add_generation_prompt=True) */
    EXPECT(rc == 0 && !strcmp(out, "151644 8948 198 5501 2874 3019 553 3019 13 151645 198 151644 872 198 3838 374 "
                                   "220 17 10 17 30 151645 198 151644 77091 198\n"),
           "--chat: %s", out);
    free(out);
    rc = run(&out, "tokenize --help");
    EXPECT(rc == 0 && strstr(out, "--tokenizer"), "--help");
    free(out);

    /* Bad input: exit 2, file named. */
    char *badjson = tmp("bad.jsonl"), *badids = tmp("bad_ids.txt"), *brokendir = tmp("broken");
    tk_write_file(badjson, "\"ok\"\n{\"text\": 1}\n", 17);
    tk_write_file(badids, "1 2 3\n4 x 5\n", 12);
    expect_error("missing directory", "/no/such/tokenizer", "tokenize --tokenizer %s%s", "/no/such/tokenizer", "");
    lr_mkdir_p(brokendir);
    char *bj = lr_path_join(brokendir, "tokenizer.json");
    tk_write_file(bj, "{\"model\": {", 11);
    expect_error("broken tokenizer.json", "tokenizer.json", "tokenize --tokenizer '%s' %s", brokendir, "/dev/null");
    expect_error("broken tokenizer.json (detokenize)", "tokenizer.json", "detokenize --tokenizer '%s' %s", brokendir,
                 "/dev/null");
    expect_error("not a JSON string", "bad.jsonl:2", "tokenize --jsonl --tokenizer '%s' '%s'", tok, badjson);
    expect_error("bad id", "bad_ids.txt:2", "detokenize --tokenizer '%s' '%s'", tok, badids);
    tk_write_file(badids, "1 2 3\n\n151646\n", 14);
    expect_error("id past the vocabulary", "bad_ids.txt:3", "detokenize --tokenizer '%s' '%s'", tok, badids);
    tk_write_file(badids, "-4\n", 3);
    expect_error("negative id", "bad_ids.txt:1", "detokenize --tokenizer '%s' '%s'", tok, badids);
    expect_error("missing input", "/no/such/input.txt", "tokenize --tokenizer '%s' %s", tok, "/no/such/input.txt");
    expect_error("unknown template", "mistral", "tokenize --chat --chat-template mistral --tokenizer '%s' %s", tok,
                 "/dev/null");
    expect_error("unknown source", "spm", "tokenize --source spm --tokenizer '%s' %s", tok, "/dev/null");
    expect_error("no --tokenizer", "tokenizer", "tokenize %s%s", "/dev/null", "");

    free(bj);
    free(badjson);
    free(badids);
    free(brokendir);
    free(raw);
    free(idf);
    free(in_path);
    free(want_path);
    free(ids_path);
    tk_rmtree(g_dir);
    free(g_dir);
    return test_finish("test_tokenizer_cli");
}
