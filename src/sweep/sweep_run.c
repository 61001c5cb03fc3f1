/* Sweep task files and the aggregation (sweep_run.h). */
#define _POSIX_C_SOURCE 200809L
#include "sweep/sweep_run.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "inspect/h5peek.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"

/* ---- the task file */

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    const hid_t dst = *(hid_t *)op;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
    hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
    const hssize_t n = H5Sget_simple_extent_npoints(sp);
    herr_t rc = -1;
    if (a >= 0 && t >= 0 && sp >= 0 && mt >= 0 && n >= 0) {
        void *buf = xcalloc((size_t)(n ? n : 1) * H5Tget_size(mt) + 1, 1);
        if (H5Aread(a, mt, buf) >= 0) {
            hid_t b = H5Acreate2(dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
            rc = b >= 0 && H5Awrite(b, mt, buf) >= 0 ? 0 : -1;
            if (b >= 0) H5Aclose(b);
            if (H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
        }
        free(buf);
    }
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}

typedef struct {
    hid_t dst;
    const char *base;
    int n;
} link_ctx;

static herr_t link_group(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g, (void)info;
    link_ctx *c = op;
    static const char *const own[] = {"samples", "train", "eval", "sweep"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (!strcmp(name, own[i])) return 0;
    char obj[512];
    snprintf(obj, sizeof obj, "/%s", name);
    H5W(H5Lcreate_external(c->base, obj, c->dst, name, H5P_DEFAULT, H5P_DEFAULT), c->dst, "an external link");
    c->n++;
    return 0;
}

int sweep_prepare(const char *base, const char *out, int overwrite) {
    if (!overwrite && lr_file_exists(out)) {
        lr_error_set(out, "exists (--overwrite replaces it)");
        return -1;
    }
    char *abs = realpath(base, NULL);
    if (!abs) {
        lr_error_set(base, "cannot resolve the base run file's path");
        return -1;
    }
    hid_t b = (hid_t)runfile_open_read(base);
    if (b < 0) {
        free(abs);
        return -1;
    }
    if (!h5peek_exists(b, "/divergence")) {
        lr_error_set(base, "has no /divergence: not a run file written by `sample` (or `run`)");
        H5Fclose(b);
        free(abs);
        return -1;
    }
    char *tmp = h5u_tmp_name(out, "prepare");
    hid_t f = h5u_create(tmp, out);
    hsize_t idx = 0;
    H5W(H5Aiterate2(b, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr, &f), f, "the root attributes");
    link_ctx c = {f, abs, 0};
    H5W(H5Literate(b, H5_INDEX_NAME, H5_ITER_INC, NULL, link_group, &c), f, "the links");
    h5u_attr_str(f, "sweep_base", abs);
    H5Fclose(b);
    h5u_commit(f, tmp, out);
    free(tmp);
    free(abs);
    return 0;
}

/* ---- aggregation */

typedef struct {
    double n_samples, n_steps, steps, final_loss, acc, lo, hi, n_correct, n_problems, before;
} task_row;

static void read_task(const char *path, const char *eval_name, task_row *r) {
    const double nan = NAN;
    *r = (task_row){nan, nan, nan, nan, nan, nan, nan, nan, nan, nan};
    hid_t f = (hid_t)runfile_open_read(path);
    if (f < 0) {
        lr_warn("sweep: %s", lr_error_msg());
        return;
    }
    h5peek_attr_double(f, "/samples", "n_samples", &r->n_samples);
    h5peek_attr_double(f, "/samples", "n_steps", &r->n_steps);
    int64_t n = 0;
    double *loss = h5peek_doubles(f, "/train/log/loss", &n);
    if (loss && n > 0) {
        const int64_t w = n >= 10 ? n / 10 : 1;
        double s = 0;
        for (int64_t i = n - w; i < n; i++) s += loss[i];
        r->final_loss = s / (double)w;
        r->steps = (double)n;
    } else {
        lr_warn("sweep: %s has no /train/log/loss", path);
    }
    free(loss);
    char g[256];
    snprintf(g, sizeof g, "/eval/%s", eval_name);
    if (h5peek_attr_double(f, g, "accuracy", &r->acc) == 0) {
        h5peek_attr_double(f, g, "accuracy_ci95_low", &r->lo);
        h5peek_attr_double(f, g, "accuracy_ci95_high", &r->hi);
        h5peek_attr_double(f, g, "n_correct", &r->n_correct);
        h5peek_attr_double(f, g, "n_problems", &r->n_problems);
    } else {
        lr_warn("sweep: %s has no /eval/%s", path, eval_name);
    }
    h5peek_attr_double(f, "/eval/before", "accuracy", &r->before);
    H5Fclose(f);
}

static void csv_num(FILE *f, double v) {
    if (isnan(v)) fputs(",", f);
    else fprintf(f, ",%.10g", v);
}

static int write_csv(const char *path, const sweep_spec *s, const task_row *rows, char **files) {
    lr_atomic_file af;
    if (lr_atomic_open(&af, path) != 0) return -1;
    fprintf(af.f, "task");
    for (int j = 0; j < s->n_keys; j++) fprintf(af.f, ",%s", s->keys[j]);
    fprintf(af.f, ",n_samples,n_steps,train_steps,final_loss,accuracy,accuracy_ci95_low,accuracy_ci95_high,"
                  "n_correct,n_problems,run_file\n");
    for (int i = 0; i < s->n_tasks; i++) {
        const task_row *r = &rows[i];
        fprintf(af.f, "%d", i);
        for (int j = 0; j < s->n_keys; j++) csv_num(af.f, s->values[i * SWEEP_MAX_KEYS + j]);
        const double v[] = {r->n_samples, r->n_steps, r->steps, r->final_loss, r->acc, r->lo, r->hi, r->n_correct,
                            r->n_problems};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) csv_num(af.f, v[k]);
        fprintf(af.f, ",%s\n", files[i]);
    }
    return lr_atomic_commit(&af);
}

static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* Accuracy with its 95% interval per task (and the base model's accuracy
 * as a dashed line when the tasks hold /eval/before). */
static int write_svg(const char *path, const sweep_spec *s, const task_row *rows, const char *eval_name) {
    lr_atomic_file af;
    if (lr_atomic_open(&af, path) != 0) return -1;
    FILE *f = af.f;
    const int n = s->n_tasks, left = 70, top = 40, ph = 300, step = 56;
    const int pw = step * n, W = left + pw + 30, H = top + ph + 170;
    double ymax = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isnan(rows[i].hi) && rows[i].hi > ymax) ymax = rows[i].hi;
        if (!isnan(rows[i].before) && rows[i].before > ymax) ymax = rows[i].before;
    }
    ymax = ymax > 0 ? fmin(1.0, ceil(ymax * 10.0 + 0.5) / 10.0) : 1.0;
#define Y(v) (top + ph - (v) / ymax * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\">accuracy (/eval/", left);
    svg_text(f, eval_name);
    fprintf(f, ") per sweep task, 95%% Wilson interval</text>\n");
    for (int t = 0; t <= 5; t++) {
        const double v = ymax * t / 5.0;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, left + pw, Y(v), Y(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", left - 6, Y(v) + 4, 100 * v);
    }
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, left, top, top + ph);
    if (n > 0 && !isnan(rows[0].before))
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c33\" stroke-dasharray=\"5,4\"/>"
                   "<text x=\"%d\" y=\"%.1f\" fill=\"#c33\" text-anchor=\"end\">before</text>\n",
                left, left + pw, Y(rows[0].before), Y(rows[0].before), left + pw, Y(rows[0].before) - 4);
    for (int i = 0; i < n; i++) {
        const double x = left + step * (i + 0.5);
        const task_row *r = &rows[i];
        if (!isnan(r->acc)) {
            if (!isnan(r->lo) && !isnan(r->hi))
                fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#246\" stroke-width=\"2\"/>",
                        x, x, Y(r->lo), Y(r->hi));
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#246\"/>", x, Y(r->acc));
        }
        char label[256];
        sweep_spec_label(s, i, label, sizeof label);
        fprintf(f, "<text transform=\"translate(%.1f,%d) rotate(-50)\" text-anchor=\"end\">%d: ", x + 4,
                top + ph + 14, i);
        svg_text(f, label);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
#undef Y
    return lr_atomic_commit(&af);
}

static void write_h5(const char *path, const sweep_spec *s, const task_row *rows, char **files, const char *eval_name) {
    char *tmp = h5u_tmp_name(path, "sweep");
    hid_t f = h5u_create(tmp, path);
    hid_t g = H5Gcreate2(f, "sweep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(g, f, "group /sweep");
    h5u_attr_str(g, "description", "one row per sweep task: its settings (NaN = the command's default), samples "
                                   "selected, final training loss (mean of the last tenth of the steps) and accuracy "
                                   "with its 95% Wilson interval");
    h5u_attr_str(g, "spec", s->json);
    h5u_attr_str(g, "eval", eval_name);
    h5u_attr_i64(g, "n_tasks", s->n_tasks);
    const size_t n = (size_t)s->n_tasks;
    double *col = xmalloc((n ? n : 1) * sizeof *col);
    int64_t *idx = xmalloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = (int64_t)i;
    h5u_write_1d(g, "task", H5T_NATIVE_INT64, idx, n);
    for (int j = 0; j < s->n_keys; j++) {
        for (size_t i = 0; i < n; i++) col[i] = s->values[i * SWEEP_MAX_KEYS + j];
        h5u_write_1d(g, s->keys[j], H5T_NATIVE_DOUBLE, col, n);
    }
#define COL(field, name)                                       \
    do {                                                       \
        for (size_t i = 0; i < n; i++) col[i] = rows[i].field; \
        h5u_write_1d(g, name, H5T_NATIVE_DOUBLE, col, n);      \
    } while (0)
    COL(n_samples, "n_samples");
    COL(n_steps, "n_steps");
    COL(steps, "train_steps");
    COL(final_loss, "final_loss");
    COL(acc, "accuracy");
    COL(lo, "accuracy_ci95_low");
    COL(hi, "accuracy_ci95_high");
    COL(n_correct, "n_correct");
    COL(n_problems, "n_problems");
#undef COL
    h5u_write_1d(g, "run_file", h5u_str_type(), files, n);
    char keys[512] = "";
    for (int j = 0; j < s->n_keys; j++) snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", j ? "," : "", s->keys[j]);
    h5u_attr_str(g, "keys", keys);
    H5Gclose(g);
    free(col);
    free(idx);
    h5u_commit(f, tmp, path);
    free(tmp);
}

int sweep_aggregate(const sweep_spec *s, const sweep_agg_opts *o) {
    const char *ev = o->eval_name ? o->eval_name : "after";
    task_row *rows = xcalloc((size_t)s->n_tasks, sizeof *rows);
    char **files = xcalloc((size_t)s->n_tasks, sizeof *files);
    for (int i = 0; i < s->n_tasks; i++) {
        char name[64];
        snprintf(name, sizeof name, "task-%d.h5", i);
        files[i] = lr_path_join(o->dir, name);
        read_task(files[i], ev, &rows[i]);
    }
    int rc = 0;
    write_h5(o->out, s, rows, files, ev);
    if (o->csv && write_csv(o->csv, s, rows, files) != 0) rc = -1;
    if (rc == 0 && o->svg && write_svg(o->svg, s, rows, ev) != 0) rc = -1;
    for (int i = 0; i < s->n_tasks; i++) free(files[i]);
    free(files);
    free(rows);
    return rc;
}

void sweep_print(hid_t f, FILE *out) {
    if (!h5peek_exists(f, "/sweep")) return;
    double nt = 0;
    h5peek_attr_double(f, "/sweep", "n_tasks", &nt);
    char *keys = h5peek_attr_str(f, "/sweep", "keys"), *ev = h5peek_attr_str(f, "/sweep", "eval");
    fprintf(out, "\nsweep      %g tasks over %s (accuracy from /eval/%s)\n", nt, keys ? keys : "?", ev ? ev : "?");
    fprintf(out, "  task  %-44s %9s %10s %24s\n", "settings", "samples", "loss", "accuracy [95% CI]");
    int nk = 0;
    char *kv[SWEEP_MAX_KEYS];
    for (char *p = keys ? strtok(keys, ",") : NULL; p && nk < SWEEP_MAX_KEYS; p = strtok(NULL, ",")) kv[nk++] = p;
    double *cols[SWEEP_MAX_KEYS];
    for (int j = 0; j < nk; j++) {
        char path[96];
        snprintf(path, sizeof path, "/sweep/%s", kv[j]);
        int64_t n = 0;
        cols[j] = h5peek_doubles(f, path, &n);
        if (n < (int64_t)nt) free(cols[j]), cols[j] = NULL;
    }
    int64_t n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0;
    double *ns = h5peek_doubles(f, "/sweep/n_samples", &n1), *fl = h5peek_doubles(f, "/sweep/final_loss", &n2),
           *acc = h5peek_doubles(f, "/sweep/accuracy", &n3), *lo = h5peek_doubles(f, "/sweep/accuracy_ci95_low", &n4),
           *hi = h5peek_doubles(f, "/sweep/accuracy_ci95_high", &n5);
    for (int64_t i = 0; i < (int64_t)nt && ns && fl && acc && lo && hi && i < n1 && i < n2 && i < n3 && i < n4 && i < n5;
         i++) {
        char set[256] = "";
        for (int j = 0; j < nk; j++)
            if (cols[j] && !isnan(cols[j][i]))
                snprintf(set + strlen(set), sizeof set - strlen(set), "%s%s=%g", set[0] ? " " : "", kv[j], cols[j][i]);
        fprintf(out, "  %4lld  %-44s %9.0f %10.4f   %5.1f%% [%5.1f%%, %5.1f%%]\n", (long long)i, set, ns[i], fl[i],
                100 * acc[i], 100 * lo[i], 100 * hi[i]);
    }
    for (int j = 0; j < nk; j++) free(cols[j]);
    free(ns), free(fl), free(acc), free(lo), free(hi), free(keys), free(ev);
}
