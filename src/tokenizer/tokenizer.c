/* Tokenizer life cycle, encoding and decoding; the file formats are read by
 * load_*.c, the stages live in added.c, nfc.c, pretok.c and bpe.c. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/utf8.h"

static lr_tokenizer *tok_new(const char *dir) {
    lr_tokenizer *t = xcalloc(1, sizeof *t);
    t->dir = xstrdup(dir);
    lr_bpe_init(&t->bpe);
    t->eos_id = -1;
    return t;
}

void tokenizer_free(lr_tokenizer *t) {
    if (!t) return;
    lr_bpe_free(&t->bpe);
    lr_added_free(&t->added);
    lr_pretok_free(&t->pretok);
    free(t->tok_str);
    free(t->dec_pool);
    free(t->dec_off);
    free(t->dec_len);
    free(t->special);
    free(t->chat_template);
    free(t->default_system);
    lr_chat_free(t);
    free(t->dir);
    free(t);
}

int lr_tokenizer_finish(lr_tokenizer *t) {
    /* An added token is Unicode text (a JSON string): refusing bytes that are
     * not UTF-8 here keeps every stretch between added tokens of a valid text
     * valid (UTF-8 is self-synchronising), which NFC and pre-tokenisation need. */
    for (int i = 0; i < t->added.n; i++)
        if (!lr_tok_utf8_valid(t->added.v[i].content, t->added.v[i].len)) {
            lr_error_set(t->dir, "added token with id %ld is not valid UTF-8", (long)t->added.v[i].id);
            return -1;
        }
    lr_bpe_finish(&t->bpe);
    lr_added_finish(&t->added, t->nfc);
    int n = 0;
    const lr_tok_strmap *vm = &t->bpe.vocab;
    for (size_t i = 0; i < vm->cap; i++)
        if (vm->slots[i].len != UINT32_MAX && vm->slots[i].value >= n) n = vm->slots[i].value + 1;
    for (int i = 0; i < t->added.n; i++)
        if (t->added.v[i].id >= n) n = t->added.v[i].id + 1;
    /* Every table below is sized by the largest id: a lying id (1e9) must
     * not turn into gigabytes and seconds per line. Real vocabularies are
     * dense; allow gaps up to the number of entries plus 1024. */
    const size_t entries = vm->n + (size_t)t->added.n;
    if ((size_t)n > 2 * entries + 1024) {
        lr_error_set(t->dir, "token id %d is far beyond the %zu tokens the tokenizer defines (ids must be nearly "
                             "dense: at most 2 x entries + 1024)", n - 1, entries);
        return -1;
    }
    t->n_tokens = n;
    t->tok_str = xcalloc((size_t)n + 1, sizeof *t->tok_str);
    t->special = xcalloc((size_t)n + 1, 1);
    for (size_t i = 0; i < vm->cap; i++)
        if (vm->slots[i].len != UINT32_MAX) t->tok_str[vm->slots[i].value] = vm->arena + vm->slots[i].off;
    /* An added token's content wins over a vocabulary entry with its id. */
    for (int i = 0; i < t->added.n; i++) {
        t->tok_str[t->added.v[i].id] = t->added.v[i].content;
        t->special[t->added.v[i].id] = t->added.v[i].special;
    }
    /* What HF's ByteLevel decoder makes of each token: its bytes when every
     * character is in the byte alphabet, else the token's own UTF-8. */
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (t->tok_str[i]) total += strlen(t->tok_str[i]);
    t->dec_pool = xmalloc(total + 1);
    t->dec_off = xcalloc((size_t)n + 1, sizeof *t->dec_off);
    t->dec_len = xcalloc((size_t)n + 1, sizeof *t->dec_len);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        const char *s = t->tok_str[i];
        if (!s) continue;
        size_t len = strlen(s), got;
        t->dec_off[i] = (uint32_t)o;
        if (lr_bytelevel_decode(s, len, t->dec_pool + o, &got) != 0) {
            memcpy(t->dec_pool + o, s, len);
            got = len;
        }
        t->dec_len[i] = (uint32_t)got;
        o += got;
    }
    LR_CHECK(o < UINT32_MAX, "vocabulary too large");
    return 0;
}

int32_t lr_added_next_id(const lr_tokenizer *t, const char *content) {
    size_t n = strlen(content);
    const lr_added_token *a = lr_added_by_content(&t->added, content, n);
    if (a) return a->id;
    int32_t id = lr_tok_strmap_get(&t->bpe.vocab, content, n);
    if (id >= 0) return id;
    int32_t vocab_size = (int32_t)t->bpe.vocab.n, max = -1;
    for (int i = 0; i < t->added.n; i++)
        if (t->added.v[i].id > max) max = t->added.v[i].id;
    if (max < 0) return vocab_size;
    return max >= vocab_size || vocab_size == 0 ? max + 1 : vocab_size;
}

lr_tokenizer *tokenizer_load_from(const char *dir, const char *source) {
    if (!lr_is_dir(dir)) {
        lr_error_set(dir, "tokenizer directory does not exist or is not a directory");
        return NULL;
    }
    int use_json;
    if (!source || !strcmp(source, "auto")) {
        char *p = lr_path_join(dir, "tokenizer.json");
        use_json = lr_file_exists(p);
        free(p);
    } else if (!strcmp(source, "tokenizer.json")) use_json = 1;
    else if (!strcmp(source, "vocab.json") || !strcmp(source, "vocab")) use_json = 0;
    else {
        lr_error_set(dir, "unknown tokenizer source '%s' (expected tokenizer.json or vocab.json)", source);
        return NULL;
    }
    lr_tokenizer *t = tok_new(dir);
    int rc;
    if (use_json) {
        char *p = lr_path_join(dir, "tokenizer.json");
        rc = lr_load_tokenizer_json(t, p);
        free(p);
    } else {
        rc = lr_load_vocab_merges(t, dir);
    }
    if (rc == 0) rc = lr_load_tokenizer_config(t, dir, !use_json);
    if (rc == 0) rc = lr_tokenizer_finish(t);
    if (rc != 0) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

lr_tokenizer *tokenizer_load(const char *dir) { return tokenizer_load_from(dir, NULL); }

/* ---- encoding */

/* Normalizes and pre-tokenizes one stretch of text between added tokens. */
static int encode_text(const lr_tokenizer *t, const char *s, size_t n, lr_splits *norm, lr_pieces *pieces,
                       lr_idvec *out) {
    size_t nn;
    char *normd = t->nfc ? lr_nfc(s, n, &nn) : NULL; /* s is valid UTF-8: lr_tokenizer_finish */
    if (normd) s = normd, n = nn;
    lr_added_split(&t->added, 1, s, n, norm);
    int rc = 0;
    for (size_t i = 0; i < norm->n && rc == 0; i++) {
        const lr_split *sp = &norm->v[i];
        if (sp->id >= 0) {
            lr_idvec_push(out, sp->id);
            continue;
        }
        if ((rc = lr_pretok_run(&t->pretok, s + sp->a, sp->b - sp->a, pieces)) != 0) break;
        for (size_t k = 0; k < pieces->n; k++) lr_bpe_encode(&t->bpe, pieces->v[k].p, pieces->v[k].n, out);
    }
    free(normd);
    return rc;
}

long tokenizer_encode(const lr_tokenizer *t, const char *text, size_t len, int32_t **ids) {
    /* HF sees a Python str: invalid UTF-8 reaches it already replaced. */
    char *fixed = NULL;
    if (!lr_tok_utf8_valid(text, len)) text = fixed = lr_tok_utf8_lossy(text, len, &len);
    lr_splits raw = {0}, norm = {0};
    lr_pieces pieces = {0};
    lr_idvec out = {0};
    lr_added_split(&t->added, 0, text, len, &raw);
    int rc = 0;
    for (size_t i = 0; i < raw.n && rc == 0; i++) {
        if (raw.v[i].id >= 0) lr_idvec_push(&out, raw.v[i].id);
        else rc = encode_text(t, text + raw.v[i].a, raw.v[i].b - raw.v[i].a, &norm, &pieces, &out);
    }
    free(raw.v);
    free(norm.v);
    lr_pieces_free(&pieces);
    free(fixed);
    if (rc != 0) {
        free(out.v);
        *ids = NULL;
        return -1;
    }
    if (!out.v) out.v = xmalloc(sizeof *out.v);
    *ids = out.v;
    return (long)out.n;
}

/* ---- decoding */

char *tokenizer_decode_bytes(const lr_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                             size_t *out_len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_tokens) {
            lr_error_set(NULL, "token id %ld is outside the vocabulary [0, %d)", (long)ids[i], t->n_tokens);
            return NULL;
        }
        total += t->dec_len[ids[i]];
    }
    char *b = xmalloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        /* Ids without a token are dropped, as HF does. */
        if (!t->tok_str[id] || (skip_special && t->special[id])) continue;
        memcpy(b + o, t->dec_pool + t->dec_off[id], t->dec_len[id]);
        o += t->dec_len[id];
    }
    b[o] = 0;
    *out_len = o;
    return b;
}

char *tokenizer_decode(const lr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *out_len) {
    size_t blen;
    char *b = tokenizer_decode_bytes(t, ids, n, skip_special, &blen);
    if (!b) return NULL;
    if (lr_tok_utf8_valid(b, blen)) {
        *out_len = blen;
        return b;
    }
    char *s = lr_tok_utf8_lossy(b, blen, out_len);
    free(b);
    return s;
}

/* ---- vocabulary queries */

int tokenizer_n_tokens(const lr_tokenizer *t) { return t->n_tokens; }

int tokenizer_check_vocab(const lr_tokenizer *t, int vocab_size, const char *model_dir) {
    if (t->n_tokens <= vocab_size) return 0;
    char *p = lr_path_join(model_dir, "config.json");
    lr_error_set(p, "vocab_size %d is smaller than the tokenizer's %d ids (its token '%.100s' has id %d): the model "
                    "cannot read every token",
                 vocab_size, t->n_tokens, t->tok_str[t->n_tokens - 1] ? t->tok_str[t->n_tokens - 1] : "?",
                 t->n_tokens - 1);
    free(p);
    return -1;
}

const char *tokenizer_token_string(const lr_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens ? t->tok_str[id] : NULL;
}

int32_t tokenizer_token_id(const lr_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    const lr_added_token *a = lr_added_by_content(&t->added, token, n);
    return a ? a->id : lr_tok_strmap_get(&t->bpe.vocab, token, n);
}

int tokenizer_is_special(const lr_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens && t->special[id];
}

int32_t tokenizer_eos_id(const lr_tokenizer *t) { return t->eos_id; }
