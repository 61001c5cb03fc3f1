/* Jinja parser: tokens -> statements and expressions, with jinja2's operator
 * precedence (parser.py): conditional < or < and < not < comparisons
 * (in, not in) < + - < ~ < * / // % < ** < unary - < postfix (.x [x] (x)),
 * filters (|f) and tests (is t), which bind tighter than any operator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

typedef struct {
    jtok *t;
    size_t n, i;
    jarena *a;
    jerr *e;
    int depth; /* nesting of expressions and blocks: bounded, never a stack overflow */
} parser;

#define MAX_DEPTH 200

static jtok *cur(parser *p) { return &p->t[p->i]; }
static jtok *peek(parser *p, size_t k) { return &p->t[p->i + k < p->n ? p->i + k : p->n - 1]; }
static int is_op(const jtok *t, const char *op) { return t->type == JT_OP && !strcmp(t->text, op); }
static int is_name(const jtok *t, const char *nm) { return t->type == JT_NAME && !strcmp(t->text, nm); }

static _Noreturn void fail(parser *p, const char *what) {
    jtok *t = cur(p);
    jerr_throw(p->e, "line %d: %s (at '%s')", t->line, what, t->type == JT_EOF ? "end of template" : t->text);
}

static void expect_op(parser *p, const char *op) {
    if (!is_op(cur(p), op)) {
        char m[64];
        snprintf(m, sizeof m, "expected '%s'", op);
        fail(p, m);
    }
    p->i++;
}

static const char *expect_name(parser *p) {
    if (cur(p)->type != JT_NAME) fail(p, "expected a name");
    return p->t[p->i++].text;
}

static jexpr *node(parser *p, jexpr_kind k) {
    jexpr *x = ja_alloc(p->a, sizeof *x);
    x->kind = k;
    x->line = cur(p)->line;
    return x;
}

static jexpr *parse_expr(parser *p, int with_cond);
static jexpr *parse_or(parser *p);
static jexpr *parse_unary(parser *p, int with_filter);

typedef struct {
    jexpr **v;
    size_t n, cap;
} xvec;
static void xpush(parser *p, xvec *v, jexpr *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        jexpr **nv = ja_alloc(p->a, cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv, v->cap = cap;
    }
    v->v[v->n++] = x;
}

/* ( args ) after the opening parenthesis was consumed. */
static jargs parse_call_args(parser *p) {
    xvec pos = {0}, kw = {0};
    const char **names = NULL;
    size_t cap = 0;
    while (!is_op(cur(p), ")")) {
        if (pos.n + kw.n) expect_op(p, ",");
        if (is_op(cur(p), ")")) break;
        if (cur(p)->type == JT_NAME && is_op(peek(p, 1), "=")) {
            const char *nm = expect_name(p);
            p->i++;
            if (kw.n == cap) {
                cap = cap ? cap * 2 : 4;
                const char **nn = ja_alloc(p->a, cap * sizeof *nn);
                if (kw.n) memcpy(nn, names, kw.n * sizeof *nn);
                names = nn;
            }
            names[kw.n] = nm;
            xpush(p, &kw, parse_expr(p, 1));
        } else {
            if (kw.n) fail(p, "positional argument after keyword argument");
            xpush(p, &pos, parse_expr(p, 1));
        }
    }
    p->i++;
    jargs a = {.pos = pos.v, .npos = pos.n, .kwnames = names, .kw = kw.v, .nkw = kw.n};
    return a;
}

static jexpr *parse_primary(parser *p) {
    jtok *t = cur(p);
    jexpr *x;
    switch (t->type) {
    case JT_NAME:
        x = node(p, E_LIT);
        p->i++;
        if (!strcmp(t->text, "true") || !strcmp(t->text, "True")) x->lit = jv_bool(1);
        else if (!strcmp(t->text, "false") || !strcmp(t->text, "False")) x->lit = jv_bool(0);
        else if (!strcmp(t->text, "none") || !strcmp(t->text, "None")) x->lit = jv_none();
        else {
            x->kind = E_NAME;
            x->name = t->text;
        }
        return x;
    case JT_STRING: {
        /* adjacent literals concatenate */
        x = node(p, E_LIT);
        jbuf b = {0};
        while (cur(p)->type == JT_STRING) {
            jb_put(&b, cur(p)->text, cur(p)->len);
            p->i++;
        }
        x->lit = jv_str(p->a, b.s ? b.s : "", b.n);
        free(b.s);
        return x;
    }
    case JT_INT:
        x = node(p, E_LIT);
        x->lit = jv_int(t->ival);
        p->i++;
        return x;
    case JT_FLOAT:
        x = node(p, E_LIT);
        x->lit.t = JV_FLOAT;
        x->lit.u.f = t->fval;
        p->i++;
        return x;
    case JT_OP:
        if (is_op(t, "(")) {
            p->i++;
            jexpr *first = parse_expr(p, 1);
            if (is_op(cur(p), ",")) { /* a tuple: evaluated as a list */
                x = node(p, E_LIST);
                xvec v = {0};
                xpush(p, &v, first);
                while (is_op(cur(p), ",")) {
                    p->i++;
                    if (is_op(cur(p), ")")) break;
                    xpush(p, &v, parse_expr(p, 1));
                }
                x->items = v.v, x->nitems = v.n;
                first = x;
            }
            expect_op(p, ")");
            return first;
        }
        if (is_op(t, "[")) {
            p->i++;
            x = node(p, E_LIST);
            xvec v = {0};
            while (!is_op(cur(p), "]")) {
                if (v.n) expect_op(p, ",");
                if (is_op(cur(p), "]")) break;
                xpush(p, &v, parse_expr(p, 1));
            }
            p->i++;
            x->items = v.v, x->nitems = v.n;
            return x;
        }
        if (is_op(t, "{")) {
            p->i++;
            x = node(p, E_DICT);
            xvec k = {0}, v = {0};
            while (!is_op(cur(p), "}")) {
                if (k.n) expect_op(p, ",");
                if (is_op(cur(p), "}")) break;
                xpush(p, &k, parse_expr(p, 1));
                expect_op(p, ":");
                xpush(p, &v, parse_expr(p, 1));
            }
            p->i++;
            x->items = k.v, x->vals = v.v, x->nitems = k.n;
            return x;
        }
        break;
    default:
        break;
    }
    fail(p, "expected an expression");
}

static jexpr *parse_postfix(parser *p, jexpr *x) {
    for (;;) {
        if (is_op(cur(p), ".")) {
            p->i++;
            jexpr *y = node(p, E_ATTR);
            if (cur(p)->type == JT_INT) { /* x.0 is x[0] */
                y->kind = E_ITEM;
                y->b = node(p, E_LIT);
                y->b->lit = jv_int(cur(p)->ival);
                p->i++;
            } else
                y->name = expect_name(p);
            y->a = x;
            x = y;
        } else if (is_op(cur(p), "[")) {
            p->i++;
            jexpr *parts[3] = {NULL, NULL, NULL};
            int colons = 0;
            while (!is_op(cur(p), "]")) {
                if (is_op(cur(p), ":")) {
                    if (++colons > 2) fail(p, "bad slice");
                    p->i++;
                    continue;
                }
                if (parts[colons]) fail(p, "bad subscript");
                parts[colons] = parse_expr(p, 1);
            }
            p->i++;
            jexpr *y = node(p, colons ? E_SLICE : E_ITEM);
            y->a = x;
            if (colons) y->b = parts[0], y->c = parts[1], y->d = parts[2];
            else {
                if (!parts[0]) fail(p, "empty subscript");
                y->b = parts[0];
            }
            x = y;
        } else if (is_op(cur(p), "(")) {
            p->i++;
            jexpr *y = node(p, E_CALL);
            y->a = x;
            y->args = parse_call_args(p);
            x = y;
        } else
            return x;
    }
}

static jexpr *parse_filter_expr(parser *p, jexpr *x) {
    for (;;) {
        if (is_op(cur(p), "|")) {
            p->i++;
            jexpr *y = node(p, E_FILTER);
            y->name = expect_name(p);
            if (!jinja_known_filter(y->name)) {
                p->i--;
                fail(p, "unsupported filter");
            }
            if (is_op(cur(p), "(")) {
                p->i++;
                y->args = parse_call_args(p);
            }
            y->a = x;
            x = y;
        } else if (is_name(cur(p), "is")) {
            p->i++;
            jexpr *y = node(p, E_TEST);
            if (is_name(cur(p), "not")) {
                y->negate = 1;
                p->i++;
            }
            y->name = expect_name(p);
            if (!jinja_known_test(y->name)) {
                p->i--;
                fail(p, "unsupported test");
            }
            jtok *t = cur(p);
            if (is_op(t, "(")) {
                p->i++;
                y->args = parse_call_args(p);
            } else if ((t->type == JT_NAME || t->type == JT_STRING || t->type == JT_INT || t->type == JT_FLOAT ||
                        is_op(t, "[") || is_op(t, "{")) &&
                       !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
                /* one argument without parentheses: x is equalto 3 */
                jexpr *arg = parse_unary(p, 0);
                y->args.pos = ja_alloc(p->a, sizeof(jexpr *));
                y->args.pos[0] = arg;
                y->args.npos = 1;
            }
            y->a = x;
            x = y;
        } else
            return x;
    }
}

static void enter(parser *p) {
    if (++p->depth > MAX_DEPTH) fail(p, "expressions or blocks nested too deeply");
}

static jexpr *parse_unary(parser *p, int with_filter) {
    jexpr *x;
    enter(p);
    if (is_op(cur(p), "-")) {
        p->i++;
        x = node(p, E_NEG);
        x->a = parse_unary(p, 0);
    } else if (is_op(cur(p), "+")) {
        p->i++;
        x = parse_unary(p, 0);
    } else {
        x = parse_primary(p);
    }
    x = parse_postfix(p, x);
    x = with_filter ? parse_filter_expr(p, x) : x;
    p->depth--;
    return x;
}

static jexpr *bin(parser *p, const char *op, jexpr *a, jexpr *b) {
    jexpr *x = node(p, E_BIN);
    x->name = op;
    x->a = a, x->b = b;
    return x;
}

static jexpr *parse_pow(parser *p) {
    jexpr *x = parse_unary(p, 1);
    while (is_op(cur(p), "**")) {
        p->i++;
        x = bin(p, "**", x, parse_unary(p, 1));
    }
    return x;
}

static jexpr *parse_math2(parser *p) {
    jexpr *x = parse_pow(p);
    while (is_op(cur(p), "*") || is_op(cur(p), "/") || is_op(cur(p), "//") || is_op(cur(p), "%")) {
        const char *op = p->t[p->i++].text;
        x = bin(p, op, x, parse_pow(p));
    }
    return x;
}

static jexpr *parse_concat(parser *p) {
    jexpr *x = parse_math2(p);
    while (is_op(cur(p), "~")) {
        p->i++;
        x = bin(p, "~", x, parse_math2(p));
    }
    return x;
}

static jexpr *parse_math1(parser *p) {
    jexpr *x = parse_concat(p);
    while (is_op(cur(p), "+") || is_op(cur(p), "-")) {
        const char *op = p->t[p->i++].text;
        x = bin(p, op, x, parse_concat(p));
    }
    return x;
}

static jexpr *parse_compare(parser *p) {
    jexpr *x = parse_math1(p);
    jexpr *result = NULL, *left = x;
    for (;;) {
        jtok *t = cur(p);
        const char *op = NULL;
        if (t->type == JT_OP && (!strcmp(t->text, "==") || !strcmp(t->text, "!=") || !strcmp(t->text, "<") ||
                                 !strcmp(t->text, ">") || !strcmp(t->text, "<=") || !strcmp(t->text, ">="))) {
            op = t->text;
            p->i++;
        } else if (is_name(t, "in")) {
            op = "in";
            p->i++;
        } else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            op = "not in";
            p->i += 2;
        } else
            break;
        jexpr *right = parse_math1(p);
        jexpr *cmp = bin(p, op, left, right);
        /* a < b < c is a < b and b < c */
        if (!result) result = cmp;
        else {
            jexpr *both = node(p, E_AND);
            both->a = result, both->b = cmp;
            result = both;
        }
        left = right;
    }
    return result ? result : x;
}

static jexpr *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        p->i++;
        enter(p);
        jexpr *x = node(p, E_NOT);
        x->a = parse_not(p);
        p->depth--;
        return x;
    }
    return parse_compare(p);
}

static jexpr *parse_and(parser *p) {
    jexpr *x = parse_not(p);
    while (is_name(cur(p), "and")) {
        p->i++;
        jexpr *y = node(p, E_AND);
        y->a = x, y->b = parse_not(p);
        x = y;
    }
    return x;
}

static jexpr *parse_or(parser *p) {
    jexpr *x = parse_and(p);
    while (is_name(cur(p), "or")) {
        p->i++;
        jexpr *y = node(p, E_OR);
        y->a = x, y->b = parse_and(p);
        x = y;
    }
    return x;
}

static jexpr *parse_expr(parser *p, int with_cond) {
    enter(p);
    jexpr *x = parse_or(p);
    while (with_cond && is_name(cur(p), "if")) {
        p->i++;
        jexpr *y = node(p, E_COND);
        y->b = x;
        y->a = parse_or(p);
        if (is_name(cur(p), "else")) {
            p->i++;
            y->c = parse_expr(p, 1);
        }
        x = y;
    }
    p->depth--;
    return x;
}

/* ---- statements */
typedef struct {
    jstmt **v;
    size_t n, cap;
} svec;
static void spush(parser *p, svec *v, jstmt *s) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        jstmt **nv = ja_alloc(p->a, cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv, v->cap = cap;
    }
    v->v[v->n++] = s;
}

static jstmt *stmt(parser *p, jstmt_kind k) {
    jstmt *s = ja_alloc(p->a, sizeof *s);
    s->kind = k;
    s->line = cur(p)->line;
    return s;
}

static void end_block(parser *p) {
    if (cur(p)->type != JT_BLOCK_END) fail(p, "expected '%}'");
    p->i++;
}

/* Statements until a block tag named in `ends` (NULL-terminated); that tag's
 * name is left current (after "{%"). At the top level ends is NULL and the
 * body runs to the end of the template. */
static jbody parse_body(parser *p, const char *const *ends) {
    svec v = {0};
    enter(p);
    for (;;) {
        jtok *t = cur(p);
        if (t->type == JT_EOF) {
            if (ends) {
                char m[96];
                snprintf(m, sizeof m, "missing {%% %s %%}", ends[0]);
                fail(p, m);
            }
            break;
        }
        if (t->type == JT_TEXT) {
            jstmt *s = stmt(p, S_TEXT);
            s->text = t->text, s->len = t->len;
            spush(p, &v, s);
            p->i++;
            continue;
        }
        if (t->type == JT_VAR_BEGIN) {
            p->i++;
            jstmt *s = stmt(p, S_OUT);
            s->expr = parse_expr(p, 1);
            if (cur(p)->type != JT_VAR_END) fail(p, "expected '}}'");
            p->i++;
            spush(p, &v, s);
            continue;
        }
        if (t->type != JT_BLOCK_BEGIN) fail(p, "unexpected token");
        jtok *tag = peek(p, 1);
        if (tag->type != JT_NAME) {
            p->i++;
            fail(p, "expected a tag name");
        }
        for (size_t k = 0; ends && ends[k]; k++)
            if (!strcmp(tag->text, ends[k])) {
                p->i++;
                p->depth--;
                return (jbody){v.v, v.n};
            }
        p->i += 2;
        const char *nm = tag->text;
        if (!strcmp(nm, "if")) {
            jstmt *s = stmt(p, S_IF), *top = s;
            s->expr = parse_expr(p, 1);
            end_block(p);
            static const char *const if_ends[] = {"elif", "else", "endif", NULL};
            for (;;) {
                s->body = parse_body(p, if_ends);
                const char *which = p->t[p->i++].text;
                if (!strcmp(which, "elif")) {
                    jstmt *e = stmt(p, S_IF);
                    e->expr = parse_expr(p, 1);
                    end_block(p);
                    jstmt **one = ja_alloc(p->a, sizeof *one);
                    one[0] = e;
                    s->else_body = (jbody){one, 1};
                    s = e;
                } else if (!strcmp(which, "else")) {
                    end_block(p);
                    static const char *const else_ends[] = {"endif", NULL};
                    s->else_body = parse_body(p, else_ends);
                    p->i++;
                    end_block(p);
                    break;
                } else {
                    end_block(p);
                    break;
                }
            }
            spush(p, &v, top);
        } else if (!strcmp(nm, "for")) {
            jstmt *s = stmt(p, S_FOR);
            s->var = expect_name(p);
            if (is_op(cur(p), ",")) {
                p->i++;
                s->var2 = expect_name(p);
            }
            if (!is_name(cur(p), "in")) fail(p, "expected 'in'");
            p->i++;
            s->expr = parse_expr(p, 0);
            if (is_name(cur(p), "if")) {
                p->i++;
                s->cond = parse_expr(p, 0);
            }
            if (is_name(cur(p), "recursive")) fail(p, "recursive loops are not supported");
            end_block(p);
            static const char *const for_ends[] = {"endfor", "else", NULL};
            s->body = parse_body(p, for_ends);
            if (!strcmp(p->t[p->i++].text, "else")) {
                end_block(p);
                static const char *const else_ends[] = {"endfor", NULL};
                s->else_body = parse_body(p, else_ends);
                p->i++;
            }
            end_block(p);
            spush(p, &v, s);
        } else if (!strcmp(nm, "set")) {
            jstmt *s = stmt(p, S_SET);
            s->var = expect_name(p);
            if (is_op(cur(p), ".")) {
                p->i++;
                s->attr = expect_name(p);
            }
            if (cur(p)->type == JT_BLOCK_END && !s->attr) { /* {% set x %}...{% endset %} */
                p->i++;
                s->kind = S_SETBLOCK;
                static const char *const set_ends[] = {"endset", NULL};
                s->body = parse_body(p, set_ends);
                p->i++;
            } else {
                expect_op(p, "=");
                s->expr = parse_expr(p, 1);
                if (is_op(cur(p), ",")) fail(p, "tuple assignment is not supported");
            }
            end_block(p);
            spush(p, &v, s);
        } else if (!strcmp(nm, "break") || !strcmp(nm, "continue")) {
            spush(p, &v, stmt(p, nm[0] == 'b' ? S_BREAK : S_CONTINUE));
            end_block(p);
        } else if (!strcmp(nm, "generation")) {
            /* transformers' assistant-mask marker: renders its body */
            end_block(p);
            jstmt *s = stmt(p, S_BODY);
            static const char *const gen_ends[] = {"endgeneration", NULL};
            s->body = parse_body(p, gen_ends);
            p->i++;
            end_block(p);
            spush(p, &v, s);
        } else {
            p->i--;
            fail(p, "unsupported or unexpected tag");
        }
    }
    p->depth--;
    return (jbody){v.v, v.n};
}

jbody jinja_parse(const char *src, jarena *a, jerr *e) {
    size_t n;
    jtok *t = jinja_lex(src, a, e, &n);
    parser p = {.t = t, .n = n, .a = a, .e = e};
    return parse_body(&p, NULL);
}
