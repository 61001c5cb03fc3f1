#include "tokenizer/nfc.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/check.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

/* Hangul syllables compose and decompose algorithmically (Unicode §3.12). */
enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7,
       LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static int ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    int lo = 0, hi = lr_uc_ccc_table_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (lr_uc_ccc_table[mid].cp == cp) return lr_uc_ccc_table[mid].ccc;
        if (lr_uc_ccc_table[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static const lr_uc_decomp *decomp_of(uint32_t cp) {
    int lo = 0, hi = lr_uc_decomp_table_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (lr_uc_decomp_table[mid].cp == cp) return &lr_uc_decomp_table[mid];
        if (lr_uc_decomp_table[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = lr_uc_comp_table_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const lr_uc_comp *c = &lr_uc_comp_table[mid];
        if (c->first == a && c->second == b) return c->composite;
        if (c->first < a || (c->first == a && c->second < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

typedef struct {
    uint32_t *cp;
    uint8_t *cc;
    size_t n, cap;
} cpbuf;

static void push(cpbuf *b, uint32_t cp) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->cp = xrealloc(b->cp, b->cap * sizeof *b->cp);
        b->cc = xrealloc(b->cc, b->cap);
    }
    b->cp[b->n] = cp;
    b->cc[b->n] = (uint8_t)ccc_of(cp);
    b->n++;
}

char *lr_nfc(const char *s, size_t n, size_t *out_len) {
    /* Below U+0300 (lead bytes < 0xCC) there are no combining marks and no
     * characters that change under NFC, so such text is already NFC. */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;
    if (i == n) return NULL;

    /* 1. Full canonical decomposition. */
    cpbuf b = {0};
    const unsigned char *u = (const unsigned char *)s;
    for (i = 0; i < n;) {
        uint32_t cp;
        int k = lr_tok_utf8_next(u + i, n - i, &cp);
        LR_CHECK(k > 0, "lr_nfc needs valid UTF-8");
        i += (size_t)k;
        if (cp >= SBASE && cp < SBASE + SCOUNT) {
            uint32_t si = cp - SBASE;
            push(&b, LBASE + si / NCOUNT);
            push(&b, VBASE + (si % NCOUNT) / TCOUNT);
            if (si % TCOUNT) push(&b, TBASE + si % TCOUNT);
            continue;
        }
        const lr_uc_decomp *d = cp >= 0xC0 ? decomp_of(cp) : NULL;
        if (!d) {
            push(&b, cp);
            continue;
        }
        for (int j = 0; j < d->len; j++) push(&b, lr_uc_decomp_pool[d->off + j]);
    }

    /* 2. Canonical ordering: stable sort of each run of nonzero classes. */
    for (size_t j = 1; j < b.n; j++) {
        if (!b.cc[j]) continue;
        for (size_t k = j; k > 0 && b.cc[k - 1] > b.cc[k]; k--) {
            uint32_t tc = b.cp[k]; b.cp[k] = b.cp[k - 1]; b.cp[k - 1] = tc;
            uint8_t tk = b.cc[k]; b.cc[k] = b.cc[k - 1]; b.cc[k - 1] = tk;
        }
    }

    /* 3. Canonical composition: a character joins the last starter unless a
     * character in between blocks it (class 0, or class >= its own). */
    size_t o = 0;
    long starter = -1;
    for (size_t j = 0; j < b.n; j++) {
        uint32_t cp = b.cp[j];
        int cc = b.cc[j];
        if (starter >= 0) {
            int adjacent = (size_t)starter == o - 1;
            int last_cc = b.cc[o - 1];
            if (adjacent || (last_cc != 0 && last_cc < cc)) {
                uint32_t c = compose(b.cp[starter], cp);
                if (c) {
                    b.cp[starter] = c;
                    continue;
                }
            }
        }
        if (cc == 0) starter = (long)o;
        b.cp[o] = cp;
        b.cc[o] = (uint8_t)cc;
        o++;
    }

    char *out = xmalloc(4 * o + 1);
    size_t len = 0;
    for (size_t j = 0; j < o; j++) len += (size_t)lr_tok_utf8_put(b.cp[j], out + len);
    out[len] = 0;
    free(b.cp);
    free(b.cc);
    *out_len = len;
    return out;
}
