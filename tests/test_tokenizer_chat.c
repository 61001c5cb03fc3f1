/* Chat templates against HF's apply_chat_template(add_generation_prompt=True):
 * for Qwen2's real template and Qwen2.5-style ones (default system prompt
 * hardcoded in the template, or none), the tokenizer directory's
 * tokenizer_config.json selects ChatML, the default system prompt is lifted
 * from the template, and the rendered text and its ids match HF's. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

/* A tokenizer directory: the vendored tokenizer.json and a config holding
 * `tpl` as its chat_template. */
static lr_tokenizer *load_with_template(const char *dir, const char *tpl) {
    char *src = lr_path_join(tk_qwen2_dir(), "tokenizer.json"), *dst = lr_path_join(dir, "tokenizer.json");
    char *abs = realpath(src, NULL);
    unlink(dst);
    EXPECT(abs && symlink(abs, dst) == 0, "cannot link %s", dst);
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "chat_template", tpl);
    cJSON_AddStringToObject(cfg, "eos_token", "<|im_end|>");
    char *js = cJSON_PrintUnformatted(cfg), *cp = lr_path_join(dir, "tokenizer_config.json");
    EXPECT(tk_write_file(cp, js, strlen(js)) == 0, "cannot write %s", cp);
    lr_tokenizer *t = tokenizer_load(dir);
    EXPECT(t != NULL, "load: %s", lr_error_msg());
    free(js);
    free(cp);
    cJSON_Delete(cfg);
    free(abs);
    free(src);
    free(dst);
    return t;
}

int main(void) {
    size_t len;
    char *tj = tk_read_golden("chat_templates.json", &len);
    cJSON *templates = cJSON_Parse(tj);
    free(tj);
    char *buf = tk_read_golden("chat.jsonl", &len);
    char *dir = tk_mkdtemp();
    long cases = 0, bad = 0;
    for (const cJSON *tpl = templates->child; tpl; tpl = tpl->next) {
        lr_tokenizer *t = load_with_template(dir, tpl->valuestring);
        if (!t) continue;
        EXPECT(tokenizer_chat_template(t) == CHAT_CHATML, "template %s not detected as ChatML", tpl->string);
        EXPECT(tokenizer_eos_id(t) == 151645, "eos id %d", tokenizer_eos_id(t));
        for (char *line = buf; line < buf + len;) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
            cJSON *c = cJSON_ParseWithLength(line, ll);
            line = nl ? nl + 1 : buf + len;
            if (strcmp(cJSON_GetObjectItem(c, "template")->valuestring, tpl->string)) {
                cJSON_Delete(c);
                continue;
            }
            cases++;
            const cJSON *sys = cJSON_GetObjectItem(c, "system"), *user = cJSON_GetObjectItem(c, "user");
            const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
            const cJSON *ids = cJSON_GetObjectItem(c, "ids");
            char *got = tokenizer_chat_render(t, CHAT_CHATML, cJSON_IsString(sys) ? sys->valuestring : NULL,
                                              user->valuestring, 1);
            int32_t *gi = NULL;
            long n = tokenizer_encode(t, got, strlen(got), &gi);
            int same = !strcmp(got, want) && n == cJSON_GetArraySize(ids);
            long i = 0;
            for (const cJSON *w = ids->child; same && w; w = w->next, i++) same = gi[i] == (int32_t)w->valuedouble;
            if (!same && bad++ < 5) {
                fprintf(stderr, "template %s, system %s: differs from HF\n", tpl->string,
                        cJSON_IsString(sys) ? "given" : "default");
                tk_print_text("HF", want, strlen(want));
                tk_print_text("ours", got, strlen(got));
            }
            free(gi);
            free(got);
            cJSON_Delete(c);
        }
        tokenizer_free(t);
    }
    printf("chat.jsonl: %ld cases, %ld mismatches\n", cases, bad);
    EXPECT(cases >= 30, "only %ld chat cases", cases);
    EXPECT(bad == 0, "%ld chat renderings differ from HF", bad);

    /* The real Qwen2 directory: its template's default system prompt. */
    lr_tokenizer *t = tokenizer_load(tk_qwen2_dir());
    EXPECT(t && tokenizer_default_system(t) && !strcmp(tokenizer_default_system(t), "You are a helpful assistant."),
           "qwen2 default system: %s", t && tokenizer_default_system(t) ? tokenizer_default_system(t) : "(none)");
    lr_chat_template k;
    EXPECT(chat_template_from_name("auto", t, &k) == 0 && k == CHAT_CHATML, "auto != chatml");
    EXPECT(chat_template_from_name("plain", t, &k) == 0 && k == CHAT_PLAIN, "plain");
    EXPECT(chat_template_from_name("chatml", t, &k) == 0 && k == CHAT_CHATML, "chatml");
    EXPECT(chat_template_from_name("jinja2", t, &k) != 0 && strstr(lr_error_msg(), "jinja2"), "unknown name accepted");
    char *p = tokenizer_chat_render(t, CHAT_PLAIN, "S", "just the user", 1);
    EXPECT(!strcmp(p, "just the user"), "plain render: %s", p);
    free(p);
    p = chat_template_render(CHAT_CHATML, NULL, "q", 1);
    EXPECT(!strcmp(p, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
                      "<|im_start|>assistant\n"),
           "generic ChatML render: %s", p);
    free(p);
    p = chat_template_render(CHAT_CHATML, "s", "q", 0);
    EXPECT(!strcmp(p, "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"), "no generation prompt: %s", p);
    free(p);
    tokenizer_free(t);

    /* No chat template at all -> plain. */
    char *cfg = lr_path_join(dir, "tokenizer_config.json");
    EXPECT(tk_write_file(cfg, "{}", 2) == 0, "write");
    t = tokenizer_load(dir);
    EXPECT(t && tokenizer_chat_template(t) == CHAT_PLAIN && !tokenizer_default_system(t) && tokenizer_eos_id(t) == -1,
           "template-less tokenizer");
    tokenizer_free(t);
    free(cfg);

    cJSON_Delete(templates);
    free(buf);
    tk_rmtree(dir);
    free(dir);
    return test_finish("test_tokenizer_chat");
}
