/* Pre-tokenization: cutting normalized text into the pieces that BPE sees,
 * as HF's pre-tokenizers do (a Sequence of Split steps, then ByteLevel). */
#ifndef LR_TOK_PRETOK_H
#define LR_TOK_PRETOK_H

#include <stddef.h>

#include "tokenizer/regex.h"

/* HF's SplitDelimiterBehavior. */
typedef enum {
    LR_SPLIT_ISOLATED,
    LR_SPLIT_REMOVED,
    LR_SPLIT_MERGED_WITH_PREVIOUS,
    LR_SPLIT_MERGED_WITH_NEXT,
    LR_SPLIT_CONTIGUOUS,
} lr_split_behavior;

typedef struct {
    pcre2_code *re;        /* NULL: this step does not split */
    lr_split_behavior behavior;
    int invert;            /* the regex marks what is *not* a delimiter */
    int add_prefix_space;  /* ByteLevel: prepend ' ' to a piece without one */
} lr_pretok_step;

typedef struct {
    lr_pretok_step *steps;
    int n;
    int bytelevel_at; /* 1 + index of the last ByteLevel step, 0 = none */
} lr_pretok;

/* Pieces point into the input or into buffers owned by the list. */
typedef struct {
    const char *p;
    size_t n;
} lr_piece;

typedef struct {
    lr_piece *v, *tmp;
    size_t n, cap, tmp_cap;
    char **owned;
    size_t n_owned, cap_owned;
    pcre2_match_data *md;
} lr_pieces;

/* The regex of the GPT-2 ByteLevel pre-tokenizer (use_regex = true). */
extern const char *const LR_GPT2_PATTERN;

/* Appends a Split step; literal = the pattern is a plain string. -1 +
 * lr_error (naming `where`) when the pattern does not compile. */
int lr_pretok_add_split(lr_pretok *pt, const char *pattern, int literal, lr_split_behavior b, int invert,
                        const char *where);
/* Appends a ByteLevel step (its byte mapping happens in the BPE stage). */
int lr_pretok_add_bytelevel(lr_pretok *pt, int add_prefix_space, int use_regex, const char *where);
void lr_pretok_free(lr_pretok *pt);

/* Cuts s[0..n) (valid UTF-8) into pieces, replacing out's content. 0 ok;
 * -1 + lr_error if the regex engine fails (e.g. resource limits). */
int lr_pretok_run(const lr_pretok *pt, const char *s, size_t n, lr_pieces *out);
void lr_pieces_free(lr_pieces *ps);

#endif
