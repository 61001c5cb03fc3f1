/* The pre-tokenizer against HF's Split pre-tokenizer, piece by piece: the
 * Qwen2, Llama-3 and GPT-2 regexes and Oniguruma classes (\s \S \p{L} \P{L}
 * \h) run through PCRE2 after translation, every delimiter behaviour, invert,
 * literal patterns, and texts full of Unicode whitespace and rare letters. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/pretok.h"

static int behavior_of(const char *s) {
    static const char *const names[] = {"isolated", "removed", "merged_with_previous", "merged_with_next",
                                        "contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

int main(void) {
    size_t len;
    char *buf = tk_read_golden("pretok.jsonl", &len);
    long lines = 0, bad = 0, malformed = 0;
    lr_pieces ps = {0};
    for (char *line = buf; line < buf + len;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lines++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *pat = cJSON_GetObjectItem(j, "pattern"), *beh = cJSON_GetObjectItem(j, "behavior");
        const cJSON *text = cJSON_GetObjectItem(j, "text"), *pieces = cJSON_GetObjectItem(j, "pieces");
        int b = cJSON_IsString(beh) ? behavior_of(beh->valuestring) : -1;
        if (!cJSON_IsString(pat) || !cJSON_IsString(text) || !cJSON_IsArray(pieces) || b < 0) {
            malformed++;
        } else {
            lr_pretok pt = {0};
            int lit = cJSON_IsTrue(cJSON_GetObjectItem(j, "literal"));
            int inv = cJSON_IsTrue(cJSON_GetObjectItem(j, "invert"));
            int ok = lr_pretok_add_split(&pt, pat->valuestring, lit, (lr_split_behavior)b, inv, "golden") == 0 &&
                     lr_pretok_run(&pt, text->valuestring, strlen(text->valuestring), &ps) == 0;
            int same = ok && (size_t)cJSON_GetArraySize(pieces) == ps.n;
            size_t i = 0;
            for (const cJSON *p = pieces->child; same && p; p = p->next, i++)
                same = strlen(p->valuestring) == ps.v[i].n && !memcmp(p->valuestring, ps.v[i].p, ps.v[i].n);
            if (!same && bad++ < 5) {
                fprintf(stderr, "pretok.jsonl:%ld: pattern %s (%s%s) differs from HF%s%s\n", lines, pat->valuestring,
                        beh->valuestring, inv ? ", inverted" : "", ok ? "" : ": ", ok ? "" : lr_error_msg());
                tk_print_text("text", text->valuestring, strlen(text->valuestring));
                i = 0;
                for (const cJSON *p = pieces->child; p && i < 8; p = p->next, i++)
                    tk_print_text("HF piece", p->valuestring, strlen(p->valuestring));
                for (i = 0; ok && i < ps.n && i < 8; i++) tk_print_text("our piece", ps.v[i].p, ps.v[i].n);
            }
            lr_pretok_free(&pt);
        }
        cJSON_Delete(j);
        line = nl ? nl + 1 : buf + len;
    }
    printf("pretok.jsonl: %ld cases, %ld mismatches\n", lines, bad);
    EXPECT(lines > 1000, "only %ld cases", lines);
    EXPECT(malformed == 0, "%ld malformed golden lines", malformed);
    EXPECT(bad == 0, "%ld of %ld pre-tokenizations differ from HF", bad, lines);

    /* Oniguruma-only syntax is refused with a message, not mis-run. */
    lr_pretok pt = {0};
    EXPECT(lr_pretok_add_split(&pt, "[a-z&&[^aeiou]]", 0, LR_SPLIT_ISOLATED, 0, "x.json") != 0 &&
               strstr(lr_error_msg(), "x.json"),
           "class intersection accepted: %s", lr_error_msg());
    EXPECT(lr_pretok_add_split(&pt, "(unclosed", 0, LR_SPLIT_ISOLATED, 0, "x.json") != 0 &&
               strstr(lr_error_msg(), "x.json"),
           "bad regex accepted: %s", lr_error_msg());
    EXPECT(lr_pretok_add_split(&pt, "[abc", 0, LR_SPLIT_ISOLATED, 0, "x.json") != 0, "unterminated class accepted");
    lr_pretok_free(&pt);

    lr_pieces_free(&ps);
    free(buf);
    return test_finish("test_tokenizer_pretok");
}
