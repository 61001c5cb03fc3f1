/* Added tokens (special or not): found in the text before normalization and
 * pre-tokenization, the way HF's AddedVocabulary does it (leftmost-longest,
 * non-overlapping; then the lstrip/rstrip/single_word flags). */
#ifndef LR_TOK_ADDED_H
#define LR_TOK_ADDED_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *content;   /* as in the tokenizer files */
    char *pattern;   /* what is searched: content, normalized for `normalized` tokens */
    size_t len, plen;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} lr_added_token;

/* One of the two search sets: tokens matched on raw text, or on normalized text. */
typedef struct {
    int *order;      /* token indices grouped by first byte, longest first */
    int start[257];  /* order[start[b]..start[b+1]) begin with byte b */
} lr_added_set;

typedef struct {
    lr_added_token *v;
    int n, cap;
    lr_added_set raw, norm;
} lr_added_vocab;

/* A piece of the input: an added token (id >= 0) or text to tokenize (-1). */
typedef struct {
    size_t a, b;
    int32_t id;
} lr_split;

typedef struct {
    lr_split *v;
    size_t n, cap;
} lr_splits;

void lr_added_free(lr_added_vocab *av);
/* Adds or replaces (same content) a token; the caller owns nothing. */
void lr_added_add(lr_added_vocab *av, const char *content, int32_t id, int special, int lstrip, int rstrip,
                  int single_word, int normalized);
/* Builds the search sets; `nfc` = normalized tokens are matched in NFC form. */
void lr_added_finish(lr_added_vocab *av, int nfc);
const lr_added_token *lr_added_by_content(const lr_added_vocab *av, const char *s, size_t n);

/* Cuts s[0..n) at the tokens of one set (normalized = 0: raw set). The
 * splits cover the whole input in order; out is replaced. */
void lr_added_split(const lr_added_vocab *av, int normalized, const char *s, size_t n, lr_splits *out);

#endif
