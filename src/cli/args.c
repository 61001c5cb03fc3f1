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

static const arg_def *find_def(const arg_spec *s, const char *name, size_t len) {
    for (int i = 0; i < s->n_defs; i++)
        if (strlen(s->defs[i].name) == len && strncmp(s->defs[i].name, name, len) == 0)
            return &s->defs[i];
    return NULL;
}

static void print_help(const arg_spec *s) {
    printf("usage: lightreasoner %s [options]%s%s\n\n%s\n\noptions:\n", s->command,
           s->usage ? " " : "", s->usage ? s->usage : "", s->summary);
    for (int i = 0; i < s->n_defs; i++) {
        const arg_def *d = &s->defs[i];
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", d->name, d->metavar ? " " : "", d->metavar ? d->metavar : "");
        printf("  %-28s %s", left, d->help);
        switch (d->type) {
        case ARG_STR:
            if (*(const char **)d->dst) printf(" (default: %s)", *(const char **)d->dst);
            break;
        case ARG_INT: printf(" (default: %ld)", *(long *)d->dst); break;
        case ARG_FLOAT: printf(" (default: %g)", *(double *)d->dst); break;
        case ARG_FLAG: break;
        }
        if (d->required) printf(" [required]");
        putchar('\n');
    }
    printf("  %-28s %s\n", "--config FILE", "read flags from a JSON object {\"flag\": value}; the command line wins");
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

/* Assigns a textual value to a flag; `where` names the source for errors. */
static void set_value(const arg_def *d, const char *value, const char *where) {
    char *end = NULL;
    switch (d->type) {
    case ARG_STR: *(const char **)d->dst = value; return;
    case ARG_FLAG: {
        if (!value || !strcmp(value, "1") || !strcmp(value, "true")) *(int *)d->dst = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false")) *(int *)d->dst = 0;
        else lr_die_input(where, "--%s takes no value (got '%s')", d->name, value);
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

/* Values from a --config file live as long as the process (strings are
 * referenced by the flag destinations). */
static void apply_config(const arg_spec *s, const char *path) {
    size_t len;
    char *text = lr_read_file(path, 16u << 20, &len);
    if (!text) lr_die_last();
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) lr_die_input(path, "not a JSON object");
    for (cJSON *it = root->child; it; it = it->next) {
        const arg_def *d = find_def(s, it->string, strlen(it->string));
        if (!d) lr_die_input(path, "unknown option '%s' for '%s'", it->string, s->command);
        char buf[64];
        const char *val = NULL;
        if (cJSON_IsString(it)) val = it->valuestring;
        else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            if (d->type == ARG_INT) snprintf(buf, sizeof buf, "%.0f", it->valuedouble);
            else snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
            if (d->type == ARG_INT && it->valuedouble != floor(it->valuedouble))
                lr_die_input(path, "option '%s' must be an integer", it->string);
            val = buf;
        } else lr_die_input(path, "option '%s' has an unsupported value type", it->string);
        if (d->type == ARG_STR) val = xstrdup(val); /* outlives the JSON tree */
        set_value(d, val, path);
    }
    cJSON_Delete(root);
}

int args_parse(const arg_spec *s, int argc, char **argv, char **positional) {
    /* --config first so that the command line overrides it. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) lr_die_input(s->command, "--config needs a FILE");
            apply_config(s, argv[i + 1]);
        } else if (!strncmp(argv[i], "--config=", 9)) {
            apply_config(s, argv[i] + 9);
        }
    }
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
        const arg_def *d = find_def(s, name, nlen);
        if (!d) lr_die_input(s->command, "unknown option '--%.*s' (see --help)", (int)nlen, name);
        if (d->type == ARG_FLAG) {
            set_value(d, eq ? eq + 1 : NULL, s->command);
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) lr_die_input(s->command, "--%s needs a value", d->name);
        set_value(d, val, s->command);
    }
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
