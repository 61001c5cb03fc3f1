/* A Jinja2 subset, enough to render the chat templates that models ship in
 * tokenizer_config.json (Qwen2/2.5/Math, DeepSeek-R1-Distill, Llama 3.x)
 * exactly as transformers' apply_chat_template does: the environment is
 * Jinja2's with trim_blocks and lstrip_blocks, loop controls, the filters
 * and tests these templates use, Python string/dict methods, namespace(),
 * raise_exception() and strftime_now().
 *
 * A template that uses anything outside the subset (an unknown tag, filter
 * or test) fails to compile; a construct reached at render time that cannot
 * be evaluated (an unknown method, adding a string to an undefined value,
 * raise_exception) fails the render. Neither ever prints a partial result. */
#ifndef LR_JINJA_H
#define LR_JINJA_H

#include <stddef.h>

typedef struct lr_jinja lr_jinja;

/* Compiles `src`. NULL on failure with a malloc'd message in *err
 * ("line N: ..."). */
lr_jinja *jinja_compile(const char *src, char **err);
void jinja_free(lr_jinja *t);

/* One chat message: role and content (UTF-8). */
typedef struct {
    const char *role, *content;
} lr_chat_msg;

/* Renders the template with `messages` (n of them), add_generation_prompt,
 * and string variables given as name/value pairs in `vars` (NULL-terminated
 * list of 2k entries; a NULL value leaves the name undefined), e.g.
 * bos_token. The result is malloc'd; NULL on failure with a malloc'd
 * message in *err. */
char *jinja_render_chat(const lr_jinja *t, const lr_chat_msg *messages, size_t n, int add_generation_prompt,
                        const char *const *vars, char **err);

#endif
