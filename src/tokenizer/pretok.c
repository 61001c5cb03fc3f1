#include "tokenizer/pretok.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "tokenizer/utf8.h"

const char *const LR_GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static lr_pretok_step *new_step(lr_pretok *pt) {
    pt->steps = xrealloc(pt->steps, (size_t)(pt->n + 1) * sizeof *pt->steps);
    lr_pretok_step *s = &pt->steps[pt->n++];
    memset(s, 0, sizeof *s);
    return s;
}

int lr_pretok_add_split(lr_pretok *pt, const char *pattern, int literal, lr_split_behavior b, int invert,
                        const char *where) {
    pcre2_code *re = lr_tok_regex_compile(pattern, literal, where);
    if (!re) return -1;
    lr_pretok_step *s = new_step(pt);
    s->re = re;
    s->behavior = b;
    s->invert = invert;
    return 0;
}

int lr_pretok_add_bytelevel(lr_pretok *pt, int add_prefix_space, int use_regex, const char *where) {
    pcre2_code *re = NULL;
    if (use_regex && !(re = lr_tok_regex_compile(LR_GPT2_PATTERN, 0, where))) return -1;
    lr_pretok_step *s = new_step(pt);
    s->re = re;
    s->behavior = LR_SPLIT_ISOLATED;
    s->add_prefix_space = add_prefix_space;
    pt->bytelevel_at = pt->n;
    return 0;
}

void lr_pretok_free(lr_pretok *pt) {
    for (int i = 0; i < pt->n; i++) pcre2_code_free(pt->steps[i].re);
    free(pt->steps);
    memset(pt, 0, sizeof *pt);
}

void lr_pieces_free(lr_pieces *ps) {
    for (size_t i = 0; i < ps->n_owned; i++) free(ps->owned[i]);
    free(ps->owned);
    free(ps->v);
    free(ps->tmp);
    pcre2_match_data_free(ps->md);
    memset(ps, 0, sizeof *ps);
}

static void push_to(lr_piece **v, size_t *n, size_t *cap, const char *p, size_t len) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[*n].p = p;
    (*v)[(*n)++].n = len;
}

static char *own(lr_pieces *ps, size_t n) {
    if (ps->n_owned == ps->cap_owned) {
        ps->cap_owned = ps->cap_owned ? 2 * ps->cap_owned : 16;
        ps->owned = xrealloc(ps->owned, ps->cap_owned * sizeof *ps->owned);
    }
    return ps->owned[ps->n_owned++] = xmalloc(n);
}

/* A span of a piece and whether the regex matched it (after `invert`). */
typedef struct {
    size_t a, b;
    int match;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} spans;

static void add_span(spans *sp, size_t a, size_t b, int match) {
    if (sp->n == sp->cap) {
        sp->cap = sp->cap ? 2 * sp->cap : 64;
        sp->v = xrealloc(sp->v, sp->cap * sizeof *sp->v);
    }
    sp->v[sp->n++] = (span){a, b, match};
}

/* All matches of re in s[0..n), with the gaps between them. */
static int find_spans(const pcre2_code *re, const char *s, size_t n, pcre2_match_data *md, int invert, spans *sp) {
    sp->n = 0;
    size_t prev = 0, pos = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* deep backtracking: retry interpreted */
            rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            lr_error_set("pre-tokenizer", "regex matching failed: %s", (const char *)msg);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (prev < a) add_span(sp, prev, a, invert);
        add_span(sp, a, b, !invert);
        prev = b;
        if (b > a) pos = b;
        else { /* empty match: step over one character */
            if (a >= n) break;
            uint32_t cp;
            int k = lr_tok_utf8_next((const unsigned char *)s + a, n - a, &cp);
            pos = a + (size_t)(k > 0 ? k : 1);
        }
    }
    if (prev < n) add_span(sp, prev, n, invert);
    return 0;
}

/* Applies HF's delimiter behaviour to the spans of one piece. */
static void apply_behavior(const span *v, size_t n, lr_split_behavior b, const char *base, lr_piece **out,
                           size_t *on, size_t *ocap) {
    size_t first = *on;
    int prev_match = 0;
    switch (b) {
    case LR_SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) push_to(out, on, ocap, base + v[i].a, v[i].b - v[i].a);
        break;
    case LR_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].match) push_to(out, on, ocap, base + v[i].a, v[i].b - v[i].a);
        break;
    case LR_SPLIT_MERGED_WITH_PREVIOUS:
    case LR_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            int join = b == LR_SPLIT_CONTIGUOUS ? v[i].match == prev_match : v[i].match && !prev_match;
            if (join && *on > first) (*out)[*on - 1].n = (size_t)(base + v[i].b - (*out)[*on - 1].p);
            else push_to(out, on, ocap, base + v[i].a, v[i].b - v[i].a);
            prev_match = v[i].match;
        }
        break;
    case LR_SPLIT_MERGED_WITH_NEXT:
        /* Walk backwards, extending the following piece to the left. */
        for (size_t k = n; k-- > 0;) {
            if (v[k].match && !prev_match && *on > first) {
                lr_piece *q = &(*out)[*on - 1];
                q->n += (size_t)(q->p - (base + v[k].a));
                q->p = base + v[k].a;
            } else push_to(out, on, ocap, base + v[k].a, v[k].b - v[k].a);
            prev_match = v[k].match;
        }
        for (size_t i = first, j = *on - 1; i < j; i++, j--) {
            lr_piece t = (*out)[i];
            (*out)[i] = (*out)[j];
            (*out)[j] = t;
        }
        break;
    }
}

int lr_pretok_run(const lr_pretok *pt, const char *s, size_t n, lr_pieces *ps) {
    for (size_t i = 0; i < ps->n_owned; i++) free(ps->owned[i]);
    ps->n_owned = 0;
    ps->n = 0;
    if (!ps->md) ps->md = pcre2_match_data_create(1, NULL);
    if (n) push_to(&ps->v, &ps->n, &ps->cap, s, n);
    spans sp = {0};
    int rc = 0;
    for (int k = 0; k < pt->n && rc == 0; k++) {
        const lr_pretok_step *st = &pt->steps[k];
        size_t tn = 0;
        for (size_t i = 0; i < ps->n; i++) {
            lr_piece pc = ps->v[i];
            if (st->add_prefix_space && pc.p[0] != ' ') {
                char *c = own(ps, pc.n + 1);
                c[0] = ' ';
                memcpy(c + 1, pc.p, pc.n);
                pc.p = c;
                pc.n++;
            }
            if (!st->re) {
                push_to(&ps->tmp, &tn, &ps->tmp_cap, pc.p, pc.n);
                continue;
            }
            if ((rc = find_spans(st->re, pc.p, pc.n, ps->md, st->invert, &sp)) != 0) break;
            apply_behavior(sp.v, sp.n, st->behavior, pc.p, &ps->tmp, &tn, &ps->tmp_cap);
        }
        /* HF drops empty pieces after every step. */
        size_t m = 0;
        for (size_t i = 0; i < tn; i++)
            if (ps->tmp[i].n) ps->tmp[m++] = ps->tmp[i];
        lr_piece *t = ps->v;
        ps->v = ps->tmp;
        ps->tmp = t;
        size_t c = ps->cap;
        ps->cap = ps->tmp_cap;
        ps->tmp_cap = c;
        ps->n = m;
    }
    free(sp.v);
    return rc;
}
