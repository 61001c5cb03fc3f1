/* /samples: selection + soft labels from stored candidates, for the join
 * and for `select` (which rebuilds them in a copy renamed over the file). */
#define _POSIX_C_SOURCE 200809L
#include "io/runfile_samples.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/lock.h"
#include "io/runfile.h"
#include "method/method.h"

void samples_writer_open(lr_samples_writer *s, hid_t file, const lr_method *m) {
    memset(s, 0, sizeof *s);
    s->method = *m;
    s->group = H5Gcreate2(file, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(s->group, file, "group '/samples'");
    h5u_attr_str(s->group, "description", method_describe(m));
    hid_t g = s->group;
    h5u_app_create(&s->trace, g, "trace", H5T_NATIVE_INT64, "row of /traces", NULL);
    h5u_app_create(&s->step, g, "step", H5T_NATIVE_INT32, "generated step t (0 = first generated token)", NULL);
    h5u_app_create(&s->problem, g, "problem", H5T_NATIVE_INT64, "row of /problems", NULL);
    h5u_app_create(&s->row, g, "divergence_row", H5T_NATIVE_INT64, "row of /divergence", NULL);
    h5u_app_create(&s->kl, g, "kl", H5T_NATIVE_DOUBLE, "KL(p_E || p_A) at this step over the shared vocabulary",
                   "nats");
    h5u_app_create(&s->label_offsets, g, "label_offsets", H5T_NATIVE_INT64,
                   "sample i's label is label_ids/label_weights[label_offsets[i]:label_offsets[i+1]]", NULL);
    h5u_app_create(&s->label_ids, g, "label_ids", H5T_NATIVE_INT32, "token ids of the plausible set", NULL);
    h5u_app_create(&s->label_weights, g, "label_weights", H5T_NATIVE_FLOAT, "soft label weights (sum to 1 per sample)",
                   "probability");
}

/* A sample from a step the rule selected: its label, then the row. */
static void write_sample(lr_samples_writer *s, int64_t row, int64_t trace, const lr_scored_step *st) {
    const size_t room = (size_t)method_label_room(st);
    if (room > s->cap) {
        s->cap = room * 2;
        s->ids = xrealloc(s->ids, s->cap * sizeof *s->ids);
        s->w = xrealloc(s->w, s->cap * sizeof *s->w);
    }
    const int m = method_label(&s->method, st, s->ids, s->w);
    if (m == 0) return; /* no finite candidate (a damaged row): no label to train on */
    h5u_app_write(&s->trace, &trace, 1);
    h5u_app_write(&s->step, &st->step, 1);
    h5u_app_write(&s->problem, &st->problem, 1);
    h5u_app_write(&s->row, &row, 1);
    h5u_app_write(&s->kl, &st->kl, 1);
    h5u_app_write(&s->label_offsets, &s->n_labels, 1);
    h5u_app_write(&s->label_ids, s->ids, (size_t)m);
    h5u_app_write(&s->label_weights, s->w, (size_t)m);
    s->n_labels += m;
    s->n_samples++;
}

/* The held trace through the trace-level rule (method_select_trace). */
static void flush_trace(lr_samples_writer *s) {
    if (s->n_held == 0) return;
    method_select_trace(&s->method, s->held[0].problem, s->held_kl, s->n_held, s->mask, s->scratch);
    for (int i = 0; i < s->n_held; i++) {
        if (!s->mask[i]) continue;
        lr_scored_step st = s->held[i];
        const int64_t a = s->held_cand[i];
        st.ids = s->held_ids + a, st.lpe = s->held_lpe + a, st.lpa = s->held_lpa + a;
        write_sample(s, s->held_row[i], s->cur_trace, &st);
    }
    s->n_held = 0;
}

static void hold_step(lr_samples_writer *s, int64_t row, int64_t trace, const lr_scored_step *st) {
    if (s->n_held > 0 && trace != s->cur_trace) flush_trace(s);
    s->cur_trace = trace;
    if (s->n_held == s->cap_held) {
        s->cap_held = s->cap_held ? 2 * s->cap_held : 256;
        const size_t c = (size_t)s->cap_held;
        s->held = xrealloc(s->held, c * sizeof *s->held);
        s->held_row = xrealloc(s->held_row, c * sizeof *s->held_row);
        s->held_cand = xrealloc(s->held_cand, (c + 1) * sizeof *s->held_cand);
        s->held_kl = xrealloc(s->held_kl, c * sizeof *s->held_kl);
        s->mask = xrealloc(s->mask, c * sizeof *s->mask);
        s->scratch = xrealloc(s->scratch, c * sizeof *s->scratch);
    }
    const int i = s->n_held++;
    if (i == 0) s->held_cand[0] = 0;
    const int64_t a = s->held_cand[i], n = st->n > 0 ? st->n : 0;
    if ((size_t)(a + n) > s->cap_cand) {
        s->cap_cand = 2 * (size_t)(a + n);
        s->held_ids = xrealloc(s->held_ids, s->cap_cand * sizeof *s->held_ids);
        s->held_lpe = xrealloc(s->held_lpe, s->cap_cand * sizeof *s->held_lpe);
        s->held_lpa = xrealloc(s->held_lpa, s->cap_cand * sizeof *s->held_lpa);
    }
    if (n > 0) {
        memcpy(s->held_ids + a, st->ids, (size_t)n * sizeof *s->held_ids);
        memcpy(s->held_lpe + a, st->lpe, (size_t)n * sizeof *s->held_lpe);
        memcpy(s->held_lpa + a, st->lpa, (size_t)n * sizeof *s->held_lpa);
    }
    s->held_cand[i + 1] = a + n;
    s->held[i] = *st;
    s->held_row[i] = row;
    s->held_kl[i] = st->kl;
}

void samples_writer_step(lr_samples_writer *s, int64_t row, int64_t trace, const lr_scored_step *st) {
    s->n_steps++;
    if (isfinite(st->kl) && st->kl >= s->method.beta) s->n_selected_kl++;
    if (s->method.select == METHOD_SELECT_RANDOM) {
        hold_step(s, row, trace, st);
        return;
    }
    if (method_select(&s->method, st)) write_sample(s, row, trace, st);
}

void samples_writer_close(lr_samples_writer *s) {
    flush_trace(s);
    h5u_app_write(&s->label_offsets, &s->n_labels, 1);
    h5u_attr_f64(s->group, "alpha", s->method.alpha);
    h5u_attr_f64(s->group, "beta", s->method.beta);
    h5u_attr_i64(s->group, "n_samples", s->n_samples);
    h5u_attr_i64(s->group, "n_steps", s->n_steps);
    h5u_attr_f64(s->group, "selected_fraction", s->n_steps ? (double)s->n_samples / (double)s->n_steps : 0.0);
    /* the rule (the paper's ablations, method.h) and what KL alone selects */
    h5u_attr_str(s->group, "select", method_select_name(&s->method));
    h5u_attr_str(s->group, "labels", method_labels_name(&s->method));
    h5u_attr_i64(s->group, "select_seed", (int64_t)s->method.select_seed);
    h5u_attr_i64(s->group, "n_selected_kl", s->n_selected_kl);
    h5u_app_close(&s->trace);
    h5u_app_close(&s->step);
    h5u_app_close(&s->problem);
    h5u_app_close(&s->row);
    h5u_app_close(&s->kl);
    h5u_app_close(&s->label_offsets);
    h5u_app_close(&s->label_ids);
    h5u_app_close(&s->label_weights);
    H5W(H5Gclose(s->group), s->group, "group '/samples'");
    free(s->ids);
    free(s->w);
    s->ids = NULL;
    s->w = NULL;
    free(s->held), free(s->held_row), free(s->held_cand), free(s->held_kl), free(s->mask), free(s->scratch);
    free(s->held_ids), free(s->held_lpe), free(s->held_lpa);
    s->held = NULL, s->held_row = NULL, s->held_cand = NULL, s->held_kl = NULL, s->mask = NULL, s->scratch = NULL;
    s->held_ids = NULL, s->held_lpe = NULL, s->held_lpa = NULL;
}

/* ---- select */

/* Streams /divergence of src into the samples writer (blocks of steps,
 * bounded number of candidates per block). */
static int rebuild_samples(hid_t src, const char *path, lr_samples_writer *sw) {
    hid_t dv = H5Gopen2(src, "divergence", H5P_DEFAULT), tr = H5Gopen2(src, "traces", H5P_DEFAULT);
    int rc = -1;
    int64_t ns = 0, nt = 0;
    int64_t *trace_problem = NULL, *off = NULL, *trace = NULL;
    int32_t *step = NULL, *token = NULL, *ids = NULL;
    double *kl = NULL;
    float *lpe = NULL, *lpa = NULL;
    if (dv < 0 || tr < 0) {
        lr_error_set(path, "missing /divergence or /traces");
        goto out;
    }
    if (h5u_len(dv, "kl", path, &ns) != 0) goto out;
    /* every run file this program writes has /divergence/token; a file
     * without it gives the method token -1 (lr_scored_step) */
    const int has_token = H5Lexists(dv, "token", H5P_DEFAULT) > 0;
    if (!has_token && sw->method.labels == METHOD_LABELS_ONEHOT) {
        lr_error_set(path, "--labels onehot needs /divergence/token (the expert's own tokens): not in this file");
        goto out;
    }
    int64_t vshared = 0;
    if (h5u_read_attr_i64(src, "vocab_shared", path, &vshared) != 0) goto out;
    if (!(trace_problem = h5u_read_all(tr, "problem", path, H5T_NATIVE_INT64, -1, &nt))) goto out;
    const int64_t max_steps = 65536, max_cands = 1 << 22;
    off = xmalloc((size_t)(max_steps + 1) * sizeof *off);
    trace = xmalloc((size_t)max_steps * sizeof *trace);
    step = xmalloc((size_t)max_steps * sizeof *step);
    token = xmalloc((size_t)max_steps * sizeof *token);
    kl = xmalloc((size_t)max_steps * sizeof *kl);
    size_t ccap = 0;
    for (int64_t s0 = 0; s0 < ns;) {
        int64_t k = ns - s0 < max_steps ? ns - s0 : max_steps;
        if (h5u_read_range(dv, "cand_offsets", path, H5T_NATIVE_INT64, s0, k + 1, off) != 0) goto out;
        /* a step has 1..V candidates (distinct shared ids): checked before
         * any arithmetic on the offsets (lying ones overflow it) and before
         * anything is sized from them */
        for (int64_t i = 0; i < k; i++)
            if (off[i + 1] <= off[i] || off[i] < 0 || off[i + 1] - off[i] > vshared) {
                lr_error_set(path, "/divergence/cand_offsets is inconsistent at row %lld", (long long)(s0 + i));
                goto out;
            }
        int64_t k2 = 1;
        while (k2 < k && off[k2 + 1] - off[0] <= max_cands) k2++;
        k = k2;
        int64_t nc = off[k] - off[0];
        if ((size_t)nc > ccap) {
            ccap = (size_t)nc;
            ids = xrealloc(ids, ccap * sizeof *ids);
            lpe = xrealloc(lpe, ccap * sizeof *lpe);
            lpa = xrealloc(lpa, ccap * sizeof *lpa);
        }
        if (h5u_read_range(dv, "trace", path, H5T_NATIVE_INT64, s0, k, trace) ||
            h5u_read_range(dv, "step", path, H5T_NATIVE_INT32, s0, k, step) ||
            h5u_read_range(dv, "kl", path, H5T_NATIVE_DOUBLE, s0, k, kl) ||
            (has_token && h5u_read_range(dv, "token", path, H5T_NATIVE_INT32, s0, k, token)) ||
            h5u_read_range(dv, "cand_ids", path, H5T_NATIVE_INT32, off[0], nc, ids) ||
            h5u_read_range(dv, "cand_logp_expert", path, H5T_NATIVE_FLOAT, off[0], nc, lpe) ||
            h5u_read_range(dv, "cand_logp_amateur", path, H5T_NATIVE_FLOAT, off[0], nc, lpa))
            goto out;
        for (int64_t c = 0; c < nc; c++)
            if (ids[c] < 0 || ids[c] >= vshared) { /* the labels would name tokens the models do not share */
                lr_error_set(path, "/divergence/cand_ids[%lld] = %d is outside the shared vocabulary [0, %lld)",
                             (long long)(off[0] + c), (int)ids[c], (long long)vshared);
                goto out;
            }
        for (int64_t i = 0; i < k; i++) {
            if (trace[i] < 0 || trace[i] >= nt) {
                lr_error_set(path, "/divergence/trace out of range at row %lld", (long long)(s0 + i));
                goto out;
            }
            const int64_t a = off[i] - off[0];
            const lr_scored_step st = {.problem = trace_problem[trace[i]],
                                       .step = step[i],
                                       .token = has_token ? token[i] : -1,
                                       .kl = kl[i],
                                       .n = (int)(off[i + 1] - off[i]),
                                       .ids = ids + a,
                                       .lpe = lpe + a,
                                       .lpa = lpa + a};
            samples_writer_step(sw, s0 + i, trace[i], &st);
        }
        s0 += k;
    }
    rc = 0;
out:
    free(trace_problem), free(off), free(trace), free(step), free(token), free(kl), free(ids), free(lpe), free(lpa);
    if (dv >= 0) H5Gclose(dv);
    if (tr >= 0) H5Gclose(tr);
    return rc;
}

/* The root `config` describes the file as it now is: select's alpha and
 * beta replace the sampled ones there; the configuration `sample` ran with
 * is kept once as `config_sample`, and `config_updated_by` names the
 * command. */
static void update_root_config(hid_t f, const char *path, const lr_method *m, const char *command_line) {
    char *txt = NULL;
    if (!h5u_has_attr(f, "config") || h5u_read_attr_str(f, "config", path, &txt) != 0) {
        lr_error_clear();
        return;
    }
    cJSON *j = cJSON_Parse(txt);
    if (cJSON_IsObject(j)) {
        if (!h5u_has_attr(f, "config_sample")) h5u_attr_str(f, "config_sample", txt);
        cJSON_DeleteItemFromObjectCaseSensitive(j, "alpha");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "beta");
        cJSON_AddNumberToObject(j, "alpha", m->alpha);
        cJSON_AddNumberToObject(j, "beta", m->beta);
        /* the rule (method.h) as the flags name it */
        cJSON_DeleteItemFromObjectCaseSensitive(j, "select");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "labels");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "select-seed");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "sft");
        cJSON_AddStringToObject(j, "select", method_select_name(m));
        cJSON_AddStringToObject(j, "labels", method_labels_name(m));
        cJSON_AddNumberToObject(j, "select-seed", (double)m->select_seed);
        char *out = cJSON_PrintUnformatted(j);
        if (out) h5u_attr_str(f, "config", out);
        cJSON_free(out);
        h5u_attr_str(f, "config_updated_by", command_line ? command_line : "select");
    }
    cJSON_Delete(j);
    free(txt);
}

int runfile_select(const char *path, const lr_method *m, const char *command_line, int64_t *n_samples,
                   int64_t *n_steps) {
    if (method_check(m, "select") != 0) return -1;
    const double alpha = m->alpha;
    /* a run file (checked first: no lock file beside anything else), then
     * one writer per run file until this process ends (common/lock.h), then
     * the file as it is under the lock */
    hid_t src = (hid_t)runfile_open_read(path);
    if (src < 0) return -1;
    H5Fclose(src);
    if (lr_lock_existing(path, "select") != 0) return -1;
    src = (hid_t)runfile_open_read(path);
    if (src < 0) return -1;
    double store_alpha = 0;
    hid_t dv = H5Gopen2(src, "divergence", H5P_DEFAULT);
    int rc = dv < 0 ? -1 : h5u_read_attr_f64(dv, "store_alpha", path, &store_alpha);
    if (dv >= 0) H5Gclose(dv);
    if (rc != 0) {
        if (dv < 0) lr_error_set(path, "no /divergence group");
        H5Fclose(src);
        return -1;
    }
    if (alpha < store_alpha) {
        lr_error_set(path,
                     "--alpha %g is below the store-alpha %g the run was sampled with: candidates with "
                     "p_E < %g * max p_E were not stored (re-run `sample` with --store-alpha <= %g)",
                     alpha, store_alpha, store_alpha, alpha);
        H5Fclose(src);
        return -1;
    }
    char *tmp = h5u_tmp_name(path, "tmp");
    hid_t dst = h5u_copy_except(src, path, tmp, "samples");
    if (dst < 0) {
        free(tmp);
        H5Fclose(src);
        return -1;
    }
    lr_samples_writer sw;
    samples_writer_open(&sw, dst, m);
    rc = rebuild_samples(src, path, &sw);
    if (command_line) h5u_attr_str(sw.group, "select_command_line", command_line);
    samples_writer_close(&sw);
    if (rc == 0) update_root_config(dst, path, m, command_line);
    if (n_samples) *n_samples = sw.n_samples;
    if (n_steps) *n_steps = sw.n_steps;
    H5Fclose(src);
    if (rc == 0) h5u_commit(dst, tmp, path); /* flush, close, fsync, rename: checked */
    else h5u_abandon(dst, tmp);
    free(tmp);
    return rc;
}
