/* Chat templates. The model's own template (Jinja, from the tokenizer
 * directory or a --chat-template file) is rendered by the Jinja subset in
 * jinja*.c exactly as transformers' apply_chat_template does; ChatML and
 * plain are also written out natively. A template outside the subset is an
 * error naming --chat-template, never a silent fallback. The default system
 * prompt a template hardcodes is still lifted out of its source for
 * --chat-template chatml. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/jinja.h"
#include "tokenizer/regex.h"
#include "tokenizer/tok_internal.h"

#define QWEN2_DEFAULT_SYSTEM "You are a helpful assistant."
#define MAX_TEMPLATE_FILE (1u << 20)

lr_chat_template tokenizer_chat_template(const lr_tokenizer *t) {
    return t && t->chat_template ? CHAT_MODEL : CHAT_PLAIN;
}

const char *chat_template_name(lr_chat_template tpl) {
    return tpl == CHAT_MODEL ? "model" : tpl == CHAT_CHATML ? "chatml" : "plain";
}

void lr_chat_free(lr_tokenizer *t) {
    jinja_free(t->jinja);
    t->jinja = NULL;
    free(t->jinja_err);
    t->jinja_err = NULL;
    for (int i = 0; i < 4; i++) {
        free(t->special_text[i]);
        t->special_text[i] = NULL;
    }
}

/* Compiles t->chat_template once; 0, or -1 with t->jinja_err. */
static int compile(lr_tokenizer *t) {
    if (t->jinja) return 0;
    if (t->jinja_err) return -1;
    t->jinja = jinja_compile(t->chat_template, &t->jinja_err);
    return t->jinja ? 0 : -1;
}

char *tokenizer_chat_render_messages(const lr_tokenizer *t, const char *const *roles, const char *const *contents,
                                     size_t n, int add_generation_prompt) {
    if (!t->jinja) {
        lr_error_set("--chat-template", "no compiled chat template");
        return NULL;
    }
    lr_chat_msg *m = xcalloc(n ? n : 1, sizeof *m);
    for (size_t i = 0; i < n; i++) m[i].role = roles[i], m[i].content = contents[i];
    const char *vars[] = {"bos_token", t->special_text[0], "eos_token", t->special_text[1],
                          "unk_token", t->special_text[2], "pad_token", t->special_text[3], NULL};
    char *err = NULL;
    char *out = jinja_render_chat(t->jinja, m, n, add_generation_prompt, vars, &err);
    free(m);
    if (!out) {
        lr_error_set("--chat-template", "the chat template failed: %s", err);
        free(err);
    }
    return out;
}

static char *render_model(const lr_tokenizer *t, const char *system, const char *user, int agp) {
    const char *roles[2] = {"system", "user"}, *contents[2] = {system, user};
    return system ? tokenizer_chat_render_messages(t, roles, contents, 2, agp)
                  : tokenizer_chat_render_messages(t, roles + 1, contents + 1, 1, agp);
}

/* The template renders a question with and without a system prompt. */
static int try_render(lr_tokenizer *t, const char *what) {
    for (int with_system = 0; with_system < 2; with_system++) {
        char *s = render_model(t, with_system ? "S" : NULL, "Q", 1);
        if (!s) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", lr_error_msg());
            lr_error_set("--chat-template", "%s cannot render a system/user prompt (%s); pass --chat-template "
                         "chatml, plain or a Jinja file", what, msg);
            return -1;
        }
        free(s);
    }
    return 0;
}

int chat_template_from_name(const char *name, lr_tokenizer *t, lr_chat_template *out) {
    if (!strcmp(name, "chatml")) {
        *out = CHAT_CHATML;
        return 0;
    }
    if (!strcmp(name, "plain")) {
        *out = CHAT_PLAIN;
        return 0;
    }
    if (!strcmp(name, "auto")) {
        if (!t->chat_template) {
            lr_error_set("--chat-template", "auto: the tokenizer in %s has no chat template (tokenizer_config.json "
                         "chat_template or chat_template.jinja); pass --chat-template plain, chatml or a Jinja file",
                         t->dir ? t->dir : "(memory)");
            return -1;
        }
        if (compile(t) != 0) {
            lr_error_set("--chat-template", "auto: the chat template of %s uses Jinja this program does not "
                         "support (%s); pass --chat-template chatml, plain or a Jinja file",
                         t->dir ? t->dir : "(memory)", t->jinja_err);
            return -1;
        }
        if (try_render(t, "the model's chat template") != 0) return -1;
        *out = CHAT_MODEL;
        return 0;
    }
    if (!lr_file_exists(name)) {
        lr_error_set("--chat-template", "unknown chat template '%s' (expected auto, chatml, plain or the path of a "
                     "Jinja template file)", name);
        return -1;
    }
    size_t len;
    char *src = lr_read_file(name, MAX_TEMPLATE_FILE, &len);
    if (!src) return -1;
    char *err = NULL;
    lr_jinja *j = jinja_compile(src, &err);
    if (!j) {
        lr_error_set("--chat-template", "%s: uses Jinja this program does not support (%s)", name, err);
        free(err);
        free(src);
        return -1;
    }
    jinja_free(t->jinja);
    free(t->jinja_err);
    t->jinja_err = NULL;
    free(t->chat_template);
    t->chat_template = src;
    t->jinja = j;
    free(t->default_system);
    t->default_system = lr_chat_default_system(src);
    if (try_render(t, name) != 0) return -1;
    *out = CHAT_MODEL;
    return 0;
}

/* Jinja (Python) string-literal escapes. */
static char *unescape(const char *s, size_t n) {
    char *o = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) {
            o[k++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case '\\': case '\'': case '"': o[k++] = c; break;
        default: o[k++] = '\\'; o[k++] = c; break;
        }
    }
    o[k] = 0;
    return o;
}

/* First capture group of `pattern` in s, unescaped; NULL when no match. */
static char *capture(const char *pattern, const char *s) {
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOTALL, &err,
                                   &eoff, NULL);
    LR_CHECK(re, "chat template regex does not compile");
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char *out = NULL;
    if (pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* Patterns with two groups are alternatives: whichever matched. */
        int g = ov[2] != PCRE2_UNSET ? 1 : 2;
        out = unescape(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return out;
}

char *lr_chat_default_system(const char *jinja) {
    /* Qwen2: {% set system_message = 'You are a helpful assistant.' %} */
    char *s = capture("set\\s+system_message\\s*=\\s*(?:'((?:[^'\\\\]|\\\\.)*)'|\"((?:[^\"\\\\]|\\\\.)*)\")", jinja);
    if (s) return s;
    /* Qwen2.5: '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n' as one
     * literal (a literal that stops at a quote is the user-given branch). */
    return capture("<\\|im_start\\|>system(?:\\n|\\\\n)((?:[^'\"\\\\]|\\\\.)*?)<\\|im_end\\|>", jinja);
}

const char *tokenizer_default_system(const lr_tokenizer *t) { return t->default_system; }

static char *render(lr_chat_template tpl, const char *system, const char *user, int agp) {
    size_t n = strlen(user) + (system ? strlen(system) : 0) + 128;
    char *o = xmalloc(n);
    if (tpl == CHAT_PLAIN) {
        snprintf(o, n, "%s", user);
        return o;
    }
    size_t k = 0;
    if (system) k += (size_t)snprintf(o + k, n - k, "<|im_start|>system\n%s<|im_end|>\n", system);
    k += (size_t)snprintf(o + k, n - k, "<|im_start|>user\n%s<|im_end|>\n", user);
    if (agp) snprintf(o + k, n - k, "<|im_start|>assistant\n");
    return o;
}

char *chat_template_render(lr_chat_template tpl, const char *system, const char *user, int add_generation_prompt) {
    LR_CHECK(tpl != CHAT_MODEL, "the model's chat template needs its tokenizer (tokenizer_chat_render)");
    return render(tpl, system ? system : QWEN2_DEFAULT_SYSTEM, user, add_generation_prompt);
}

char *tokenizer_chat_render(const lr_tokenizer *t, lr_chat_template tpl, const char *system, const char *user,
                            int add_generation_prompt) {
    if (tpl == CHAT_MODEL) {
        char *s = render_model(t, system, user, add_generation_prompt);
        if (!s) lr_die_last();
        return s;
    }
    return render(tpl, system ? system : t->default_system, user, add_generation_prompt);
}
