/* Chat templates. Jinja is not interpreted: a template is recognised as a
 * family the project renders natively (ChatML, marked by "<|im_start|>"),
 * and the default system prompt it hardcodes is lifted out of its source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/tok_internal.h"

#define QWEN2_DEFAULT_SYSTEM "You are a helpful assistant."

lr_chat_template tokenizer_chat_template(const lr_tokenizer *t) {
    return t && t->chat_template && strstr(t->chat_template, "<|im_start|>") ? CHAT_CHATML : CHAT_PLAIN;
}

int chat_template_from_name(const char *name, const lr_tokenizer *t, lr_chat_template *out) {
    if (!strcmp(name, "auto")) *out = tokenizer_chat_template(t);
    else if (!strcmp(name, "chatml")) *out = CHAT_CHATML;
    else if (!strcmp(name, "plain")) *out = CHAT_PLAIN;
    else {
        lr_error_set(NULL, "unknown chat template '%s' (expected auto, chatml or plain)", name);
        return -1;
    }
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
    return render(tpl, system ? system : QWEN2_DEFAULT_SYSTEM, user, add_generation_prompt);
}

char *tokenizer_chat_render(const lr_tokenizer *t, lr_chat_template tpl, const char *system, const char *user,
                            int add_generation_prompt) {
    return render(tpl, system ? system : t->default_system, user, add_generation_prompt);
}
