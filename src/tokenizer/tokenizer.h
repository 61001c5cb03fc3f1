/* Byte-level BPE tokenizer compatible with Hugging Face `tokenizers`
 * (GPT-2/Qwen2 family): added/special tokens split out first, then the
 * pre-tokenizer regex, then byte-level BPE on each piece. */
#ifndef LR_TOKENIZER_H
#define LR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lr_tokenizer lr_tokenizer;

/* Loads a tokenizer from a directory holding tokenizer.json, or
 * vocab.json + merges.txt (+ tokenizer_config.json / added_tokens.json).
 * tokenizer.json wins when both exist. NULL + lr_error on failure. */
lr_tokenizer *tokenizer_load(const char *dir);
/* Forces one of the two sources: "tokenizer.json" or "vocab.json". */
lr_tokenizer *tokenizer_load_from(const char *dir, const char *source);
void tokenizer_free(lr_tokenizer *t);

/* Encodes `len` bytes of text like HF's tokenizer.encode(text,
 * add_special_tokens=False): added/special tokens in the text become their
 * ids, no BOS/EOS is added. Invalid UTF-8 is handled as HF handles the
 * Python str bytes.decode('utf-8', 'replace') makes of it: every maximal
 * ill-formed subsequence becomes one U+FFFD first. Thread-safe. Returns the
 * number of ids written to a fresh *ids array, or -1 with lr_error set. */
long tokenizer_encode(const lr_tokenizer *t, const char *text, size_t len, int32_t **ids);

/* Decodes ids to bytes (special tokens included unless skip_special), then
 * to UTF-8 with invalid sequences replaced by U+FFFD as HF does. Returns a
 * fresh NUL-terminated string; *out_len gets its length. NULL + lr_error on
 * an id outside the vocabulary. */
char *tokenizer_decode(const lr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *out_len);
/* The same without the UTF-8 repair: the raw bytes the ids stand for (useful
 * when concatenating the output of several calls). Ids inside [0, n_tokens)
 * that name no token are skipped, as HF does. */
char *tokenizer_decode_bytes(const lr_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                             size_t *out_len);

/* Number of ids (vocabulary + added tokens), i.e. max id + 1. */
int tokenizer_n_tokens(const lr_tokenizer *t);
/* The tokenizer fits a model of vocab_size ids (every id < vocab_size; a
 * model may pad past the tokenizer). 0 ok; -1 + lr_error naming
 * model_dir/config.json otherwise. */
int tokenizer_check_vocab(const lr_tokenizer *t, int vocab_size, const char *model_dir);
/* The token's string as stored in the vocabulary (byte-level form, e.g.
 * "Ġthe"), or the added token's content; NULL for an unused id. */
const char *tokenizer_token_string(const lr_tokenizer *t, int32_t id);
/* Id of a vocabulary or added token string, -1 when absent. */
int32_t tokenizer_token_id(const lr_tokenizer *t, const char *token);
int tokenizer_is_special(const lr_tokenizer *t, int32_t id);
/* The eos_token of tokenizer_config.json (or -1). */
int32_t tokenizer_eos_id(const lr_tokenizer *t);

/* ---- chat templates
 * CHAT_MODEL renders the model's own Jinja template (tokenizer_config.json
 * chat_template or chat_template.jinja, or a file given with
 * --chat-template) as transformers' apply_chat_template does (jinja.h);
 * CHAT_CHATML is Qwen's ChatML written out natively, CHAT_PLAIN the bare
 * user text. */
typedef enum { CHAT_PLAIN = 0, CHAT_CHATML, CHAT_MODEL } lr_chat_template;

/* CHAT_MODEL when the tokenizer directory ships a chat template, else
 * CHAT_PLAIN (whether the template is supported is checked by
 * chat_template_from_name). */
lr_chat_template tokenizer_chat_template(const lr_tokenizer *t);
/* --chat-template: "auto" (the model's template; an error when it has none
 * or it uses Jinja outside the supported subset), "chatml", "plain", or the
 * path of a Jinja file, which becomes this tokenizer's template. -1 +
 * lr_error (naming --chat-template) for anything else: never a silent
 * fallback. */
int chat_template_from_name(const char *name, lr_tokenizer *t, lr_chat_template *out);
/* "model", "chatml" or "plain" (what run files and eval records store). */
const char *chat_template_name(lr_chat_template tpl);
/* Renders system + user (+ the assistant header when add_generation_prompt)
 * to a fresh string without a tokenizer: CHAT_CHATML or CHAT_PLAIN only.
 * system NULL = Qwen's "You are a helpful assistant.". */
char *chat_template_render(lr_chat_template tpl, const char *system, const char *user, int add_generation_prompt);
/* The system prompt this tokenizer's chat template uses when none is given
 * (e.g. Qwen2.5: "You are Qwen, created by Alibaba Cloud. ..."), NULL when
 * the template has none (then no system turn is rendered). */
const char *tokenizer_default_system(const lr_tokenizer *t);
/* Renders with this tokenizer: system NULL = no system message (the model's
 * template supplies its default; ChatML uses tokenizer_default_system).
 * A template that fails at render time ends the program with exit code 2
 * naming --chat-template (chat_template_from_name already rendered it once). */
char *tokenizer_chat_render(const lr_tokenizer *t, lr_chat_template tpl, const char *system, const char *user,
                            int add_generation_prompt);
/* A whole conversation (roles system/user/assistant) through the model's
 * template; NULL + lr_error when the template fails. */
char *tokenizer_chat_render_messages(const lr_tokenizer *t, const char *const *roles, const char *const *contents,
                                     size_t n, int add_generation_prompt);

#endif
