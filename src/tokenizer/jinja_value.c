/* Jinja values: the arena they live in, Python truthiness/equality, str()
 * and json.dumps() text of a value. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "tokenizer/jinja_internal.h"

/* ---- arena */
struct jarena_block {
    jarena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    jarena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = xmalloc(sizeof *b + cap);
        b->used = 0, b->cap = cap, b->next = a->head;
        a->head = b;
        a->total += cap;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *ja_strndup(jarena *a, const char *s, size_t n) {
    char *o = ja_alloc(a, n + 1);
    if (n) memcpy(o, s, n);
    o[n] = 0;
    return o;
}

void ja_free(jarena *a) {
    for (jarena_block *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    a->head = NULL;
    a->total = 0;
}

_Noreturn void jerr_throw(jerr *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char m[1024];
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    free(e->msg);
    e->msg = xstrdup(m);
    longjmp(e->jb, 1);
}

/* ---- buffers */
void jb_put(jbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
void jb_puts(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

/* ---- constructors */
jv jv_str(jarena *a, const char *s, size_t n) {
    jv v = {.t = JV_STR};
    v.u.str.s = ja_strndup(a, s, n);
    v.u.str.n = n;
    return v;
}
jv jv_cstr(jarena *a, const char *s) { return jv_str(a, s, strlen(s)); }
jv jv_int(long long i) {
    jv v = {.t = JV_INT};
    v.u.i = i;
    return v;
}
jv jv_bool(int b) {
    jv v = {.t = JV_BOOL};
    v.u.b = !!b;
    return v;
}
jv jv_undef(void) { return (jv){.t = JV_UNDEF}; }
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_new_list(jarena *a) {
    jv v = {.t = JV_LIST};
    v.u.list = ja_alloc(a, sizeof *v.u.list);
    return v;
}
jv jv_new_dict(jarena *a) {
    jv v = {.t = JV_DICT};
    v.u.dict = ja_alloc(a, sizeof *v.u.dict);
    return v;
}

void jl_push(jarena *a, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        jv *nv = ja_alloc(a, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv, l->cap = cap;
    }
    l->v[l->n++] = v;
}

jv *jd_get(const jdict *d, const char *k) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->k[i], k)) return &d->v[i];
    return NULL;
}

void jd_set(jarena *a, jdict *d, const char *k, jv v) {
    jv *old = jd_get(d, k);
    if (old) {
        *old = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        const char **nk = ja_alloc(a, cap * sizeof *nk);
        jv *nv = ja_alloc(a, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk, d->v = nv, d->cap = cap;
    }
    d->k[d->n] = ja_strndup(a, k, strlen(k));
    d->v[d->n++] = v;
}

/* ---- Python semantics */
int jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0;
    case JV_STR: return v.u.str.n > 0;
    case JV_LIST: return v.u.list->n > 0;
    case JV_DICT: return v.u.dict->n > 0;
    default: return 1;
    }
}

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.u.b; }

int jv_equal(jv a, jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT)
            return (a.t == JV_INT ? a.u.i : a.u.b) == (b.t == JV_INT ? b.u.i : b.u.b);
        return num(a) == num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a.u.str.n == b.u.str.n && !memcmp(a.u.str.s, b.u.str.s, a.u.str.n);
    case JV_LIST:
        if (a.u.list->n != b.u.list->n) return 0;
        for (size_t i = 0; i < a.u.list->n; i++)
            if (!jv_equal(a.u.list->v[i], b.u.list->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.dict->n != b.u.dict->n) return 0;
        for (size_t i = 0; i < a.u.dict->n; i++) {
            jv *o = jd_get(b.u.dict, a.u.dict->k[i]);
            if (!o || !jv_equal(a.u.dict->v[i], *o)) return 0;
        }
        return 1;
    default: return a.u.dict == b.u.dict;
    }
}

const char *jv_type_name(jv v) {
    static const char *const names[] = {"undefined", "none", "bool", "int", "float", "str",
                                        "list", "dict", "namespace", "function", "method"};
    return names[v.t];
}

/* Python's repr(float): the shortest text that reads back the same. */
static void put_float(jbuf *b, double f) {
    char s[64];
    if (isnan(f)) {
        jb_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        jb_puts(b, f > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, f);
        if (strtod(s, NULL) == f) break;
    }
    jb_puts(b, s);
    if (!strpbrk(s, ".en")) jb_puts(b, ".0");
}

/* Python's repr(str) for strings inside printed lists and dicts. */
static void put_repr_str(jbuf *b, const char *s, size_t n) {
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    jb_put(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '\\') jb_puts(b, "\\\\");
        else if (c == (unsigned char)q) {
            esc[0] = '\\', esc[1] = (char)q;
            jb_put(b, esc, 2);
        } else if (c == '\n') jb_puts(b, "\\n");
        else if (c == '\r') jb_puts(b, "\\r");
        else if (c == '\t') jb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            jb_puts(b, esc);
        } else
            jb_put(b, (const char *)&c, 1);
    }
    jb_put(b, &q, 1);
}

static void put_repr(jbuf *b, jv v) {
    if (v.t == JV_STR) put_repr_str(b, v.u.str.s, v.u.str.n);
    else jv_to_str(b, v);
}

void jv_to_str(jbuf *b, jv v) {
    char s[32];
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE: jb_puts(b, "None"); return;
    case JV_BOOL: jb_puts(b, v.u.b ? "True" : "False"); return;
    case JV_INT:
        snprintf(s, sizeof s, "%lld", v.u.i);
        jb_puts(b, s);
        return;
    case JV_FLOAT: put_float(b, v.u.f); return;
    case JV_STR: jb_put(b, v.u.str.s, v.u.str.n); return;
    case JV_LIST:
        jb_puts(b, "[");
        for (size_t i = 0; i < v.u.list->n; i++) {
            if (i) jb_puts(b, ", ");
            put_repr(b, v.u.list->v[i]);
        }
        jb_puts(b, "]");
        return;
    case JV_DICT:
        jb_puts(b, "{");
        for (size_t i = 0; i < v.u.dict->n; i++) {
            if (i) jb_puts(b, ", ");
            put_repr_str(b, v.u.dict->k[i], strlen(v.u.dict->k[i]));
            jb_puts(b, ": ");
            put_repr(b, v.u.dict->v[i]);
        }
        jb_puts(b, "}");
        return;
    case JV_NS: jb_puts(b, "<Namespace>"); return;
    default: jb_puts(b, "<function>"); return;
    }
}

jv jv_stringify(jarena *a, jv v) {
    if (v.t == JV_STR) return v;
    jbuf b = {0};
    jv_to_str(&b, v);
    jv r = jv_str(a, b.s ? b.s : "", b.n);
    free(b.s);
    return r;
}

static void json_str(jbuf *b, const char *s, size_t n) {
    jb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"': jb_puts(b, "\\\""); break;
        case '\\': jb_puts(b, "\\\\"); break;
        case '\n': jb_puts(b, "\\n"); break;
        case '\r': jb_puts(b, "\\r"); break;
        case '\t': jb_puts(b, "\\t"); break;
        case '\b': jb_puts(b, "\\b"); break;
        case '\f': jb_puts(b, "\\f"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                jb_puts(b, esc);
            } else
                jb_put(b, (const char *)&c, 1);
        }
    }
    jb_puts(b, "\"");
}

static void newline_indent(jbuf *b, int indent, int depth) {
    jb_puts(b, "\n");
    for (int i = 0; i < indent * depth; i++) jb_puts(b, " ");
}

int jv_to_json(jbuf *b, jv v, int indent, int depth) {
    char s[32];
    switch (v.t) {
    case JV_NONE: jb_puts(b, "null"); return 0;
    case JV_BOOL: jb_puts(b, v.u.b ? "true" : "false"); return 0;
    case JV_INT:
        snprintf(s, sizeof s, "%lld", v.u.i);
        jb_puts(b, s);
        return 0;
    case JV_FLOAT:
        if (isnan(v.u.f)) jb_puts(b, "NaN");
        else if (isinf(v.u.f)) jb_puts(b, v.u.f > 0 ? "Infinity" : "-Infinity");
        else put_float(b, v.u.f);
        return 0;
    case JV_STR: json_str(b, v.u.str.s, v.u.str.n); return 0;
    case JV_LIST:
    case JV_DICT: {
        int is_list = v.t == JV_LIST;
        size_t n = is_list ? v.u.list->n : v.u.dict->n;
        jb_puts(b, is_list ? "[" : "{");
        if (n == 0) {
            jb_puts(b, is_list ? "]" : "}");
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (i) jb_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(b, indent, depth + 1);
            if (!is_list) {
                json_str(b, v.u.dict->k[i], strlen(v.u.dict->k[i]));
                jb_puts(b, ": ");
            }
            if (jv_to_json(b, is_list ? v.u.list->v[i] : v.u.dict->v[i], indent, depth + 1) != 0) return -1;
        }
        if (indent >= 0) newline_indent(b, indent, depth);
        jb_puts(b, is_list ? "]" : "}");
        return 0;
    }
    default: return -1;
    }
}

int j_is_space(unsigned cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

size_t j_utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}
