/* Linear-decay segments (lr_schedule.h). */
#include "trainer/lr_schedule.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

void lr_schedule_init(lr_schedule *s, double lr, int64_t max_steps) {
    memset(s, 0, sizeof *s);
    s->n = 1;
    s->seg[0] = (lr_segment){0, max_steps, max_steps, lr};
}

int lr_schedule_parse(const char *json, const char *where, lr_schedule *s) {
    memset(s, 0, sizeof *s);
    cJSON *j = cJSON_Parse(json);
    int ok = cJSON_IsArray(j) && cJSON_GetArraySize(j) >= 1 && cJSON_GetArraySize(j) <= LR_SCHEDULE_MAX;
    int64_t prev = 0;
    for (int i = 0; ok && i < cJSON_GetArraySize(j); i++) {
        cJSON *e = cJSON_GetArrayItem(j, i);
        cJSON *f = cJSON_GetObjectItem(e, "from"), *t = cJSON_GetObjectItem(e, "to"), *l = cJSON_GetObjectItem(e, "lr"),
              *z = cJSON_GetObjectItem(e, "zero");
        ok = cJSON_IsNumber(f) && cJSON_IsNumber(t) && cJSON_IsNumber(l) && cJSON_IsNumber(z) &&
             f->valuedouble == (double)prev && t->valuedouble > f->valuedouble && z->valuedouble >= t->valuedouble &&
             z->valuedouble < 9e15 && isfinite(l->valuedouble) && t->valuedouble == floor(t->valuedouble) &&
             z->valuedouble == floor(z->valuedouble);
        if (!ok) break;
        s->seg[s->n++] = (lr_segment){(int64_t)f->valuedouble, (int64_t)t->valuedouble, (int64_t)z->valuedouble,
                                      l->valuedouble};
        prev = (int64_t)t->valuedouble;
    }
    cJSON_Delete(j);
    if (!ok) {
        lr_error_set(where, "malformed /train lr_schedule attribute: %.200s", json);
        return -1;
    }
    return 0;
}

char *lr_schedule_json(const lr_schedule *s) {
    size_t cap = 16 + (size_t)s->n * 160, n = 0;
    char *out = xmalloc(cap);
    out[n++] = '[';
    for (int i = 0; i < s->n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s{\"from\":%lld,\"to\":%lld,\"zero\":%lld,\"lr\":%.17g}",
                              i ? "," : "", (long long)s->seg[i].from, (long long)s->seg[i].to,
                              (long long)s->seg[i].zero, s->seg[i].lr);
    snprintf(out + n, cap - n, "]");
    return out;
}

int64_t lr_schedule_end(const lr_schedule *s) { return s->n ? s->seg[s->n - 1].to : 0; }

double lr_schedule_at(const lr_schedule *s, int64_t step) {
    for (int i = 0; i < s->n; i++) {
        const lr_segment *g = &s->seg[i];
        if (step >= g->from && step < g->to) {
            /* the same expression as the plain linear decay (lr_linear) for [0, max) */
            const double len = (double)(g->zero - g->from);
            return g->lr * (double)(g->zero - step) / (len > 1 ? len : 1.0);
        }
    }
    return 0.0;
}

int lr_schedule_extend(lr_schedule *s, int64_t done, int64_t new_max, double lr, const char *where) {
    const int64_t end = lr_schedule_end(s);
    if (new_max == end || new_max <= done) return 0;
    if (new_max < end) {
        lr_error_set(where, "cannot --resume with --max-steps %lld: the run's schedule ends at step %lld and %lld "
                            "are done (pass %lld to continue it, a larger value to extend it, or --overwrite)",
                     (long long)new_max, (long long)end, (long long)done, (long long)end);
        return -1;
    }
    if (done < end) {
        /* unfinished run: the current segment ends where it stands (its
         * decay still aimed at its old end: that is what the taken steps got) */
        s->seg[s->n - 1].to = done;
        if (s->seg[s->n - 1].to == s->seg[s->n - 1].from) s->n--;
    }
    if (s->n >= LR_SCHEDULE_MAX) {
        lr_error_set(where, "the run was extended %d times already (the limit)", LR_SCHEDULE_MAX - 1);
        return -1;
    }
    s->seg[s->n++] = (lr_segment){done, new_max, new_max, lr};
    return 1;
}
