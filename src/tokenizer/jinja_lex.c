/* Jinja lexer with transformers' environment: trim_blocks (the first newline
 * after a block or comment tag is removed) and lstrip_blocks (spaces and tabs
 * from the start of a line up to a block or comment tag are removed), plus
 * the "-"/"+" whitespace-control markers. Mirrors jinja2/lexer.py. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "tokenizer/jinja_internal.h"

typedef struct {
    jtok *t;
    size_t n, cap;
    jarena *a;
} toks;

static jtok *push(toks *ts, jtok_type type, const char *text, size_t len, int line) {
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? 2 * ts->cap : 64;
        jtok *nt = ja_alloc(ts->a, cap * sizeof *nt);
        if (ts->n) memcpy(nt, ts->t, ts->n * sizeof *nt);
        ts->t = nt, ts->cap = cap;
    }
    jtok *k = &ts->t[ts->n++];
    memset(k, 0, sizeof *k);
    k->type = type, k->line = line, k->len = len;
    k->text = ja_strndup(ts->a, text, len);
    return k;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static int count_lines(const char *s, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

/* Template data: "\r\n" and "\r" become "\n" as Jinja's newline_sequence. */
static void push_text(toks *ts, const char *s, size_t n, int line) {
    if (!n) return;
    char *o = ja_alloc(ts->a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            o[k++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else
            o[k++] = s[i];
    }
    jtok *t = push(ts, JT_TEXT, "", 0, line);
    t->text = o, t->len = k;
}

static void put_utf8(char *o, size_t *k, unsigned cp) {
    if (cp < 0x80) o[(*k)++] = (char)cp;
    else if (cp < 0x800) {
        o[(*k)++] = (char)(0xC0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xE0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*k)++] = (char)(0xF0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal's body with Python's unicode-escape decoding (what
 * jinja2 applies); unknown escapes keep their backslash. */
static void push_string(toks *ts, jerr *e, const char *s, size_t n, int line) {
    char *o = ja_alloc(ts->a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') { /* newline normalisation, as for data */
            o[k++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
            continue;
        }
        if (s[i] != '\\' || i + 1 == n) {
            o[k++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case 'a': o[k++] = '\a'; break;
        case '\\': case '\'': case '"': o[k++] = c; break;
        case '\n': break;
        case 'x': case 'u': case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            unsigned cp = 0;
            for (int d = 0; d < digits; d++) {
                int h = i + 1 + (size_t)d < n ? hexval(s[i + 1 + d]) : -1;
                if (h < 0) jerr_throw(e, "line %d: truncated \\%c escape in a string literal", line, c);
                cp = cp * 16 + (unsigned)h;
            }
            if (cp > 0x10FFFF) jerr_throw(e, "line %d: escape \\%c beyond Unicode", line, c);
            i += (size_t)digits;
            put_utf8(o, &k, cp);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned cp = (unsigned)(c - '0');
                for (int d = 0; d < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; d++)
                    cp = cp * 8 + (unsigned)(s[++i] - '0');
                put_utf8(o, &k, cp);
            } else {
                o[k++] = '\\';
                o[k++] = c;
            }
        }
    }
    o[k] = 0;
    jtok *t = push(ts, JT_STRING, "", 0, line);
    t->text = o, t->len = k;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", "<=", ">="};

/* Tokens inside {{ }} or {% %} from *pp up to the end marker (`end` is "}}"
 * or "%}"); returns the strip sign before the marker ('-', '+' or 0) and
 * leaves *pp after the marker. */
static char lex_tag(toks *ts, jerr *e, const char *src, size_t *pp, int *line, const char *end) {
    size_t p = *pp;
    int depth = 0;
    for (;;) {
        while (src[p] && is_ws(src[p])) {
            if (src[p] == '\n') (*line)++;
            p++;
        }
        char c = src[p];
        if (!c) jerr_throw(e, "line %d: tag not closed with '%s'", *line, end);
        if (depth == 0) {
            if ((c == '-' || c == '+') && src[p + 1] == end[0] && src[p + 2] == end[1]) {
                *pp = p + 3;
                return c;
            }
            if (c == end[0] && src[p + 1] == end[1]) {
                *pp = p + 2;
                return 0;
            }
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            size_t q = p;
            while ((src[q] >= 'a' && src[q] <= 'z') || (src[q] >= 'A' && src[q] <= 'Z') ||
                   (src[q] >= '0' && src[q] <= '9') || src[q] == '_')
                q++;
            push(ts, JT_NAME, src + p, q - p, *line);
            p = q;
        } else if (c >= '0' && c <= '9') {
            size_t q = p;
            int is_float = 0;
            while (src[q] >= '0' && src[q] <= '9') q++;
            if (src[q] == '.' && src[q + 1] >= '0' && src[q + 1] <= '9') {
                is_float = 1;
                q++;
                while (src[q] >= '0' && src[q] <= '9') q++;
            }
            if ((src[q] == 'e' || src[q] == 'E') &&
                ((src[q + 1] >= '0' && src[q + 1] <= '9') ||
                 ((src[q + 1] == '+' || src[q + 1] == '-') && src[q + 2] >= '0' && src[q + 2] <= '9'))) {
                is_float = 1;
                q += 2;
                while (src[q] >= '0' && src[q] <= '9') q++;
            }
            jtok *t = push(ts, is_float ? JT_FLOAT : JT_INT, src + p, q - p, *line);
            if (is_float) t->fval = strtod(t->text, NULL);
            else t->ival = strtoll(t->text, NULL, 10);
            p = q;
        } else if (c == '\'' || c == '"') {
            size_t q = p + 1;
            int start_line = *line;
            while (src[q] && src[q] != c) {
                if (src[q] == '\\' && src[q + 1]) q++;
                if (src[q] == '\n') (*line)++;
                q++;
            }
            if (!src[q]) jerr_throw(e, "line %d: unterminated string literal", start_line);
            push_string(ts, e, src + p + 1, q - p - 1, start_line);
            p = q + 1;
        } else {
            size_t len = 1;
            for (size_t k = 0; k < sizeof OPS2 / sizeof *OPS2; k++)
                if (src[p] == OPS2[k][0] && src[p + 1] == OPS2[k][1]) len = 2;
            if (len == 1 && !strchr("()[]{}.,:|+-*/%~<>=", c))
                jerr_throw(e, "line %d: unexpected character '%c' in a tag", *line, c);
            if (c == '(' || c == '[' || c == '{') depth++;
            if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
            push(ts, JT_OP, src + p, len, *line);
            p += len;
        }
    }
}

jtok *jinja_lex(const char *src, jarena *a, jerr *e, size_t *n) {
    toks ts = {.a = a};
    size_t p = 0;
    int line = 1, line_starting = 1;
    for (;;) {
        /* the next tag opener */
        const char *q = src + p;
        const char *tag = NULL;
        for (; *q; q++)
            if (q[0] == '{' && (q[1] == '{' || q[1] == '%' || q[1] == '#')) {
                tag = q;
                break;
            }
        size_t text_end = tag ? (size_t)(tag - src) : strlen(src);
        size_t tlen = text_end - p;
        if (tag) {
            char kind = tag[1], sign = (tag[2] == '-' || tag[2] == '+') ? tag[2] : 0;
            if (sign == '-') {
                while (tlen > 0 && is_ws(src[p + tlen - 1])) tlen--;
            } else if (sign != '+' && kind != '{') {
                /* lstrip_blocks: only whitespace between the line start and the tag */
                size_t l_pos = 0;
                for (size_t i = tlen; i > 0; i--)
                    if (src[p + i - 1] == '\n') {
                        l_pos = i;
                        break;
                    }
                if (l_pos > 0 || line_starting) {
                    int blank = 1;
                    for (size_t i = l_pos; i < tlen && blank; i++) blank = src[p + i] == ' ' || src[p + i] == '\t' ||
                                                                           src[p + i] == '\v' || src[p + i] == '\f' ||
                                                                           src[p + i] == '\r';
                    if (blank) tlen = l_pos;
                }
            }
        }
        push_text(&ts, src + p, tlen, line);
        line += count_lines(src + p, text_end - p);
        if (!tag) break;
        char kind = tag[1];
        size_t s = text_end + 2 + ((tag[2] == '-' || tag[2] == '+') ? 1 : 0);
        char end_sign;
        size_t after;
        if (kind == '#') {
            const char *ce = strstr(src + s, "#}");
            if (!ce) jerr_throw(e, "line %d: comment not closed with '#}'", line);
            end_sign = (ce > src + s && (ce[-1] == '-' || ce[-1] == '+')) ? ce[-1] : 0;
            line += count_lines(src + s, (size_t)(ce - (src + s)));
            after = (size_t)(ce - src) + 2;
        } else {
            push(&ts, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, kind == '{' ? "{{" : "{%", 2, line);
            after = s;
            end_sign = lex_tag(&ts, e, src, &after, &line, kind == '{' ? "}}" : "%}");
            push(&ts, kind == '{' ? JT_VAR_END : JT_BLOCK_END, kind == '{' ? "}}" : "%}", 2, line);
        }
        size_t start_after = after;
        if (end_sign == '-') {
            while (src[after] && is_ws(src[after])) after++;
        } else if (end_sign != '+' && kind != '{' && src[after] == '\n') {
            after++; /* trim_blocks */
        }
        line += count_lines(src + start_after, after - start_after);
        line_starting = after > 0 && src[after - 1] == '\n';
        p = after;
    }
    push(&ts, JT_EOF, "", 0, line);
    *n = ts.n;
    return ts.t;
}
