#include "tokenizer/added.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "tokenizer/nfc.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

void lr_added_free(lr_added_vocab *av) {
    for (int i = 0; i < av->n; i++) {
        if (av->v[i].pattern != av->v[i].content) free(av->v[i].pattern);
        free(av->v[i].content);
    }
    free(av->v);
    free(av->raw.order);
    free(av->norm.order);
    memset(av, 0, sizeof *av);
}

void lr_added_add(lr_added_vocab *av, const char *content, int32_t id, int special, int lstrip, int rstrip,
                  int single_word, int normalized) {
    size_t len = strlen(content);
    lr_added_token *t = NULL;
    for (int i = 0; i < av->n; i++)
        if (av->v[i].len == len && memcmp(av->v[i].content, content, len) == 0) t = &av->v[i];
    if (t) {
        if (t->pattern != t->content) free(t->pattern);
        free(t->content);
    } else {
        if (av->n == av->cap) {
            av->cap = av->cap ? 2 * av->cap : 16;
            av->v = xrealloc(av->v, (size_t)av->cap * sizeof *av->v);
        }
        t = &av->v[av->n++];
    }
    t->content = t->pattern = xstrdup(content);
    t->len = t->plen = len;
    t->id = id;
    t->special = (uint8_t)special;
    t->lstrip = (uint8_t)lstrip;
    t->rstrip = (uint8_t)rstrip;
    t->single_word = (uint8_t)single_word;
    t->normalized = (uint8_t)normalized;
}

const lr_added_token *lr_added_by_content(const lr_added_vocab *av, const char *s, size_t n) {
    for (int i = 0; i < av->n; i++)
        if (av->v[i].len == n && memcmp(av->v[i].content, s, n) == 0) return &av->v[i];
    return NULL;
}

static const lr_added_vocab *g_sort_av;
static int by_first_then_longest(const void *x, const void *y) {
    const lr_added_token *a = &g_sort_av->v[*(const int *)x], *b = &g_sort_av->v[*(const int *)y];
    unsigned char fa = (unsigned char)a->pattern[0], fb = (unsigned char)b->pattern[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (a->plen != b->plen) return a->plen > b->plen ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

static void build_set(const lr_added_vocab *av, int normalized, lr_added_set *set) {
    free(set->order);
    set->order = xmalloc((size_t)(av->n + 1) * sizeof *set->order);
    int k = 0;
    for (int i = 0; i < av->n; i++)
        if (!!av->v[i].normalized == normalized && av->v[i].plen > 0) set->order[k++] = i;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* qsort has no context argument */
    pthread_mutex_lock(&mu);
    g_sort_av = av;
    qsort(set->order, (size_t)k, sizeof *set->order, by_first_then_longest);
    pthread_mutex_unlock(&mu);
    memset(set->start, 0, sizeof set->start);
    for (int i = 0; i < k; i++) set->start[(unsigned char)av->v[set->order[i]].pattern[0] + 1]++;
    for (int b = 0; b < 256; b++) set->start[b + 1] += set->start[b];
}

void lr_added_finish(lr_added_vocab *av, int nfc) {
    for (int i = 0; i < av->n; i++) {
        lr_added_token *t = &av->v[i];
        if (t->pattern != t->content) free(t->pattern);
        t->pattern = t->content;
        t->plen = t->len;
        size_t n;
        /* content is valid UTF-8 (lr_tokenizer_finish refuses the rest) */
        char *p = t->normalized && nfc ? lr_nfc(t->content, t->len, &n) : NULL;
        if (p) t->pattern = p, t->plen = n;
    }
    build_set(av, 0, &av->raw);
    build_set(av, 1, &av->norm);
}

/* ---- the character classes the flags use (Rust regex's \s and \w) */

static int is_space(uint32_t cp) {
    for (int i = 0; i < lr_uc_space_n; i++)
        if (cp >= lr_uc_space[i].lo && cp <= lr_uc_space[i].hi) return 1;
    return 0;
}

static pcre2_code *g_word_re;
static pthread_once_t g_word_once = PTHREAD_ONCE_INIT;
static void init_word_re(void) {
    /* Unicode \w as Rust's regex defines it (Alphabetic, marks, decimal
     * digits, connector punctuation, joiners), approximated with general
     * categories. Only single_word tokens need it. */
    g_word_re = lr_tok_regex_compile("[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]", 0, "added tokens");
    LR_CHECK(g_word_re, "word-character regex does not compile");
}

static int is_word_at(const char *s, size_t n) {
    pthread_once(&g_word_once, init_word_re);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(g_word_re, (PCRE2_SPTR)s, n, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* Start of the character that ends at s[end) (valid UTF-8). */
static size_t char_before(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

static void push(lr_splits *o, size_t a, size_t b, int32_t id) {
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->v = xrealloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n++] = (lr_split){a, b, id};
}

void lr_added_split(const lr_added_vocab *av, int normalized, const char *s, size_t n, lr_splits *out) {
    const lr_added_set *set = normalized ? &av->norm : &av->raw;
    out->n = 0;
    size_t start_offset = 0, pos = 0;
    int any = set->start[256] > 0;
    while (any && pos < n) {
        /* Leftmost position where some token matches, longest token there. */
        const lr_added_token *tok = NULL;
        size_t i = pos;
        for (; i < n && !tok; i++) {
            unsigned char c = (unsigned char)s[i];
            for (int k = set->start[c]; k < set->start[c + 1]; k++) {
                const lr_added_token *t = &av->v[set->order[k]];
                if (t->plen <= n - i && memcmp(s + i, t->pattern, t->plen) == 0) {
                    tok = t;
                    break;
                }
            }
        }
        if (!tok) break;
        size_t start = i - 1, stop = start + tok->plen;
        pos = stop; /* the search resumes after the match, kept or not */
        if (tok->single_word) {
            int word_before = start > 0 && is_word_at(s + char_before(s, start), start - char_before(s, start));
            int word_after = stop < n && is_word_at(s + stop, n - stop);
            if (word_before || word_after) continue;
        }
        if (tok->lstrip) {
            size_t a = start;
            while (a > start_offset) {
                size_t b = char_before(s, a);
                uint32_t cp;
                if (lr_tok_utf8_next((const unsigned char *)s + b, a - b, &cp) <= 0 || !is_space(cp)) break;
                a = b;
            }
            start = a;
        }
        if (tok->rstrip) {
            while (stop < n) {
                uint32_t cp;
                int k = lr_tok_utf8_next((const unsigned char *)s + stop, n - stop, &cp);
                if (k <= 0 || !is_space(cp)) break;
                stop += (size_t)k;
            }
        }
        if (start_offset < start) push(out, start_offset, start, -1);
        push(out, start, stop, tok->id);
        start_offset = stop;
    }
    if (start_offset < n) push(out, start_offset, n, -1);
}
