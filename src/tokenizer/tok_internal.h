/* The tokenizer's internals, shared by the loaders and the encoder. */
#ifndef LR_TOK_INTERNAL_H
#define LR_TOK_INTERNAL_H

#include <stdint.h>

#include "tokenizer/added.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

struct lr_tokenizer {
    char *dir;
    lr_bpe bpe;
    lr_added_vocab added;
    lr_pretok pretok;
    int nfc; /* the normalizer: NFC or none */

    /* Per id (0 .. n_tokens-1): the token string (NULL = unused id), the
     * bytes the ByteLevel decoder gives for it, and whether it is special. */
    int n_tokens;
    char **tok_str;
    char *dec_pool;
    uint32_t *dec_off, *dec_len;
    uint8_t *special;

    /* From tokenizer_config.json (optional). */
    int32_t eos_id;
    char *chat_template;     /* the Jinja source, NULL when none */
    char *default_system;    /* hardcoded in the template, NULL when none */
    struct lr_jinja *jinja;  /* the compiled template (chat.c), NULL until used */
    char *jinja_err;         /* why the template did not compile */
    /* bos_token, eos_token, unk_token, pad_token as tokenizer_config.json
     * names them (NULL when unset): the template sees them as variables. */
    char *special_text[4];
};

/* Loaders fill t->bpe (vocabulary + merges), t->added, t->pretok, t->nfc;
 * both return 0, or -1 with lr_error set. */
int lr_load_tokenizer_json(lr_tokenizer *t, const char *path);
int lr_load_vocab_merges(lr_tokenizer *t, const char *dir);
/* Reads tokenizer_config.json when present: added_tokens_decoder (only when
 * add_tokens, i.e. for the vocab.json source), eos_token, chat_template. */
int lr_load_tokenizer_config(lr_tokenizer *t, const char *dir, int add_tokens);
/* The id HF's AddedVocabulary gives a token it adds: the id its content
 * already has (added token, then vocabulary), else the next free one. */
int32_t lr_added_next_id(const lr_tokenizer *t, const char *content);
/* Builds the id tables once the vocabulary and added tokens are final. */
int lr_tokenizer_finish(lr_tokenizer *t);
/* The system prompt a chat template hardcodes (fresh string), or NULL. */
char *lr_chat_default_system(const char *jinja);
/* Frees what chat.c caches in the tokenizer (compiled template, specials). */
void lr_chat_free(lr_tokenizer *t);

#endif
