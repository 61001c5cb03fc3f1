#include "cli/args.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "model/model.h"

#include <yaml.h>

/* Which defs got a value, from any source (deprecation notes). */
typedef struct {
    const arg_spec *s;
    unsigned char *set;
} parse_ctx;

static const arg_def *find_def(const arg_spec *s, const char *name, size_t len) {
    for (int i = 0; i < s->n_defs; i++)
        if (strlen(s->defs[i].name) == len && strncmp(s->defs[i].name, name, len) == 0)
            return &s->defs[i];
    return NULL;
}

/* Commands that compute (they have --threads) also take --device
 * cpu|cuda|auto (LR_DEVICE), handled here once for all of them and not
 * stored with the resolved flags (model.h: model_set_device). */
static int computes(const arg_spec *s) { return find_def(s, "threads", 7) != NULL; }
static const char *config_device; /* `device:` of --config */

/* "max_new_tokens" and "max-new-tokens" name the same flag. */
static const arg_def *find_key(const arg_spec *s, const char *key) {
    char norm[128];
    size_t n = strlen(key);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++) norm[i] = key[i] == '_' ? '-' : key[i];
    return find_def(s, norm, n);
}

static void print_help(const arg_spec *s) {
    printf("usage: lightreasoner %s [options]%s%s\n\n%s\n\noptions:\n", s->command,
           s->usage ? " " : "", s->usage ? s->usage : "", s->summary);
    for (int i = 0; i < s->n_defs; i++) {
        const arg_def *d = &s->defs[i];
        char left[96];
        if (d->type == ARG_FLAG) snprintf(left, sizeof left, "--%s, --no-%s", d->name, d->name);
        else snprintf(left, sizeof left, "--%s%s%s", d->name, d->metavar ? " " : "", d->metavar ? d->metavar : "");
        if (strlen(left) > 28) printf("  %s\n  %-28s %s", left, "", d->help);
        else printf("  %-28s %s", left, d->help);
        if (d->deprecated) printf(" (deprecated: use --%s)", d->deprecated);
        else if (d->shown_default) printf(" (default: %s)", d->shown_default);
        else switch (d->type) {
            case ARG_STR:
                if (*(const char **)d->dst) printf(" (default: %s)", *(const char **)d->dst);
                break;
            case ARG_INT: printf(" (default: %ld)", *(long *)d->dst); break;
            case ARG_FLOAT: printf(" (default: %g)", *(double *)d->dst); break;
            case ARG_FLAG: printf(" (default: %s)", *(int *)d->dst ? "on" : "off"); break;
            }
        if (d->required) printf(" [required]");
        putchar('\n');
    }
    if (computes(s))
        printf("  %-28s %s\n", "--device cpu|cuda|auto",
               "where the models compute (auto: a CUDA GPU when built in and present, else the CPU; default: auto)");
    printf("  %-28s %s\n", "--config FILE",
           "flags from a JSON or YAML mapping (snake_case or dash keys; sections per command, see docs/pipeline.md)");
    printf("  %-28s %s\n", "-h, --help", "show this help");
    printf("\nEvery flag can also come from the environment as LR_<FLAG> (e.g. LR_MAX_NEW_TOKENS=64).\n"
           "Precedence: command line > environment > --config > default.\n");
}

static int is_true(const char *v) {
    return !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes") || !strcmp(v, "on");
}
static int is_false(const char *v) {
    return !strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no") || !strcmp(v, "off");
}

/* Assigns a textual value to a flag; `where` names the source for errors. */
static void set_value(parse_ctx *c, const arg_def *d, const char *value, const char *where) {
    char *end = NULL;
    c->set[d - c->s->defs] = 1;
    switch (d->type) {
    case ARG_STR: *(const char **)d->dst = value; return;
    case ARG_FLAG: {
        if (!value || is_true(value)) *(int *)d->dst = 1;
        else if (is_false(value)) *(int *)d->dst = 0;
        else lr_die_input(where, "--%s is a switch (--%s / --no-%s, or 0/1), got '%s'", d->name, d->name, d->name,
                          value);
        return;
    }
    case ARG_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end) lr_die_input(where, "--%s expects an integer, got '%s'", d->name, value);
        if (d->min < d->max && (v < d->min || v > d->max))
            lr_die_input(where, "--%s must be in [%g, %g], got %ld", d->name, d->min, d->max, v);
        *(long *)d->dst = v;
        return;
    }
    case ARG_FLOAT: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v))
            lr_die_input(where, "--%s expects a finite number, got '%s'", d->name, value);
        if (d->min < d->max && (v < d->min || v > d->max))
            lr_die_input(where, "--%s must be in [%g, %g], got %g", d->name, d->min, d->max, v);
        *(double *)d->dst = v;
        return;
    }
    }
}

/* ---- YAML -> cJSON (every scalar a string; null for ~/null/empty) */
static cJSON *yaml_node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth) {
    if (!n || depth > 32) return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (plain && (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))
            return cJSON_CreateNull();
        return cJSON_CreateString(v);
    }
    case YAML_SEQUENCE_NODE: {
        cJSON *a = cJSON_CreateArray();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            cJSON *v = yaml_node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, v);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        cJSON *o = cJSON_CreateObject();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            cJSON *v = yaml_node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
            if (!k || k->type != YAML_SCALAR_NODE || !v) {
                cJSON_Delete(v);
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddItemToObject(o, (const char *)k->data.scalar.value, v);
        }
        return o;
    }
    default: return NULL;
    }
}

static cJSON *parse_yaml(const char *path, const char *text, size_t len) {
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) lr_die_input(path, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", p.problem ? p.problem : "syntax error");
        size_t line = p.problem_mark.line + 1;
        yaml_parser_delete(&p);
        lr_die_input(path, "neither JSON nor valid YAML: line %zu: %s", line, msg);
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    cJSON *j = root ? yaml_node_to_json(&doc, root, 0) : NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return j;
}

static const char *const COMMANDS[] = {"run", "sample", "score", "select", "train", "eval", "export", "merge",
                                       "generate", "logprobs", "tokenize", "detokenize", "inspect", "tensors", NULL};
static int is_command(const char *name) {
    for (int i = 0; COMMANDS[i]; i++)
        if (!strcmp(COMMANDS[i], name)) return 1;
    return 0;
}

/* Strings from a config file outlive its JSON tree: the flag destinations
 * point at them until the process ends. Kept reachable here (not leaks). */
static char **kept;
static size_t n_kept, cap_kept;
static char *keep(char *p) {
    if (n_kept == cap_kept) {
        cap_kept = cap_kept ? 2 * cap_kept : 16;
        kept = xrealloc(kept, cap_kept * sizeof *kept);
    }
    kept[n_kept++] = p;
    return p;
}

/* One config entry: `d` gets `it`'s value. Strings outlive the JSON tree. */
static void config_value(parse_ctx *c, const arg_def *d, const cJSON *it, const char *path) {
    char buf[64];
    const char *val = NULL;
    if (cJSON_IsNull(it)) return; /* "key:" with nothing = the default */
    if (cJSON_IsString(it)) val = it->valuestring;
    else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
    else if (cJSON_IsNumber(it)) {
        if (d->type == ARG_INT && it->valuedouble != floor(it->valuedouble))
            lr_die_input(path, "option '%s' must be an integer", it->string);
        if (d->type == ARG_INT) snprintf(buf, sizeof buf, "%.0f", it->valuedouble);
        else snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
        val = buf;
    } else if (cJSON_IsArray(it) && d->type == ARG_STR) { /* [q_proj, v_proj] -> "q_proj,v_proj" */
        size_t n = 1;
        for (const cJSON *e = it->child; e; e = e->next) {
            if (!cJSON_IsString(e)) lr_die_input(path, "option '%s': list items must be strings", it->string);
            n += strlen(e->valuestring) + 1;
        }
        char *joined = keep(xmalloc(n)), *p = joined;
        *p = 0;
        for (const cJSON *e = it->child; e; e = e->next) p += sprintf(p, "%s%s", p == joined ? "" : ",", e->valuestring);
        set_value(c, d, joined, path);
        return;
    } else
        lr_die_input(path, "option '%s' has an unsupported value type", it->string);
    if (d->type == ARG_STR) val = keep(xstrdup(val));
    set_value(c, d, val, path);
}

static void apply_config(parse_ctx *c, const char *path) {
    const arg_spec *s = c->s;
    size_t len;
    char *text = lr_read_file(path, 16u << 20, &len);
    if (!text) lr_die_last();
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) root = parse_yaml(path, text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) lr_die_input(path, "not a mapping of flag names to values (JSON or YAML)");
    for (cJSON *it = root->child; it; it = it->next) {
        if (computes(s) && !strcmp(it->string, "device") && cJSON_IsString(it)) { /* --device (not in defs) */
            config_device = keep(xstrdup(it->valuestring));
            continue;
        }
        const arg_def *d = find_key(s, it->string);
        if (d) {
            config_value(c, d, it, path);
            continue;
        }
        char sec[64];
        snprintf(sec, sizeof sec, "%s", it->string);
        for (char *q = sec; *q; q++) *q = *q == '_' ? '-' : *q;
        if (!cJSON_IsObject(it) || !is_command(sec))
            lr_die_input(path, "unknown option '%s' for '%s'", it->string, s->command);
        int own = !strcmp(sec, s->command);
        int stage = !strcmp(s->command, "run") &&
                    (!strcmp(sec, "sample") || !strcmp(sec, "score") || !strcmp(sec, "train") || !strcmp(sec, "eval"));
        if (!own && !stage) continue; /* another command's section */
        for (cJSON *e = it->child; e; e = e->next) {
            char pref[192];
            snprintf(pref, sizeof pref, "%s-%s", sec, e->string);
            const arg_def *sd = stage ? find_key(s, pref) : NULL;
            if (!sd) sd = find_key(s, e->string);
            if (!sd) lr_die_input(path, "unknown option '%s' in section '%s' for '%s'", e->string, it->string, s->command);
            config_value(c, sd, e, path);
        }
    }
    cJSON_Delete(root);
}

/* LR_<FLAG>: between --config and the command line. Deprecated spellings
 * have no variable (LR_SEED is the training seed only). */
static void apply_env(parse_ctx *c) {
    for (int i = 0; i < c->s->n_defs; i++) {
        const arg_def *d = &c->s->defs[i];
        if (d->deprecated) continue;
        char var[160] = "LR_";
        size_t k = 3;
        for (const char *p = d->name; *p && k + 1 < sizeof var; p++)
            var[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[k] = 0;
        const char *v = getenv(var);
        if (v) set_value(c, d, v, var);
    }
}

int args_parse(const arg_spec *s, int argc, char **argv, char **positional) {
    parse_ctx c = {s, xcalloc((size_t)s->n_defs + 1, 1)};
    /* --config first, then the environment, so that the command line wins. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) lr_die_input(s->command, "--config needs a FILE");
            apply_config(&c, argv[i + 1]);
        } else if (!strncmp(argv[i], "--config=", 9)) {
            apply_config(&c, argv[i] + 9);
        }
    }
    apply_env(&c);
    const char *device = computes(s) ? getenv("LR_DEVICE") : NULL, *device_src = "LR_DEVICE";
    if (!device && config_device) device = config_device, device_src = "--config";
    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            print_help(s);
            exit(0);
        }
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] != '-') {
            if (a[0] == '-' && a[1] && !only_pos && strcmp(a, "-") != 0)
                lr_die_input(s->command, "unknown option '%s' (see --help)", a);
            if (npos >= s->max_positional)
                lr_die_input(s->command, "unexpected argument '%s' (see --help)", a);
            positional[npos++] = argv[i];
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if (nlen == 6 && !strncmp(name, "config", 6)) {
            if (!eq) i++;
            continue;
        }
        if (nlen == 6 && !strncmp(name, "device", 6) && computes(s)) {
            device = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!device) lr_die_input(s->command, "--device needs a value (cpu, cuda or auto)");
            device_src = s->command;
            continue;
        }
        const arg_def *d = find_def(s, name, nlen);
        if (!d && nlen > 3 && !strncmp(name, "no-", 3)) { /* --no-x turns switch x off */
            const arg_def *sw = find_def(s, name + 3, nlen - 3);
            if (sw && sw->type == ARG_FLAG) {
                if (eq) lr_die_input(s->command, "--%.*s takes no value", (int)nlen, name);
                set_value(&c, sw, "0", s->command);
                continue;
            }
        }
        if (!d) lr_die_input(s->command, "unknown option '--%.*s' (see --help)", (int)nlen, name);
        if (d->type == ARG_FLAG) {
            /* --x, --x=0|1, and the older "--x 0|1" */
            const char *v = eq ? eq + 1 : NULL;
            if (!v && i + 1 < argc && (is_true(argv[i + 1]) || is_false(argv[i + 1]))) v = argv[++i];
            set_value(&c, d, v, s->command);
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) lr_die_input(s->command, "--%s needs a value", d->name);
        set_value(&c, d, val, s->command);
    }
    int quiet = 0;
    for (int i = 0; i < s->n_defs; i++)
        if (!strcmp(s->defs[i].name, "quiet") && s->defs[i].type == ARG_FLAG) quiet = *(int *)s->defs[i].dst;
    lr_warn_quiet(quiet); /* --quiet silences warnings too */
    for (int i = 0; i < s->n_defs; i++)
        if (c.set[i] && s->defs[i].deprecated)
            lr_warn("%s: --%s is deprecated, use --%s", s->command, s->defs[i].name, s->defs[i].deprecated);
    free(c.set);
    if (device) model_set_device(device, device_src); /* exit 2: unknown name, or cuda without a GPU */
    for (int i = 0; i < s->n_defs; i++) {
        const arg_def *d = &s->defs[i];
        if (d->required && d->type == ARG_STR && !*(const char **)d->dst)
            lr_die_input(s->command, "--%s is required (see --help)", d->name);
    }
    return npos;
}

char *args_to_json(const arg_spec *s) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < s->n_defs; i++) {
        const arg_def *d = &s->defs[i];
        if (d->deprecated) continue; /* recorded under the new name */
        switch (d->type) {
        case ARG_STR: {
            const char *v = *(const char **)d->dst;
            if (v) cJSON_AddStringToObject(o, d->name, v);
            else cJSON_AddNullToObject(o, d->name);
            break;
        }
        case ARG_INT: cJSON_AddNumberToObject(o, d->name, (double)*(long *)d->dst); break;
        case ARG_FLOAT: cJSON_AddNumberToObject(o, d->name, *(double *)d->dst); break;
        case ARG_FLAG: cJSON_AddBoolToObject(o, d->name, *(int *)d->dst); break;
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    LR_CHECK(txt, "cJSON_Print failed");
    char *r = xstrdup(txt);
    cJSON_free(txt);
    return r;
}

char *args_json_drop(char *json, const char *key, const char *value) {
    cJSON *o = cJSON_Parse(json);
    LR_CHECK(o && cJSON_IsObject(o), "args_to_json produced no object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strcmp(v->valuestring, value) != 0) {
        cJSON_Delete(o);
        return json;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    LR_CHECK(txt, "cJSON_Print failed");
    free(json);
    char *r = xstrdup(txt);
    cJSON_free(txt);
    return r;
}

char *args_command_line(int argc, char **argv) {
    size_t n = 1;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) * 4 + 3;
    char *out = xmalloc(n), *p = out;
    for (int i = 0; i < argc; i++) {
        if (i) *p++ = ' ';
        int quote = strpbrk(argv[i], " \t\n'\"\\$") != NULL || !*argv[i];
        if (quote) *p++ = '\'';
        for (const char *c = argv[i]; *c; c++) {
            if (*c == '\'' && quote) { memcpy(p, "'\\''", 4); p += 4; }
            else *p++ = *c;
        }
        if (quote) *p++ = '\'';
    }
    *p = 0;
    return out;
}
