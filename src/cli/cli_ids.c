#include "cli/cli_ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

int32_t *cli_ids_from_text(const char *s, const char *where, int n_tokens, int *n_out) {
    int cap = 16, n = 0;
    int32_t *ids = xmalloc((size_t)cap * sizeof *ids);
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\t' && *end != ','))
            lr_die_input(where, "'%.*s' is not a token id", (int)strcspn(p, " \t,"), p);
        if (n_tokens > 0 && v >= n_tokens)
            lr_die_input(where, "token id %ld is outside the vocabulary [0, %d)", v, n_tokens);
        if (n == cap) ids = xrealloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    *n_out = n;
    return ids;
}

int32_t *cli_ids_from_json(const cJSON *a, const char *where, int *n_out) {
    const int n = cJSON_GetArraySize(a);
    int32_t *ids = xmalloc((size_t)(n ? n : 1) * sizeof *ids);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int32_t)it->valuedouble || it->valuedouble < 0)
            lr_die_input(where, "\"ids\" entry %d is not a non-negative integer", i);
        ids[i++] = (int32_t)it->valuedouble;
    }
    *n_out = n;
    return ids;
}
