/* Chat templates against transformers' apply_chat_template
 * (tests/reference/make_chat_goldens.py): the published templates of Qwen2,
 * Qwen2.5-Instruct, Qwen2.5-Math, DeepSeek-R1-Distill-Qwen and Llama 3 /
 * 3.1 / 3.2, installed as a tokenizer directory's chat_template, render
 * system/user/assistant conversations with and without the generation prompt
 * byte for byte as HF does, and the ids of the rendering match. Also: the
 * native ChatML path equals the Qwen templates, strftime_now gives today's
 * date, and unsupported templates and names are errors naming
 * --chat-template. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

static char *read_template(const char *rel) {
    size_t len;
    char *s = tk_read_golden(rel, &len);
    return s;
}

/* A tokenizer directory: the vendored tokenizer.json and a config holding
 * `tpl` as its chat_template (plus bos/eos when given). */
static lr_tokenizer *load_with_template(const char *dir, const char *tpl, const char *bos, const char *eos) {
    char *src = lr_path_join(tk_qwen2_dir(), "tokenizer.json"), *dst = lr_path_join(dir, "tokenizer.json");
    char *abs = realpath(src, NULL);
    unlink(dst);
    EXPECT(abs && symlink(abs, dst) == 0, "cannot link %s", dst);
    cJSON *cfg = cJSON_CreateObject();
    if (tpl) cJSON_AddStringToObject(cfg, "chat_template", tpl);
    if (bos) cJSON_AddStringToObject(cfg, "bos_token", bos);
    if (eos) cJSON_AddStringToObject(cfg, "eos_token", eos);
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

static void report(const char *name, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    fprintf(stderr, "template %s differs from HF at byte %zu\n", name, i);
    size_t from = i > 40 ? i - 40 : 0;
    tk_print_text("HF  ", want + from, strlen(want + from));
    tk_print_text("ours", got + from, strlen(got + from));
}

static int is_qwen_chatml(const char *name) { return !strncmp(name, "qwen", 4); }

int main(void) {
    size_t len;
    char *tj = tk_read_golden("chat_templates.json", &len);
    cJSON *templates = cJSON_Parse(tj);
    free(tj);
    EXPECT(templates && cJSON_GetArraySize(templates) >= 7, "chat_templates.json");
    char *buf = tk_read_golden("chat.jsonl", &len);
    char *dir = tk_mkdtemp();
    long cases = 0, bad = 0, chatml_cases = 0, families = 0;
    for (const cJSON *tpl = templates->child; tpl; tpl = tpl->next) {
        const char *name = tpl->string;
        const cJSON *bos = cJSON_GetObjectItem(tpl, "bos_token"), *eos = cJSON_GetObjectItem(tpl, "eos_token");
        const char *bos_s = cJSON_IsString(bos) ? bos->valuestring : NULL;
        /* eos only where the Qwen2 vocabulary has it (the loader checks) */
        const char *eos_s = cJSON_IsString(eos) && is_qwen_chatml(name) ? eos->valuestring : NULL;
        if (!strcmp(name, "chatml-no-default")) eos_s = eos->valuestring;
        char *src = read_template(cJSON_GetObjectItem(tpl, "file")->valuestring);
        lr_tokenizer *t = load_with_template(dir, src, bos_s, eos_s);
        free(src);
        if (!t) continue;
        families++;
        lr_chat_template k;
        EXPECT(tokenizer_chat_template(t) == CHAT_MODEL, "%s: template not found", name);
        EXPECT(chat_template_from_name("auto", t, &k) == 0 && k == CHAT_MODEL, "%s: auto: %s", name, lr_error_msg());
        for (char *line = buf; line < buf + len;) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
            cJSON *c = cJSON_ParseWithLength(line, ll);
            line = nl ? nl + 1 : buf + len;
            if (!c || strcmp(cJSON_GetObjectItem(c, "template")->valuestring, name)) {
                cJSON_Delete(c);
                continue;
            }
            cases++;
            const cJSON *msgs = cJSON_GetObjectItem(c, "messages"), *vars = cJSON_GetObjectItem(c, "vars");
            int agp = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
            size_t n = (size_t)cJSON_GetArraySize(msgs);
            const char **roles = calloc(n + 1, sizeof *roles), **contents = calloc(n + 1, sizeof *contents);
            size_t i = 0;
            for (const cJSON *m = msgs->child; m; m = m->next, i++) {
                roles[i] = cJSON_GetObjectItem(m, "role")->valuestring;
                contents[i] = cJSON_GetObjectItem(m, "content")->valuestring;
            }
            char *got;
            if (cJSON_GetArraySize(vars) == 0) {
                got = tokenizer_chat_render_messages(t, roles, contents, n, agp);
            } else { /* extra variables (date_string): the interpreter directly */
                const char *v[16] = {"bos_token", bos_s, "eos_token", cJSON_IsString(eos) ? eos->valuestring : NULL};
                int nv = 4;
                for (const cJSON *e = vars->child; e && nv < 14; e = e->next) v[nv++] = e->string, v[nv++] = e->valuestring;
                v[nv] = NULL;
                char *err = NULL, *tsrc = read_template(cJSON_GetObjectItem(tpl, "file")->valuestring);
                lr_jinja *j = jinja_compile(tsrc, &err);
                lr_chat_msg *cm = calloc(n + 1, sizeof *cm);
                for (size_t q = 0; q < n; q++) cm[q].role = roles[q], cm[q].content = contents[q];
                got = j ? jinja_render_chat(j, cm, n, agp, v, &err) : NULL;
                if (!got) fprintf(stderr, "%s: %s\n", name, err ? err : "?");
                free(err);
                free(cm);
                free(tsrc);
                jinja_free(j);
            }
            const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
            const cJSON *ids = cJSON_GetObjectItem(c, "ids");
            int same = got && !strcmp(got, want);
            if (same) {
                int32_t *gi = NULL;
                long ni = tokenizer_encode(t, got, strlen(got), &gi);
                same = ni == cJSON_GetArraySize(ids);
                long q = 0;
                for (const cJSON *w = ids->child; same && w; w = w->next, q++) same = gi[q] == (int32_t)w->valuedouble;
                if (!same && bad < 5) fprintf(stderr, "template %s: ids differ from HF\n", name);
                free(gi);
            } else if (bad < 5) {
                if (got) report(name, want, got);
                else fprintf(stderr, "template %s: render failed: %s\n", name, lr_error_msg());
            }
            bad += !same;
            /* --chat-template chatml writes the same text for Qwen's system/user prompts */
            if (is_qwen_chatml(name) && agp && n <= 2 && (n == 1 || !strcmp(roles[0], "system"))) {
                char *nat = tokenizer_chat_render(t, CHAT_CHATML, n == 2 ? contents[0] : NULL, contents[n - 1], 1);
                EXPECT(!strcmp(nat, want), "%s: native ChatML differs from HF", name);
                if (strcmp(nat, want)) report(name, want, nat);
                free(nat);
                chatml_cases++;
            }
            free(got);
            free(roles);
            free(contents);
            cJSON_Delete(c);
        }
        tokenizer_free(t);
    }
    printf("chat.jsonl: %ld templates, %ld cases, %ld mismatches; %ld native ChatML cases\n", families, cases, bad,
           chatml_cases);
    EXPECT(families >= 7 && cases >= 150, "only %ld templates / %ld chat cases", families, cases);
    EXPECT(chatml_cases >= 20, "only %ld native ChatML cases", chatml_cases);
    EXPECT(bad == 0, "%ld chat renderings differ from HF", bad);

    /* Llama 3.2 without date_string: strftime_now("%d %b %Y") is today. */
    {
        char *src = read_template("chat_templates/llama-3.2-instruct.jinja");
        lr_tokenizer *t = load_with_template(dir, src, "<|begin_of_text|>", NULL);
        const char *role = "user", *content = "hi";
        lr_chat_template k;
        EXPECT(t && chat_template_from_name("auto", t, &k) == 0, "llama 3.2 auto");
        char *out = t ? tokenizer_chat_render_messages(t, &role, &content, 1, 1) : NULL;
        char today[64], want[128];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(today, sizeof today, "%d %b %Y", &tm);
        snprintf(want, sizeof want, "Today Date: %s\n\n", today);
        EXPECT(out && strstr(out, want) && !strncmp(out, "<|begin_of_text|>", 17), "strftime_now: %s",
               out ? out : lr_error_msg());
        free(out);
        free(src);
        tokenizer_free(t);
    }

    /* The real Qwen2 directory: auto is its own template. */
    lr_tokenizer *t = tokenizer_load(tk_qwen2_dir());
    EXPECT(t && tokenizer_default_system(t) && !strcmp(tokenizer_default_system(t), "You are a helpful assistant."),
           "qwen2 default system: %s", t && tokenizer_default_system(t) ? tokenizer_default_system(t) : "(none)");
    lr_chat_template k;
    EXPECT(chat_template_from_name("auto", t, &k) == 0 && k == CHAT_MODEL, "auto != model");
    EXPECT(!strcmp(chat_template_name(k), "model"), "name of the model template");
    EXPECT(chat_template_from_name("plain", t, &k) == 0 && k == CHAT_PLAIN, "plain");
    EXPECT(chat_template_from_name("chatml", t, &k) == 0 && k == CHAT_CHATML, "chatml");
    EXPECT(chat_template_from_name("jinja2", t, &k) != 0 && strstr(lr_error_msg(), "jinja2") &&
               strstr(lr_error_msg(), "--chat-template"),
           "unknown name accepted: %s", lr_error_msg());
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

    /* A template file given with --chat-template replaces the model's. */
    char *tf = lr_path_join(dir, "mine.jinja");
    const char *mine = "{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}"
                       "{% if add_generation_prompt %}[ASSISTANT]{% endif %}";
    EXPECT(tk_write_file(tf, mine, strlen(mine)) == 0, "write");
    EXPECT(chat_template_from_name(tf, t, &k) == 0 && k == CHAT_MODEL, "template file: %s", lr_error_msg());
    p = tokenizer_chat_render(t, k, "S", "Q", 1);
    EXPECT(!strcmp(p, "[SYSTEM] S\n[USER] Q\n[ASSISTANT]"), "file template render: %s", p);
    free(p);
    /* Unsupported Jinja: an error naming --chat-template and what is missing. */
    const char *macro = "{% macro f(x) %}{{ x }}{% endmacro %}{{ f(messages[0].content) }}";
    EXPECT(tk_write_file(tf, macro, strlen(macro)) == 0, "write");
    EXPECT(chat_template_from_name(tf, t, &k) != 0 && strstr(lr_error_msg(), "--chat-template") &&
               strstr(lr_error_msg(), "unsupported"),
           "macro template accepted: %s", lr_error_msg());
    const char *filt = "{{ messages[0].content | wordwrap(5) }}";
    EXPECT(tk_write_file(tf, filt, strlen(filt)) == 0, "write");
    EXPECT(chat_template_from_name(tf, t, &k) != 0 && strstr(lr_error_msg(), "filter"), "unknown filter accepted: %s",
           lr_error_msg());
    const char *raise = "{{ raise_exception('no system role') if messages[0].role == 'system' }}x";
    EXPECT(tk_write_file(tf, raise, strlen(raise)) == 0, "write");
    EXPECT(chat_template_from_name(tf, t, &k) != 0 && strstr(lr_error_msg(), "no system role"),
           "raise_exception not reported: %s", lr_error_msg());
    free(tf);
    tokenizer_free(t);

    /* No chat template: auto is an error naming --chat-template; plain works. */
    t = load_with_template(dir, NULL, NULL, "<|im_end|>");
    EXPECT(t && tokenizer_chat_template(t) == CHAT_PLAIN && !tokenizer_default_system(t), "template-less tokenizer");
    EXPECT(t && chat_template_from_name("auto", t, &k) != 0 && strstr(lr_error_msg(), "--chat-template") &&
               strstr(lr_error_msg(), "no chat template"),
           "auto without a template: %s", lr_error_msg());
    EXPECT(t && chat_template_from_name("plain", t, &k) == 0, "plain without a template");
    tokenizer_free(t);
    /* A template outside the subset in the model directory. */
    t = load_with_template(dir, "{% include 'x.jinja' %}", NULL, "<|im_end|>");
    EXPECT(t && chat_template_from_name("auto", t, &k) != 0 && strstr(lr_error_msg(), "--chat-template") &&
               strstr(lr_error_msg(), "not support"),
           "unsupported model template: %s", lr_error_msg());
    tokenizer_free(t);

    /* Hostile templates: every published template with random edits (seeded,
     * bounded) compiles and renders or fails with a message; never a crash
     * (the sanitizer suite runs this too). */
    {
        const char *alpha = "{}%#-+'\"()[]|.,:=~!<> \nabinotsdef0123456789_";
        unsigned seed = 12345;
        long ok = 0, refused = 0;
        for (const cJSON *tpl = templates->child; tpl; tpl = tpl->next) {
            char *src = read_template(cJSON_GetObjectItem(tpl, "file")->valuestring);
            size_t n = strlen(src);
            for (int it = 0; it < 150; it++) {
                char *m = malloc(n + 8);
                memcpy(m, src, n + 1);
                size_t mn = n;
                for (int k = 0; k < 3; k++) {
                    seed = seed * 1103515245u + 12345u;
                    size_t at = mn ? (seed >> 8) % mn : 0;
                    char c = alpha[(seed >> 20) % strlen(alpha)];
                    if (k == 0 && mn) memmove(m + at, m + at + 1, mn - at), mn--; /* delete */
                    else if (k == 1) memmove(m + at + 1, m + at, mn - at + 1), m[at] = c, mn++; /* insert */
                    else if (mn) m[at] = c; /* replace */
                }
                char *err = NULL;
                lr_jinja *j = jinja_compile(m, &err);
                char *out = NULL;
                if (j) {
                    lr_chat_msg msgs[3] = {{"system", "S"}, {"user", "Q </think> x"}, {"assistant", "A"}};
                    const char *v[] = {"bos_token", "<s>", NULL};
                    out = jinja_render_chat(j, msgs, (size_t)(1 + it % 3), it & 1, v, &err);
                }
                EXPECT(out || (err && *err), "a failed template gives a message");
                if (out) ok++;
                else refused++;
                free(out);
                free(err);
                jinja_free(j);
                free(m);
            }
            free(src);
        }
        printf("mutated templates: %ld rendered, %ld refused with a message\n", ok, refused);
        EXPECT(ok > 0 && refused > 0, "the mutations exercise both paths");
    }

    cJSON_Delete(templates);
    free(buf);
    tk_rmtree(dir);
    free(dir);
    return test_finish("test_tokenizer_chat");
}
