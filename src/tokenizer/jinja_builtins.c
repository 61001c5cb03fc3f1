/* Jinja builtins used by chat templates: filters, tests, Python str/dict
 * methods and the globals transformers adds (namespace, raise_exception,
 * strftime_now) plus range and dict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "tokenizer/jinja_internal.h"

static const char *const FILTERS[] = {"trim", "length", "count", "tojson", "join", "string", "lower", "upper",
                                      "capitalize", "title", "first", "last", "list", "default", "d", "items",
                                      "replace", "abs", "int", "reject", "select", "rejectattr", "selectattr",
                                      "map", "safe", "reverse", NULL};
static const char *const TESTS[] = {"defined", "undefined", "none", "string", "number", "integer", "float",
                                    "boolean", "true", "false", "mapping", "iterable", "sequence", "callable",
                                    "equalto", "eq", "ne", "sameas", "odd", "even", "divisibleby", "in",
                                    "lt", "gt", "le", "ge", "lower", "upper", NULL};

static int in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s)) return 1;
    return 0;
}
int jinja_known_filter(const char *name) { return in_list(FILTERS, name); }
int jinja_known_test(const char *name) { return in_list(TESTS, name); }

/* ---- helpers */
static unsigned cp_at(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char c = (unsigned char)s[i];
    int k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + (size_t)k > n) k = 1;
    unsigned cp = k == 1 ? c : k == 2 ? (c & 0x1F) : k == 3 ? (c & 0x0F) : (c & 0x07);
    for (int j = 1; j < k; j++) cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3F);
    *len = (size_t)k;
    return cp;
}

static int in_chars(unsigned cp, jv chars) {
    if (chars.t != JV_STR) return j_is_space(cp);
    for (size_t i = 0; i < chars.u.str.n;) {
        size_t l;
        if (cp_at(chars.u.str.s, chars.u.str.n, i, &l) == cp) return 1;
        i += l;
    }
    return 0;
}

/* str.strip/lstrip/rstrip: chars NONE/UNDEF strips Unicode whitespace. */
static jv strip(jctx *c, jv s, jv chars, int left, int right) {
    size_t a = 0, b = s.u.str.n;
    while (left && a < b) {
        size_t l;
        if (!in_chars(cp_at(s.u.str.s, b, a, &l), chars)) break;
        a += l;
    }
    while (right && b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s.u.str.s[st] & 0xC0) == 0x80) st--;
        size_t l;
        if (!in_chars(cp_at(s.u.str.s, b, st, &l), chars)) break;
        b = st;
    }
    return jv_str(c->a, s.u.str.s + a, b - a);
}

static jv ascii_case(jctx *c, jv s, int mode /* 0 lower 1 upper 2 capitalize 3 title */) {
    jv r = jv_str(c->a, s.u.str.s, s.u.str.n);
    char *p = (char *)r.u.str.s;
    int word_start = 1;
    for (size_t i = 0; i < r.u.str.n; i++) {
        char ch = p[i];
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        int up = mode == 1 || (mode == 2 && i == 0) || (mode == 3 && word_start);
        if (up && ch >= 'a' && ch <= 'z') p[i] = (char)(ch - 32);
        if (!up && ch >= 'A' && ch <= 'Z') p[i] = (char)(ch + 32);
        word_start = !alpha;
    }
    return r;
}

static jv replace(jctx *c, jv s, jv old, jv new, long long count) {
    if (old.t != JV_STR || new.t != JV_STR) jerr_throw(c->e, "replace() needs two strings");
    jbuf b = {0};
    size_t i = 0;
    long long done = 0;
    while (i <= s.u.str.n) {
        if ((count < 0 || done < count) && old.u.str.n == 0) {
            jb_put(&b, new.u.str.s, new.u.str.n);
            done++;
            if (i == s.u.str.n) break;
            size_t k = i + 1;
            while (k < s.u.str.n && ((unsigned char)s.u.str.s[k] & 0xC0) == 0x80) k++;
            jb_put(&b, s.u.str.s + i, k - i);
            i = k;
            continue;
        }
        if ((count < 0 || done < count) && old.u.str.n && i + old.u.str.n <= s.u.str.n &&
            !memcmp(s.u.str.s + i, old.u.str.s, old.u.str.n)) {
            jb_put(&b, new.u.str.s, new.u.str.n);
            i += old.u.str.n;
            done++;
            continue;
        }
        if (i == s.u.str.n) break;
        jb_put(&b, s.u.str.s + i, 1);
        i++;
    }
    jv r = jv_str(c->a, b.s ? b.s : "", b.n);
    free(b.s);
    return r;
}

static jv split(jctx *c, jv s, jv sep, long long maxsplit) {
    jv out = jv_new_list(c->a);
    const char *p = s.u.str.s;
    size_t n = s.u.str.n;
    if (sep.t == JV_NONE || sep.t == JV_UNDEF) { /* runs of whitespace, no empty pieces */
        size_t i = 0;
        long long done = 0;
        for (;;) {
            size_t l;
            while (i < n && j_is_space(cp_at(p, n, i, &l))) i += l;
            if (i >= n) break;
            size_t st = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                size_t e = n;
                while (e > st) { /* rstrip the remainder */
                    size_t q = e - 1;
                    while (q > st && ((unsigned char)p[q] & 0xC0) == 0x80) q--;
                    if (!j_is_space(cp_at(p, n, q, &l))) break;
                    e = q;
                }
                jl_push(c->a, out.u.list, jv_str(c->a, p + st, e - st));
                break;
            }
            while (i < n && !j_is_space(cp_at(p, n, i, &l))) i += l;
            jl_push(c->a, out.u.list, jv_str(c->a, p + st, i - st));
            done++;
        }
        return out;
    }
    if (sep.t != JV_STR || sep.u.str.n == 0) jerr_throw(c->e, "split(): empty or non-string separator");
    size_t st = 0;
    long long done = 0;
    for (size_t i = 0; i + sep.u.str.n <= n;) {
        if ((maxsplit < 0 || done < maxsplit) && !memcmp(p + i, sep.u.str.s, sep.u.str.n)) {
            jl_push(c->a, out.u.list, jv_str(c->a, p + st, i - st));
            i += sep.u.str.n;
            st = i;
            done++;
        } else
            i++;
    }
    jl_push(c->a, out.u.list, jv_str(c->a, p + st, n - st));
    return out;
}

static jv arg(const jv *pos, size_t npos, const char **kwn, const jv *kw, size_t nkw, size_t i, const char *name) {
    if (i < npos) return pos[i];
    for (size_t k = 0; k < nkw; k++)
        if (!strcmp(kwn[k], name)) return kw[k];
    return jv_undef();
}

static jv need_str(jctx *c, jv v, const char *what, int line) {
    if (v.t != JV_STR) jerr_throw(c->e, "line %d: %s needs a string, got a %s", line, what, jv_type_name(v));
    return v;
}

static jv as_list(jctx *c, jv v, int line) {
    if (v.t == JV_LIST) return v;
    jv l = jv_new_list(c->a);
    if (v.t == JV_UNDEF) return l;
    if (v.t == JV_DICT) {
        for (size_t i = 0; i < v.u.dict->n; i++) jl_push(c->a, l.u.list, jv_cstr(c->a, v.u.dict->k[i]));
        return l;
    }
    if (v.t == JV_STR) {
        for (size_t i = 0; i < v.u.str.n;) {
            size_t len;
            cp_at(v.u.str.s, v.u.str.n, i, &len);
            jl_push(c->a, l.u.list, jv_str(c->a, v.u.str.s + i, len));
            i += len;
        }
        return l;
    }
    jerr_throw(c->e, "line %d: a %s is not iterable", line, jv_type_name(v));
}

/* A test by name on v with extra arguments. */
static int run_test(jctx *c, const char *name, jv v, const jv *a, size_t na, int line) {
    jv x = na ? a[0] : jv_undef();
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "float")) return v.t == JV_FLOAT;
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(name, "mapping")) return v.t == JV_DICT;
    if (!strcmp(name, "iterable")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    if (!strcmp(name, "sequence")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT;
    if (!strcmp(name, "callable")) return v.t == JV_FUNC || v.t == JV_METHOD;
    if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "sameas")) return jv_equal(v, x);
    if (!strcmp(name, "ne")) return !jv_equal(v, x);
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        if (v.t != JV_INT) jerr_throw(c->e, "line %d: test '%s' needs an integer", line, name);
        long long m = !strcmp(name, "divisibleby") ? (x.t == JV_INT && x.u.i ? x.u.i : 0) : 2;
        if (!m) jerr_throw(c->e, "line %d: divisibleby needs a non-zero integer", line);
        long long r = ((v.u.i % m) + m) % m;
        return !strcmp(name, "odd") ? r == 1 : r == 0;
    }
    if (!strcmp(name, "in")) {
        if (x.t == JV_LIST) {
            for (size_t i = 0; i < x.u.list->n; i++)
                if (jv_equal(v, x.u.list->v[i])) return 1;
            return 0;
        }
        if (x.t == JV_DICT) return v.t == JV_STR && jd_get(x.u.dict, v.u.str.s);
        if (x.t == JV_STR && v.t == JV_STR) return strstr(x.u.str.s, v.u.str.s) != NULL;
        jerr_throw(c->e, "line %d: test 'in' needs a container", line);
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != JV_STR) return 0;
        int any = 0;
        for (size_t i = 0; i < v.u.str.n; i++) {
            char ch = v.u.str.s[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) any = 1;
            if (name[0] == 'l' && ch >= 'A' && ch <= 'Z') return 0;
            if (name[0] == 'u' && ch >= 'a' && ch <= 'z') return 0;
        }
        return any;
    }
    /* lt gt le ge */
    if (!((v.t == JV_INT || v.t == JV_FLOAT) && (x.t == JV_INT || x.t == JV_FLOAT)))
        jerr_throw(c->e, "line %d: test '%s' needs numbers", line, name);
    double p = v.t == JV_INT ? (double)v.u.i : v.u.f, q = x.t == JV_INT ? (double)x.u.i : x.u.f;
    return !strcmp(name, "lt") ? p < q : !strcmp(name, "gt") ? p > q : !strcmp(name, "le") ? p <= q : p >= q;
}

int jinja_call_test(jctx *c, const jexpr *x, jv v) {
    jv *a = ja_alloc(c->a, (x->args.npos + 1) * sizeof *a);
    for (size_t i = 0; i < x->args.npos; i++) a[i] = jinja_eval(c, x->args.pos[i]);
    return run_test(c, x->name, v, a, x->args.npos, x->line);
}

static jv attr_of(jctx *c, jv item, jv attr) {
    if (attr.t != JV_STR) jerr_throw(c->e, "attribute name must be a string");
    if (item.t == JV_DICT || item.t == JV_NS) {
        jv *v = jd_get(item.u.dict, attr.u.str.s);
        return v ? *v : jv_undef();
    }
    return jv_undef();
}

/* select/reject(test, args...), selectattr/rejectattr(attr, test, args...) */
static jv select_items(jctx *c, jv seq, const jv *a, size_t na, int by_attr, int keep_if, int line) {
    jv l = as_list(c, seq, line), out = jv_new_list(c->a);
    size_t t0 = by_attr ? 1 : 0;
    for (size_t i = 0; i < l.u.list->n; i++) {
        jv item = l.u.list->v[i], subject = by_attr ? attr_of(c, item, na ? a[0] : jv_undef()) : item;
        int ok;
        if (na > t0) {
            jv tn = need_str(c, a[t0], "a test name", line);
            if (!jinja_known_test(tn.u.str.s)) jerr_throw(c->e, "line %d: unsupported test '%s'", line, tn.u.str.s);
            ok = run_test(c, tn.u.str.s, subject, a + t0 + 1, na - t0 - 1, line);
        } else
            ok = jv_truthy(subject);
        if (ok == keep_if) jl_push(c->a, out.u.list, item);
    }
    return out;
}

jv jinja_call_filter(jctx *c, const jexpr *x, jv v) {
    size_t np = x->args.npos, nk = x->args.nkw;
    jv *pos = ja_alloc(c->a, (np + nk + 1) * sizeof *pos), *kw = pos + np;
    for (size_t i = 0; i < np; i++) pos[i] = jinja_eval(c, x->args.pos[i]);
    for (size_t i = 0; i < nk; i++) kw[i] = jinja_eval(c, x->args.kw[i]);
    const char **kwn = x->args.kwnames;
    const char *f = x->name;
    int line = x->line;
#define ARG(i, name) arg(pos, np, kwn, kw, nk, (i), (name))
    if (!strcmp(f, "safe")) return v;
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        jv dflt = ARG(0, "default_value"), boolean = ARG(1, "boolean");
        if (v.t == JV_UNDEF || (jv_truthy(boolean) && !jv_truthy(v))) return dflt.t == JV_UNDEF ? jv_cstr(c->a, "") : dflt;
        return v;
    }
    if (v.t == JV_UNDEF && strcmp(f, "length") && strcmp(f, "count") && strcmp(f, "list") && strcmp(f, "string") &&
        strcmp(f, "join") && strcmp(f, "tojson"))
        jerr_throw(c->e, "line %d: filter '%s' on an undefined value", line, f);
    if (!strcmp(f, "trim")) return strip(c, need_str(c, jv_stringify(c->a, v), "trim", line), ARG(0, "chars"), 1, 1);
    if (!strcmp(f, "string")) return jv_stringify(c->a, v);
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        switch (v.t) {
        case JV_UNDEF: return jv_int(0);
        case JV_STR: return jv_int((long long)j_utf8_len(v.u.str.s, v.u.str.n));
        case JV_LIST: return jv_int((long long)v.u.list->n);
        case JV_DICT: return jv_int((long long)v.u.dict->n);
        default: jerr_throw(c->e, "line %d: a %s has no length", line, jv_type_name(v));
        }
    }
    if (!strcmp(f, "tojson")) {
        jv ind = ARG(0, "indent");
        jbuf b = {0};
        if (jv_to_json(&b, v, ind.t == JV_INT ? (int)ind.u.i : -1, 0) != 0) {
            free(b.s);
            jerr_throw(c->e, "line %d: a %s is not JSON serializable", line, jv_type_name(v));
        }
        jv r = jv_str(c->a, b.s ? b.s : "", b.n);
        free(b.s);
        return r;
    }
    if (!strcmp(f, "join")) {
        jv sep = ARG(0, "d"), attr = ARG(1, "attribute");
        jv l = as_list(c, v, line);
        jbuf b = {0};
        for (size_t i = 0; i < l.u.list->n; i++) {
            if (i && sep.t == JV_STR) jb_put(&b, sep.u.str.s, sep.u.str.n);
            jv_to_str(&b, attr.t == JV_UNDEF ? l.u.list->v[i] : attr_of(c, l.u.list->v[i], attr));
        }
        jv r = jv_str(c->a, b.s ? b.s : "", b.n);
        free(b.s);
        return r;
    }
    if (!strcmp(f, "lower")) return ascii_case(c, need_str(c, jv_stringify(c->a, v), f, line), 0);
    if (!strcmp(f, "upper")) return ascii_case(c, need_str(c, jv_stringify(c->a, v), f, line), 1);
    if (!strcmp(f, "capitalize")) return ascii_case(c, need_str(c, jv_stringify(c->a, v), f, line), 2);
    if (!strcmp(f, "title")) return ascii_case(c, need_str(c, jv_stringify(c->a, v), f, line), 3);
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        jv l = as_list(c, v, line);
        if (!l.u.list->n) return jv_undef();
        return l.u.list->v[f[0] == 'f' ? 0 : l.u.list->n - 1];
    }
    if (!strcmp(f, "list")) return as_list(c, v, line);
    if (!strcmp(f, "reverse")) {
        jv l = as_list(c, v, line), r = jv_new_list(c->a);
        for (size_t i = l.u.list->n; i > 0; i--) jl_push(c->a, r.u.list, l.u.list->v[i - 1]);
        if (v.t != JV_STR) return r;
        jbuf b = {0};
        for (size_t i = 0; i < r.u.list->n; i++) jv_to_str(&b, r.u.list->v[i]);
        jv s = jv_str(c->a, b.s ? b.s : "", b.n);
        free(b.s);
        return s;
    }
    if (!strcmp(f, "items")) {
        if (v.t != JV_DICT) jerr_throw(c->e, "line %d: items needs a mapping", line);
        return jinja_call(c, jinja_method(c, v, "items"), NULL, 0, NULL, NULL, 0, line);
    }
    if (!strcmp(f, "replace")) {
        jv cnt = ARG(2, "count");
        return replace(c, need_str(c, jv_stringify(c->a, v), f, line), ARG(0, "old"), ARG(1, "new"),
                       cnt.t == JV_INT ? cnt.u.i : -1);
    }
    if (!strcmp(f, "abs")) {
        if (v.t == JV_INT) return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        if (v.t == JV_FLOAT) {
            v.u.f = v.u.f < 0 ? -v.u.f : v.u.f;
            return v;
        }
        jerr_throw(c->e, "line %d: abs needs a number", line);
    }
    if (!strcmp(f, "int")) {
        if (v.t == JV_INT) return v;
        if (v.t == JV_BOOL) return jv_int(v.u.b);
        if (v.t == JV_FLOAT) return jv_int((long long)v.u.f);
        if (v.t == JV_STR) {
            char *end;
            long long i = strtoll(v.u.str.s, &end, 10);
            return jv_int(*end ? 0 : i);
        }
        return jv_int(0);
    }
    if (!strcmp(f, "select") || !strcmp(f, "reject")) return select_items(c, v, pos, np, 0, f[0] == 's', line);
    if (!strcmp(f, "selectattr") || !strcmp(f, "rejectattr"))
        return select_items(c, v, pos, np, 1, f[0] == 's', line);
    if (!strcmp(f, "map")) {
        jv attr = ARG(99, "attribute");
        if (attr.t == JV_UNDEF) jerr_throw(c->e, "line %d: only map(attribute=...) is supported", line);
        jv l = as_list(c, v, line), r = jv_new_list(c->a);
        for (size_t i = 0; i < l.u.list->n; i++) jl_push(c->a, r.u.list, attr_of(c, l.u.list->v[i], attr));
        return r;
    }
#undef ARG
    jerr_throw(c->e, "line %d: unsupported filter '%s'", line, f);
}

/* ---- methods */
static const char *const STR_METHODS[] = {"split", "strip", "lstrip", "rstrip", "startswith", "endswith", "lower",
                                          "upper", "replace", "title", "capitalize", "find", "join", NULL};
static const char *const DICT_METHODS[] = {"get", "items", "keys", "values", NULL};

jv jinja_method(jctx *c, jv obj, const char *name) {
    const char *const *l = obj.t == JV_STR ? STR_METHODS : obj.t == JV_DICT ? DICT_METHODS : NULL;
    if (!l) return jv_undef();
    for (; *l; l++)
        if (!strcmp(*l, name)) {
            jv m = {.t = JV_METHOD};
            m.u.fn.name = *l;
            m.u.fn.self = ja_alloc(c->a, sizeof(jv));
            *m.u.fn.self = obj;
            return m;
        }
    return jv_undef();
}

static int starts_or_ends(jctx *c, jv s, jv what, int ends, int line) {
    if (what.t == JV_LIST) {
        for (size_t i = 0; i < what.u.list->n; i++)
            if (starts_or_ends(c, s, what.u.list->v[i], ends, line)) return 1;
        return 0;
    }
    need_str(c, what, ends ? "endswith" : "startswith", line);
    if (what.u.str.n > s.u.str.n) return 0;
    return !memcmp(s.u.str.s + (ends ? s.u.str.n - what.u.str.n : 0), what.u.str.s, what.u.str.n);
}

static jv call_method(jctx *c, jv self, const char *m, const jv *pos, size_t np, const char **kwn, const jv *kw,
                      size_t nk, int line) {
#define ARG(i, name) arg(pos, np, kwn, kw, nk, (i), (name))
    if (self.t == JV_DICT) {
        jdict *d = self.u.dict;
        if (!strcmp(m, "get")) {
            jv k = ARG(0, "key");
            jv *v = k.t == JV_STR ? jd_get(d, k.u.str.s) : NULL;
            if (v) return *v;
            jv dflt = ARG(1, "default");
            return dflt.t == JV_UNDEF ? jv_none() : dflt;
        }
        jv l = jv_new_list(c->a);
        for (size_t i = 0; i < d->n; i++) {
            jv k = jv_cstr(c->a, d->k[i]);
            if (!strcmp(m, "keys")) jl_push(c->a, l.u.list, k);
            else if (!strcmp(m, "values")) jl_push(c->a, l.u.list, d->v[i]);
            else {
                jv pair = jv_new_list(c->a);
                jl_push(c->a, pair.u.list, k);
                jl_push(c->a, pair.u.list, d->v[i]);
                jl_push(c->a, l.u.list, pair);
            }
        }
        return l;
    }
    /* str */
    if (!strcmp(m, "split")) {
        jv mx = ARG(1, "maxsplit");
        return split(c, self, ARG(0, "sep"), mx.t == JV_INT ? mx.u.i : -1);
    }
    if (!strcmp(m, "strip")) return strip(c, self, ARG(0, "chars"), 1, 1);
    if (!strcmp(m, "lstrip")) return strip(c, self, ARG(0, "chars"), 1, 0);
    if (!strcmp(m, "rstrip")) return strip(c, self, ARG(0, "chars"), 0, 1);
    if (!strcmp(m, "startswith")) return jv_bool(starts_or_ends(c, self, ARG(0, "prefix"), 0, line));
    if (!strcmp(m, "endswith")) return jv_bool(starts_or_ends(c, self, ARG(0, "suffix"), 1, line));
    if (!strcmp(m, "lower")) return ascii_case(c, self, 0);
    if (!strcmp(m, "upper")) return ascii_case(c, self, 1);
    if (!strcmp(m, "capitalize")) return ascii_case(c, self, 2);
    if (!strcmp(m, "title")) return ascii_case(c, self, 3);
    if (!strcmp(m, "replace")) {
        jv cnt = ARG(2, "count");
        return replace(c, self, ARG(0, "old"), ARG(1, "new"), cnt.t == JV_INT ? cnt.u.i : -1);
    }
    if (!strcmp(m, "find")) {
        jv sub = need_str(c, ARG(0, "sub"), "find", line);
        const char *hit = strstr(self.u.str.s, sub.u.str.s);
        return jv_int(hit ? (long long)j_utf8_len(self.u.str.s, (size_t)(hit - self.u.str.s)) : -1);
    }
    /* join */
    jv l = as_list(c, ARG(0, "iterable"), line);
    jbuf b = {0};
    for (size_t i = 0; i < l.u.list->n; i++) {
        if (i) jb_put(&b, self.u.str.s, self.u.str.n);
        jv_to_str(&b, need_str(c, l.u.list->v[i], "join", line));
    }
    jv r = jv_str(c->a, b.s ? b.s : "", b.n);
    free(b.s);
    return r;
#undef ARG
}

jv jinja_call(jctx *c, jv fn, const jv *pos, size_t np, const char **kwn, const jv *kw, size_t nk, int line) {
    const char *f = fn.u.fn.name;
    if (fn.t == JV_METHOD) return call_method(c, *fn.u.fn.self, f, pos, np, kwn, kw, nk, line);
    if (!strcmp(f, "namespace") || !strcmp(f, "dict")) {
        jv ns = jv_new_dict(c->a);
        if (f[0] == 'n') ns.t = JV_NS;
        for (size_t i = 0; i < np; i++) {
            if (pos[i].t != JV_DICT) jerr_throw(c->e, "line %d: %s() takes keyword arguments", line, f);
            for (size_t k = 0; k < pos[i].u.dict->n; k++)
                jd_set(c->a, ns.u.dict, pos[i].u.dict->k[k], pos[i].u.dict->v[k]);
        }
        for (size_t i = 0; i < nk; i++) jd_set(c->a, ns.u.dict, kwn[i], kw[i]);
        return ns;
    }
    if (!strcmp(f, "raise_exception")) {
        jbuf b = {0};
        if (np) jv_to_str(&b, pos[0]);
        char m[512];
        snprintf(m, sizeof m, "%s", b.s ? b.s : "");
        free(b.s);
        jerr_throw(c->e, "line %d: the template raised: %s", line, m);
    }
    if (!strcmp(f, "strftime_now")) {
        if (np < 1 || pos[0].t != JV_STR) jerr_throw(c->e, "line %d: strftime_now needs a format", line);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char s[256];
        size_t n = strftime(s, sizeof s, pos[0].u.str.s, &tm);
        return jv_str(c->a, s, n);
    }
    /* range */
    long long a = 0, b = 0, st = 1;
    for (size_t i = 0; i < np; i++)
        if (pos[i].t != JV_INT) jerr_throw(c->e, "line %d: range() needs integers", line);
    if (np == 1) b = pos[0].u.i;
    else if (np >= 2) a = pos[0].u.i, b = pos[1].u.i, st = np > 2 ? pos[2].u.i : 1;
    if (st == 0 || np == 0 || (b - a) / st > 100000) jerr_throw(c->e, "line %d: bad range()", line);
    jv l = jv_new_list(c->a);
    for (long long i = a; st > 0 ? i < b : i > b; i += st) jl_push(c->a, l.u.list, jv_int(i));
    return l;
}
