/* Jinja subset internals: arena, lexer tokens, AST, values. Every object of
 * a compiled template lives in its compile arena, every value of a render in
 * the render arena: both are freed at once, so errors can longjmp out. */
#ifndef LR_JINJA_INTERNAL_H
#define LR_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stddef.h>

/* ---- arena */
typedef struct jarena_block jarena_block;
typedef struct {
    jarena_block *head;
    size_t total; /* bytes allocated: renders check it against a limit */
} jarena;
void *ja_alloc(jarena *a, size_t n); /* zeroed */
char *ja_strndup(jarena *a, const char *s, size_t n);
void ja_free(jarena *a);

/* ---- errors: a message and a longjmp back to compile/render */
typedef struct {
    jmp_buf jb;
    char *msg; /* malloc'd */
} jerr;
_Noreturn void jerr_throw(jerr *e, const char *fmt, ...);

/* ---- lexer */
typedef enum {
    JT_TEXT,        /* template data, whitespace control applied */
    JT_VAR_BEGIN,   /* {{ */
    JT_VAR_END,     /* }} */
    JT_BLOCK_BEGIN, /* {% */
    JT_BLOCK_END,   /* %} */
    JT_NAME,
    JT_STRING, /* escapes decoded */
    JT_INT,
    JT_FLOAT,
    JT_OP, /* text holds the operator: ( ) [ ] { } . , : | + - * / // % ** ~ == != < > <= >= = */
    JT_EOF
} jtok_type;

typedef struct {
    jtok_type type;
    const char *text; /* arena string (NUL-terminated) */
    size_t len;
    long long ival;
    double fval;
    int line;
} jtok;

/* Tokens of `src` (count in *n); throws on unterminated tags/strings. */
jtok *jinja_lex(const char *src, jarena *a, jerr *e, size_t *n);

/* ---- AST */
typedef enum {
    E_LIT,
    E_NAME,
    E_ATTR,
    E_ITEM,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_BIN,
    E_AND,
    E_OR,
    E_COND,
    E_LIST,
    E_DICT
} jexpr_kind;

typedef struct jexpr jexpr;
struct jvalue;

typedef struct {
    jexpr **pos;
    size_t npos;
    const char **kwnames;
    jexpr **kw;
    size_t nkw;
} jargs;

typedef enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_FUNC, JV_METHOD } jv_type;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jv jv;
struct jv {
    jv_type t;
    union {
        int b;
        long long i;
        double f;
        struct {
            const char *s; /* NUL-terminated */
            size_t n;
        } str;
        jlist *list;
        jdict *dict; /* JV_DICT and JV_NS */
        struct {
            const char *name;
            jv *self; /* JV_METHOD: the receiver; NULL for a global function */
        } fn;
    } u;
};
struct jlist {
    jv *v;
    size_t n, cap;
};
struct jdict {
    const char **k;
    jv *v;
    size_t n, cap;
};

struct jexpr {
    jexpr_kind kind;
    int line;
    jv lit;           /* E_LIT */
    const char *name; /* E_NAME, E_ATTR, E_FILTER, E_TEST; E_BIN: the operator */
    jexpr *a, *b, *c; /* operands; E_SLICE: a[b:c:d] uses d */
    jexpr *d;
    int negate;    /* E_TEST: "is not" */
    jargs args;    /* E_CALL, E_FILTER, E_TEST */
    jexpr **items; /* E_LIST; E_DICT keys */
    jexpr **vals;  /* E_DICT values */
    size_t nitems;
};

typedef enum { S_TEXT, S_OUT, S_IF, S_FOR, S_SET, S_SETBLOCK, S_BREAK, S_CONTINUE, S_BODY } jstmt_kind;

typedef struct jstmt jstmt;
typedef struct {
    jstmt **s;
    size_t n;
} jbody;
struct jstmt {
    jstmt_kind kind;
    int line;
    const char *text; /* S_TEXT */
    size_t len;
    jexpr *expr;             /* S_OUT, S_IF cond, S_FOR iter, S_SET value */
    jexpr *cond;             /* S_FOR: the "if" filter */
    const char *var, *var2;  /* S_FOR targets; S_SET name */
    const char *attr;        /* S_SET: ns.attr */
    jbody body, else_body;   /* S_IF, S_FOR, S_SETBLOCK, S_BODY */
};

struct lr_jinja {
    jarena arena;
    jbody root;
};

/* Parser: the statements of `src`; throws on syntax errors and on tags,
 * filters or tests outside the subset. */
jbody jinja_parse(const char *src, jarena *a, jerr *e);

/* Filters and tests the interpreter knows (checked at compile time). */
int jinja_known_filter(const char *name);
int jinja_known_test(const char *name);

/* ---- values (jinja_value.c) */
typedef struct {
    char *s;
    size_t n, cap;
} jbuf;
void jb_put(jbuf *b, const char *s, size_t n);
void jb_puts(jbuf *b, const char *s);

jv jv_str(jarena *a, const char *s, size_t n);
jv jv_cstr(jarena *a, const char *s);
jv jv_int(long long i);
jv jv_bool(int b);
jv jv_undef(void);
jv jv_none(void);
jv jv_new_list(jarena *a);
jv jv_new_dict(jarena *a);
void jl_push(jarena *a, jlist *l, jv v);
void jd_set(jarena *a, jdict *d, const char *k, jv v);
jv *jd_get(const jdict *d, const char *k); /* NULL when absent */
int jv_truthy(jv v);
int jv_equal(jv a, jv b);
const char *jv_type_name(jv v);
/* str(v) as Python/Jinja prints it (undefined -> ""). */
void jv_to_str(jbuf *b, jv v);
jv jv_stringify(jarena *a, jv v);
/* json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none). 0 or
 * -1 for a value JSON cannot hold. */
int jv_to_json(jbuf *b, jv v, int indent, int depth);
/* Python's str.isspace on one code point. */
int j_is_space(unsigned cp);
/* Length in code points of UTF-8 s. */
size_t j_utf8_len(const char *s, size_t n);

/* ---- render context (jinja_eval.c) and builtins (jinja_builtins.c) */
typedef struct jctx jctx;
struct jctx {
    jarena *a;
    jerr *e;
    jdict **frames;
    size_t nframes, capframes;
    long long steps; /* statements run: bounded, so no template can hang a render */
};
jv jinja_eval(jctx *c, const jexpr *x);
jv jinja_call_filter(jctx *c, const jexpr *x, jv v);
int jinja_call_test(jctx *c, const jexpr *x, jv v);
/* obj.name for a method of a str/dict value: a JV_METHOD; JV_UNDEF when none. */
jv jinja_method(jctx *c, jv obj, const char *name);
jv jinja_call(jctx *c, jv fn, const jv *pos, size_t npos, const char **kwn, const jv *kw, size_t nkw, int line);

#endif
