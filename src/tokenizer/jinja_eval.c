/* Jinja evaluation: expressions with Python semantics and jinja2's
 * Undefined (prints as "", is falsy and iterates as empty; any attribute,
 * item, call or arithmetic on it is an error), statements with for-loop
 * scopes, loop.* variables and break/continue, and the chat entry point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "tokenizer/jinja.h"
#include "tokenizer/jinja_internal.h"

/* ---- scopes */
static jv lookup(jctx *c, const char *name) {
    for (size_t i = c->nframes; i > 0; i--) {
        jv *v = jd_get(c->frames[i - 1], name);
        if (v) return *v;
    }
    static const char *const fns[] = {"namespace", "raise_exception", "strftime_now", "range", "dict"};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
        if (!strcmp(name, fns[i])) {
            jv f = {.t = JV_FUNC};
            f.u.fn.name = fns[i];
            return f;
        }
    return jv_undef();
}

static void push_frame(jctx *c) {
    if (c->nframes == c->capframes) {
        size_t cap = c->capframes ? 2 * c->capframes : 8;
        jdict **nf = ja_alloc(c->a, cap * sizeof *nf);
        if (c->nframes) memcpy(nf, c->frames, c->nframes * sizeof *nf);
        c->frames = nf, c->capframes = cap;
    }
    c->frames[c->nframes++] = ja_alloc(c->a, sizeof(jdict));
}

static void assign(jctx *c, const char *name, jv v) { jd_set(c->a, c->frames[c->nframes - 1], name, v); }

/* ---- UTF-8 code points of a string value */
static size_t cp_next(const char *s, size_t n, size_t i) {
    size_t k = i + 1;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80) k++;
    return k;
}

/* Byte offsets of the code points of s (n_cp + 1 entries). */
static size_t *cp_offsets(jctx *c, jv s, size_t *n_cp) {
    size_t n = j_utf8_len(s.u.str.s, s.u.str.n);
    size_t *off = ja_alloc(c->a, (n + 1) * sizeof *off);
    size_t k = 0;
    for (size_t i = 0; i < s.u.str.n; i = cp_next(s.u.str.s, s.u.str.n, i)) off[k++] = i;
    off[k] = s.u.str.n;
    *n_cp = n;
    return off;
}

/* ---- attribute and item access */
static _Noreturn void undefined_use(jctx *c, const jexpr *x, const char *what) {
    const jexpr *base = x->a;
    if (base && base->kind == E_NAME)
        jerr_throw(c->e, "line %d: '%s' is undefined (%s)", x->line, base->name, what);
    jerr_throw(c->e, "line %d: %s of an undefined value", x->line, what);
}

static jv get_attr(jctx *c, const jexpr *x, jv obj, const char *name) {
    switch (obj.t) {
    case JV_UNDEF: undefined_use(c, x, "attribute access");
    case JV_DICT: {
        jv m = jinja_method(c, obj, name);
        if (m.t != JV_UNDEF) return m;
    } /* fall through */
    case JV_NS: {
        jv *v = jd_get(obj.u.dict, name);
        return v ? *v : jv_undef();
    }
    case JV_STR: return jinja_method(c, obj, name);
    default: return jv_undef();
    }
}

static jv get_item(jctx *c, const jexpr *x, jv obj, jv key) {
    if (obj.t == JV_UNDEF) undefined_use(c, x, "subscript");
    if (key.t == JV_STR) {
        if (obj.t == JV_DICT || obj.t == JV_NS) {
            jv *v = jd_get(obj.u.dict, key.u.str.s);
            if (v) return *v;
        }
        return get_attr(c, x, obj, key.u.str.s);
    }
    if (key.t == JV_INT || key.t == JV_BOOL) {
        long long i = key.t == JV_INT ? key.u.i : key.u.b;
        if (obj.t == JV_LIST) {
            long long n = (long long)obj.u.list->n;
            if (i < 0) i += n;
            return i >= 0 && i < n ? obj.u.list->v[i] : jv_undef();
        }
        if (obj.t == JV_STR) {
            size_t n;
            size_t *off = cp_offsets(c, obj, &n);
            if (i < 0) i += (long long)n;
            if (i < 0 || i >= (long long)n) return jv_undef();
            return jv_str(c->a, obj.u.str.s + off[i], off[i + 1] - off[i]);
        }
    }
    return jv_undef();
}

static long long slice_bound(jctx *c, const jexpr *x, long long n, long long step, int is_start) {
    if (!x) return step > 0 ? (is_start ? 0 : n) : (is_start ? n - 1 : -1);
    jv v = jinja_eval(c, x);
    if (v.t == JV_NONE) return step > 0 ? (is_start ? 0 : n) : (is_start ? n - 1 : -1);
    if (v.t != JV_INT) jerr_throw(c->e, "line %d: slice indices must be integers", x->line);
    long long i = v.u.i;
    if (i < 0) {
        i += n;
        if (i < 0) i = step > 0 ? 0 : -1;
    } else if (i >= n)
        i = step > 0 ? n : n - 1;
    return i;
}

static jv slice(jctx *c, const jexpr *x, jv obj) {
    if (obj.t == JV_UNDEF) undefined_use(c, x, "slice");
    long long step = 1;
    if (x->d) {
        jv s = jinja_eval(c, x->d);
        if (s.t != JV_INT || s.u.i == 0) jerr_throw(c->e, "line %d: bad slice step", x->line);
        step = s.u.i;
    }
    size_t n_cp = 0, *off = NULL;
    long long n;
    if (obj.t == JV_LIST) n = (long long)obj.u.list->n;
    else if (obj.t == JV_STR) {
        off = cp_offsets(c, obj, &n_cp);
        n = (long long)n_cp;
    } else
        jerr_throw(c->e, "line %d: cannot slice a %s", x->line, jv_type_name(obj));
    long long lo = slice_bound(c, x->b, n, step, 1), hi = slice_bound(c, x->c, n, step, 0);
    jv out = obj.t == JV_LIST ? jv_new_list(c->a) : jv_undef();
    jbuf b = {0};
    for (long long i = lo; step > 0 ? i < hi : i > hi; i += step) {
        if (obj.t == JV_LIST) jl_push(c->a, out.u.list, obj.u.list->v[i]);
        else jb_put(&b, obj.u.str.s + off[i], off[i + 1] - off[i]);
    }
    if (obj.t == JV_STR) {
        out = jv_str(c->a, b.s ? b.s : "", b.n);
        free(b.s);
    }
    return out;
}

/* ---- operators */
static int is_num(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.u.b; }
static long long inum(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }

static _Noreturn void bad_operands(jctx *c, const jexpr *x, jv a, jv b) {
    if (a.t == JV_UNDEF || b.t == JV_UNDEF) {
        const jexpr *u = a.t == JV_UNDEF ? x->a : x->b;
        if (u->kind == E_NAME) jerr_throw(c->e, "line %d: '%s' is undefined", x->line, u->name);
        jerr_throw(c->e, "line %d: an undefined value in '%s'", x->line, x->name);
    }
    jerr_throw(c->e, "line %d: unsupported operand types for %s: %s and %s", x->line, x->name, jv_type_name(a),
               jv_type_name(b));
}

static int contains(jctx *c, const jexpr *x, jv item, jv box) {
    switch (box.t) {
    case JV_UNDEF: return 0;
    case JV_STR:
        if (item.t != JV_STR) bad_operands(c, x, item, box);
        if (item.u.str.n == 0) return 1;
        for (size_t i = 0; i + item.u.str.n <= box.u.str.n; i++)
            if (!memcmp(box.u.str.s + i, item.u.str.s, item.u.str.n)) return 1;
        return 0;
    case JV_LIST:
        for (size_t i = 0; i < box.u.list->n; i++)
            if (jv_equal(item, box.u.list->v[i])) return 1;
        return 0;
    case JV_DICT:
    case JV_NS: return item.t == JV_STR && jd_get(box.u.dict, item.u.str.s) != NULL;
    default: bad_operands(c, x, item, box);
    }
}

static int compare(jctx *c, const jexpr *x, jv a, jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return inum(a) < inum(b) ? -1 : inum(a) > inum(b);
        return num(a) < num(b) ? -1 : num(a) > num(b);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = a.u.str.n < b.u.str.n ? a.u.str.n : b.u.str.n;
        int r = memcmp(a.u.str.s, b.u.str.s, m);
        return r ? (r < 0 ? -1 : 1) : (a.u.str.n < b.u.str.n ? -1 : a.u.str.n > b.u.str.n);
    }
    bad_operands(c, x, a, b);
}

static jv binop(jctx *c, const jexpr *x) {
    const char *op = x->name;
    jv a = jinja_eval(c, x->a), b = jinja_eval(c, x->b);
    if (!strcmp(op, "~")) {
        jbuf s = {0};
        jv_to_str(&s, a);
        jv_to_str(&s, b);
        jv r = jv_str(c->a, s.s ? s.s : "", s.n);
        free(s.s);
        return r;
    }
    if (!strcmp(op, "==")) return jv_bool(jv_equal(a, b));
    if (!strcmp(op, "!=")) return jv_bool(!jv_equal(a, b));
    if (!strcmp(op, "in")) return jv_bool(contains(c, x, a, b));
    if (!strcmp(op, "not in")) return jv_bool(!contains(c, x, a, b));
    if (!strcmp(op, "<")) return jv_bool(compare(c, x, a, b) < 0);
    if (!strcmp(op, ">")) return jv_bool(compare(c, x, a, b) > 0);
    if (!strcmp(op, "<=")) return jv_bool(compare(c, x, a, b) <= 0);
    if (!strcmp(op, ">=")) return jv_bool(compare(c, x, a, b) >= 0);
    if (!strcmp(op, "+")) {
        if (a.t == JV_STR && b.t == JV_STR) {
            char *s = ja_alloc(c->a, a.u.str.n + b.u.str.n + 1);
            memcpy(s, a.u.str.s, a.u.str.n);
            memcpy(s + a.u.str.n, b.u.str.s, b.u.str.n);
            jv r = {.t = JV_STR};
            r.u.str.s = s, r.u.str.n = a.u.str.n + b.u.str.n;
            return r;
        }
        if (a.t == JV_LIST && b.t == JV_LIST) {
            jv r = jv_new_list(c->a);
            for (size_t i = 0; i < a.u.list->n; i++) jl_push(c->a, r.u.list, a.u.list->v[i]);
            for (size_t i = 0; i < b.u.list->n; i++) jl_push(c->a, r.u.list, b.u.list->v[i]);
            return r;
        }
    }
    if (!strcmp(op, "*") && ((a.t == JV_STR && b.t == JV_INT) || (a.t == JV_INT && b.t == JV_STR))) {
        jv s = a.t == JV_STR ? a : b;
        long long k = a.t == JV_INT ? a.u.i : b.u.i;
        jbuf o = {0};
        for (long long i = 0; i < k; i++) jb_put(&o, s.u.str.s, s.u.str.n);
        jv r = jv_str(c->a, o.s ? o.s : "", o.n);
        free(o.s);
        return r;
    }
    if (!is_num(a) || !is_num(b)) bad_operands(c, x, a, b);
    int ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
    jv r = {.t = JV_FLOAT};
    if (!strcmp(op, "+") || !strcmp(op, "-") || !strcmp(op, "*")) {
        if (ints) {
            long long p = inum(a), q = inum(b);
            return jv_int(op[0] == '+' ? p + q : op[0] == '-' ? p - q : p * q);
        }
        r.u.f = op[0] == '+' ? num(a) + num(b) : op[0] == '-' ? num(a) - num(b) : num(a) * num(b);
        return r;
    }
    if (num(b) == 0 && strcmp(op, "**")) jerr_throw(c->e, "line %d: division by zero", x->line);
    if (!strcmp(op, "/")) {
        r.u.f = num(a) / num(b);
        return r;
    }
    if (!strcmp(op, "//") || !strcmp(op, "%")) {
        if (ints) {
            long long p = inum(a), q = inum(b), d = p / q, m = p % q;
            if (m != 0 && ((m < 0) != (q < 0))) d--, m += q; /* Python floors */
            return jv_int(op[0] == '/' ? d : m);
        }
        double d = num(a) / num(b);
        d = d < 0 && d != (long long)d ? (double)((long long)d - 1) : (double)(long long)d;
        r.u.f = op[0] == '/' ? d : num(a) - d * num(b);
        return r;
    }
    /* ** */
    if (ints && inum(b) >= 0) {
        long long p = 1;
        for (long long i = 0; i < inum(b); i++) p *= inum(a);
        return jv_int(p);
    }
    double p = 1;
    for (long long i = 0; i < (long long)num(b) && ints; i++) p *= num(a);
    if (!ints) jerr_throw(c->e, "line %d: float powers are not supported", x->line);
    r.u.f = p;
    return r;
}

/* ---- expressions */
jv jinja_eval(jctx *c, const jexpr *x) {
    switch (x->kind) {
    case E_LIT: return x->lit;
    case E_NAME: return lookup(c, x->name);
    case E_ATTR: return get_attr(c, x, jinja_eval(c, x->a), x->name);
    case E_ITEM: {
        jv obj = jinja_eval(c, x->a);
        return get_item(c, x, obj, jinja_eval(c, x->b));
    }
    case E_SLICE: return slice(c, x, jinja_eval(c, x->a));
    case E_CALL: {
        jv fn = jinja_eval(c, x->a);
        if (fn.t != JV_FUNC && fn.t != JV_METHOD) {
            if (x->a->kind == E_NAME) jerr_throw(c->e, "line %d: '%s' is undefined or not callable", x->line, x->a->name);
            if (x->a->kind == E_ATTR)
                jerr_throw(c->e, "line %d: no method '%s' on a %s", x->line, x->a->name,
                           jv_type_name(jinja_eval(c, x->a->a)));
            jerr_throw(c->e, "line %d: a %s is not callable", x->line, jv_type_name(fn));
        }
        size_t np = x->args.npos, nk = x->args.nkw;
        jv *pos = ja_alloc(c->a, (np + nk + 1) * sizeof *pos), *kw = pos + np;
        for (size_t i = 0; i < np; i++) pos[i] = jinja_eval(c, x->args.pos[i]);
        for (size_t i = 0; i < nk; i++) kw[i] = jinja_eval(c, x->args.kw[i]);
        return jinja_call(c, fn, pos, np, x->args.kwnames, kw, nk, x->line);
    }
    case E_FILTER: return jinja_call_filter(c, x, jinja_eval(c, x->a));
    case E_TEST: return jv_bool(jinja_call_test(c, x, jinja_eval(c, x->a)) != x->negate);
    case E_NOT: return jv_bool(!jv_truthy(jinja_eval(c, x->a)));
    case E_NEG: {
        jv v = jinja_eval(c, x->a);
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_int(-inum(v));
        if (v.t == JV_FLOAT) {
            v.u.f = -v.u.f;
            return v;
        }
        jerr_throw(c->e, "line %d: bad operand type for unary -: %s", x->line, jv_type_name(v));
    }
    case E_AND: {
        jv a = jinja_eval(c, x->a);
        return jv_truthy(a) ? jinja_eval(c, x->b) : a;
    }
    case E_OR: {
        jv a = jinja_eval(c, x->a);
        return jv_truthy(a) ? a : jinja_eval(c, x->b);
    }
    case E_COND:
        if (jv_truthy(jinja_eval(c, x->a))) return jinja_eval(c, x->b);
        return x->c ? jinja_eval(c, x->c) : jv_undef();
    case E_BIN: return binop(c, x);
    case E_LIST: {
        jv l = jv_new_list(c->a);
        for (size_t i = 0; i < x->nitems; i++) jl_push(c->a, l.u.list, jinja_eval(c, x->items[i]));
        return l;
    }
    case E_DICT: {
        jv d = jv_new_dict(c->a);
        for (size_t i = 0; i < x->nitems; i++) {
            jv k = jinja_eval(c, x->items[i]);
            if (k.t != JV_STR) jerr_throw(c->e, "line %d: only string dict keys are supported", x->line);
            jd_set(c->a, d.u.dict, k.u.str.s, jinja_eval(c, x->vals[i]));
        }
        return d;
    }
    }
    jerr_throw(c->e, "line %d: bad expression", x->line);
}

/* ---- statements */
typedef struct {
    jctx *c;
    jbuf *out;
    int brk, cont;
} renderer;

static void render_body(renderer *r, const jbody *b);

static jv iterable(jctx *c, const jstmt *s, jv v) {
    if (v.t == JV_LIST) return v;
    jv l = jv_new_list(c->a);
    if (v.t == JV_UNDEF) return l;
    if (v.t == JV_DICT) {
        for (size_t i = 0; i < v.u.dict->n; i++) jl_push(c->a, l.u.list, jv_cstr(c->a, v.u.dict->k[i]));
        return l;
    }
    if (v.t == JV_STR) {
        for (size_t i = 0; i < v.u.str.n;) {
            size_t k = cp_next(v.u.str.s, v.u.str.n, i);
            jl_push(c->a, l.u.list, jv_str(c->a, v.u.str.s + i, k - i));
            i = k;
        }
        return l;
    }
    jerr_throw(c->e, "line %d: a %s is not iterable", s->line, jv_type_name(v));
}

static void bind_targets(renderer *r, const jstmt *s, jv item) {
    if (!s->var2) {
        assign(r->c, s->var, item);
        return;
    }
    if (item.t != JV_LIST || item.u.list->n != 2)
        jerr_throw(r->c->e, "line %d: cannot unpack a %s into two names", s->line, jv_type_name(item));
    assign(r->c, s->var, item.u.list->v[0]);
    assign(r->c, s->var2, item.u.list->v[1]);
}

static void render_for(renderer *r, const jstmt *s) {
    jctx *c = r->c;
    jv all = iterable(c, s, jinja_eval(c, s->expr));
    jlist *items = all.u.list;
    if (s->cond) { /* the loop filter sees the item, not loop.* */
        jv kept = jv_new_list(c->a);
        for (size_t i = 0; i < all.u.list->n; i++) {
            push_frame(c);
            bind_targets(r, s, all.u.list->v[i]);
            int keep = jv_truthy(jinja_eval(c, s->cond));
            c->nframes--;
            if (keep) jl_push(c->a, kept.u.list, all.u.list->v[i]);
        }
        items = kept.u.list;
    }
    size_t n = items->n;
    for (size_t i = 0; i < n; i++) {
        push_frame(c);
        bind_targets(r, s, items->v[i]);
        jv loop = jv_new_dict(c->a);
        jdict *d = loop.u.dict;
        jd_set(c->a, d, "index0", jv_int((long long)i));
        jd_set(c->a, d, "index", jv_int((long long)i + 1));
        jd_set(c->a, d, "revindex0", jv_int((long long)(n - 1 - i)));
        jd_set(c->a, d, "revindex", jv_int((long long)(n - i)));
        jd_set(c->a, d, "first", jv_bool(i == 0));
        jd_set(c->a, d, "last", jv_bool(i + 1 == n));
        jd_set(c->a, d, "length", jv_int((long long)n));
        jd_set(c->a, d, "previtem", i > 0 ? items->v[i - 1] : jv_undef());
        jd_set(c->a, d, "nextitem", i + 1 < n ? items->v[i + 1] : jv_undef());
        assign(c, "loop", loop);
        render_body(r, &s->body);
        c->nframes--;
        r->cont = 0;
        if (r->brk) {
            r->brk = 0;
            break;
        }
    }
    if (n == 0) render_body(r, &s->else_body);
}

#define MAX_STEPS 5000000LL
#define MAX_OUTPUT ((size_t)64 << 20)
#define MAX_MEMORY ((size_t)256 << 20)

static void render_stmt(renderer *r, const jstmt *s) {
    jctx *c = r->c;
    if (++c->steps > MAX_STEPS || r->out->n > MAX_OUTPUT || c->a->total > MAX_MEMORY)
        jerr_throw(c->e, "line %d: the template runs too long or renders too much", s->line);
    switch (s->kind) {
    case S_TEXT: jb_put(r->out, s->text, s->len); break;
    case S_OUT: jv_to_str(r->out, jinja_eval(c, s->expr)); break;
    case S_IF:
        if (jv_truthy(jinja_eval(c, s->expr))) render_body(r, &s->body);
        else render_body(r, &s->else_body);
        break;
    case S_FOR: render_for(r, s); break;
    case S_SET: {
        jv v = jinja_eval(c, s->expr);
        if (s->attr) {
            jv ns = lookup(c, s->var);
            if (ns.t != JV_NS) jerr_throw(c->e, "line %d: cannot assign attribute on a %s", s->line, jv_type_name(ns));
            jd_set(c->a, ns.u.dict, s->attr, v);
        } else
            assign(c, s->var, v);
        break;
    }
    case S_SETBLOCK: {
        jbuf b = {0};
        renderer sub = {.c = c, .out = &b};
        render_body(&sub, &s->body);
        assign(c, s->var, jv_str(c->a, b.s ? b.s : "", b.n));
        free(b.s);
        break;
    }
    case S_BREAK: r->brk = 1; break;
    case S_CONTINUE: r->cont = 1; break;
    case S_BODY: render_body(r, &s->body); break;
    }
}

static void render_body(renderer *r, const jbody *b) {
    for (size_t i = 0; i < b->n && !r->brk && !r->cont; i++) render_stmt(r, b->s[i]);
}

/* ---- entry points */
lr_jinja *jinja_compile(const char *src, char **err) {
    lr_jinja *t = xcalloc(1, sizeof *t);
    jerr e = {0};
    if (setjmp(e.jb)) {
        *err = e.msg;
        ja_free(&t->arena);
        free(t);
        return NULL;
    }
    t->root = jinja_parse(src, &t->arena, &e);
    return t;
}

void jinja_free(lr_jinja *t) {
    if (!t) return;
    ja_free(&t->arena);
    free(t);
}

char *jinja_render_chat(const lr_jinja *t, const lr_chat_msg *messages, size_t n, int add_generation_prompt,
                        const char *const *vars, char **err) {
    jarena a = {0};
    jerr e = {0};
    jbuf out = {0};
    jctx c = {.a = &a, .e = &e};
    if (setjmp(e.jb)) {
        *err = e.msg;
        free(out.s);
        ja_free(&a);
        return NULL;
    }
    push_frame(&c);
    jv msgs = jv_new_list(&a);
    for (size_t i = 0; i < n; i++) {
        jv m = jv_new_dict(&a);
        jd_set(&a, m.u.dict, "role", jv_cstr(&a, messages[i].role));
        jd_set(&a, m.u.dict, "content", jv_cstr(&a, messages[i].content));
        jl_push(&a, msgs.u.list, m);
    }
    assign(&c, "messages", msgs);
    assign(&c, "add_generation_prompt", jv_bool(add_generation_prompt));
    for (size_t i = 0; vars && vars[i]; i += 2)
        if (vars[i + 1]) assign(&c, vars[i], jv_cstr(&a, vars[i + 1]));
    renderer r = {.c = &c, .out = &out};
    render_body(&r, &t->root);
    char *res = out.s ? out.s : xstrdup("");
    ja_free(&a);
    return res;
}
