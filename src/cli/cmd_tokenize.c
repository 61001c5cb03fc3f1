/* `lightreasoner tokenize` / `detokenize`: text <-> token ids, one line per
 * input, for checking the tokenizer against Hugging Face from the shell. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli_ids.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/tokenizer.h"

/* lr_die_input formats into the buffer lr_error_msg() returns: copy first. */
static _Noreturn void die_with_last(const char *where) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", lr_error_msg());
    lr_die_input(where, "%s", msg);
}

static lr_tokenizer *load(const char *dir, const char *source) {
    lr_tokenizer *t = tokenizer_load_from(dir, source);
    if (!t) lr_die_last();
    return t;
}

int cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL, *system = NULL, *source = "auto", *tpl_name = "auto";
    int jsonl = 0, chat = 0;
    const arg_def defs[] = {
        {"tokenizer", ARG_STR, &dir, "DIR", "tokenizer (or model) directory", 0, 0, 1},
        {"jsonl", ARG_FLAG, &jsonl, NULL, "each input line is one JSON string (exact text, newlines included)", 0, 0, 0},
        {"chat", ARG_FLAG, &chat, NULL, "wrap each text as the user turn of the chat template, with the assistant header", 0, 0, 0},
        {"system", ARG_STR, &system, "S", "system prompt for --chat (default: the template's own)", 0, 0, 0},
        {"chat-template", ARG_STR, &tpl_name, "NAME", "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"source", ARG_STR, &source, "FILE", "auto, tokenizer.json or vocab.json (vocab.json + merges.txt)", 0, 0, 0},
    };
    const arg_spec spec = {"tokenize",
                           "Print the token ids of each input line (raw text, or JSON strings with --jsonl), "
                           "space-separated, one line per input.",
                           "[FILE|-]", defs, (int)(sizeof defs / sizeof defs[0]), 1};
    char *pos[1];
    const char *in = args_parse(&spec, argc, argv, pos) ? pos[0] : "-";
    lr_tokenizer *t = load(dir, source);
    lr_chat_template tpl = CHAT_PLAIN;
    if (chat && chat_template_from_name(tpl_name, t, &tpl) != 0) die_with_last("tokenize");

    lr_line_reader r;
    if (lr_lines_open(&r, in) != 0) lr_die_last();
    char *line, where[4200];
    long n;
    while ((n = lr_lines_next(&r, &line)) >= 0) {
        snprintf(where, sizeof where, "%s:%ld", r.path, r.line_no);
        cJSON *js = NULL;
        const char *text = line;
        size_t len = (size_t)n;
        if (jsonl) {
            js = cJSON_ParseWithLength(line, (size_t)n);
            if (!cJSON_IsString(js)) lr_die_input(where, "expected a JSON string");
            text = js->valuestring;
            len = strlen(text);
        }
        char *wrapped = NULL;
        if (chat) {
            wrapped = tokenizer_chat_render(t, tpl, system, text, 1);
            text = wrapped;
            len = strlen(text);
        }
        int32_t *ids;
        long k = tokenizer_encode(t, text, len, &ids);
        if (k < 0) die_with_last(where);
        for (long i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        free(ids);
        free(wrapped);
        cJSON_Delete(js);
    }
    lr_lines_close(&r);
    tokenizer_free(t);
    if (fflush(stdout) != 0) lr_die_input("<stdout>", "write error: %s", strerror(errno));
    return 0;
}

int cmd_detokenize(int argc, char **argv) {
    const char *dir = NULL, *source = "auto";
    int jsonl = 0, skip_special = 0;
    const arg_def defs[] = {
        {"tokenizer", ARG_STR, &dir, "DIR", "tokenizer (or model) directory", 0, 0, 1},
        {"skip-special", ARG_FLAG, &skip_special, NULL, "leave special tokens out of the text", 0, 0, 0},
        {"jsonl", ARG_FLAG, &jsonl, NULL, "print each text as a JSON string (so newlines round-trip)", 0, 0, 0},
        {"source", ARG_STR, &source, "FILE", "auto, tokenizer.json or vocab.json (vocab.json + merges.txt)", 0, 0, 0},
    };
    const arg_spec spec = {"detokenize",
                           "Print the text of each input line of space-separated token ids (invalid UTF-8 "
                           "replaced by U+FFFD as Hugging Face does).",
                           "[FILE|-]", defs, (int)(sizeof defs / sizeof defs[0]), 1};
    char *pos[1];
    const char *in = args_parse(&spec, argc, argv, pos) ? pos[0] : "-";
    lr_tokenizer *t = load(dir, source);

    lr_line_reader r;
    if (lr_lines_open(&r, in) != 0) lr_die_last();
    char *line, where[4200];
    while (lr_lines_next(&r, &line) >= 0) {
        snprintf(where, sizeof where, "%s:%ld", r.path, r.line_no);
        int n;
        size_t len;
        int32_t *ids = cli_ids_from_text(line, where, tokenizer_n_tokens(t), &n);
        char *text = tokenizer_decode(t, ids, (size_t)n, skip_special, &len);
        free(ids);
        if (!text) die_with_last(where);
        if (jsonl) {
            cJSON *s = cJSON_CreateString(text);
            char *js = cJSON_PrintUnformatted(s);
            LR_CHECK(js, "cJSON_PrintUnformatted failed");
            puts(js);
            cJSON_free(js);
            cJSON_Delete(s);
        } else {
            fwrite(text, 1, len, stdout);
            putchar('\n');
        }
        free(text);
    }
    lr_lines_close(&r);
    tokenizer_free(t);
    if (fflush(stdout) != 0) lr_die_input("<stdout>", "write error: %s", strerror(errno));
    return 0;
}
