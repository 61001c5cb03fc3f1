#define _POSIX_C_SOURCE 200809L
#include "eval/eval_store.h"

#include <errno.h>
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/runfile_h5.h"
#include "version.h"

/* Every write is checked (io/runfile_h5.h): a failure (disk full) ends
 * the process naming the file and the OS reason; the run file is
 * untouched, since the group is added to a copy that replaces it only
 * when whole. Absent strings are stored as "". */
static void attr_str(hid_t obj, const char *key, const char *val) { h5u_attr_str(obj, key, val ? val : ""); }

static void write_strings(hid_t g, const char *name, const eval_row *rows, long n, size_t field, const char *desc) {
    const char **v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    for (long i = 0; i < n; i++) {
        const char *s = *(const char *const *)((const char *)&rows[i] + field);
        v[i] = s ? s : "";
    }
    h5u_write_1d_plain(g, name, h5u_str_type(), h5u_str_type(), v, (size_t)n, desc, NULL);
    free(v);
}

static void write_ints(hid_t g, const char *name, hid_t file_type, const eval_row *rows, long n, size_t field,
                       int is_long, const char *desc, const char *units) {
    int64_t *v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    for (long i = 0; i < n; i++) {
        const char *base = (const char *)&rows[i] + field;
        v[i] = is_long ? *(const long *)base : *(const int *)base;
    }
    h5u_write_1d_plain(g, name, file_type, H5T_NATIVE_INT64, v, (size_t)n, desc, units);
    free(v);
}

/* finish_reason as the run file's shared HDF5 enum (/types/finish_reason), like /traces */
static void write_finish(hid_t g, const eval_row *rows, long n) {
    int8_t *v = xmalloc((size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) v[i] = (int8_t)rows[i].finish;
    h5u_write_1d(g, "finish_reason", h5u_enum_type(H5U_ENUM_FINISH), v, (size_t)n);
    free(v);
    hid_t d = H5Dopen2(g, "finish_reason", H5P_DEFAULT);
    H5W(d, g, "dataset 'finish_reason'");
    attr_str(d, "description", "why generation stopped: eos, max_new_tokens, context_full (the prompt filled or did "
                               "not fit the context), nonfinite (enum /types/finish_reason)");
    H5W(H5Dclose(d), g, "dataset 'finish_reason'");
}

static void write_group(hid_t g, const eval_summary *s, const eval_row *rows) {
    long n = s->n_problems;
    write_strings(g, "question", rows, n, offsetof(eval_row, question), "the user message sent to the model");
    write_strings(g, "gold", rows, n, offsetof(eval_row, gold), "gold answer as compared (GSM8K: text after ####)");
    write_strings(g, "output", rows, n, offsetof(eval_row, output),
                  "generated text (special tokens skipped, greedy decoding)");
    write_strings(g, "extracted", rows, n, offsetof(eval_row, extracted),
                  "answer extracted from output (\"\" when none)");
    write_ints(g, "correct", H5T_STD_U8LE, rows, n, offsetof(eval_row, correct), 0,
               "1 when extracted matches gold", NULL);
    write_ints(g, "gold_unparseable", H5T_STD_U8LE, rows, n, offsetof(eval_row, gold_unparseable), 0,
               "1 when the gold answer is not a number (numeric benchmarks; compared as text) or empty", NULL);
    write_ints(g, "extract_method", H5T_STD_U8LE, rows, n, offsetof(eval_row, method), 0,
               "how the answer was found: 0 none, 1 \\boxed{}, 2 'answer is', 3 last number", NULL);
    write_finish(g, rows, n);
    write_ints(g, "generated_tokens", H5T_STD_I32LE, rows, n, offsetof(eval_row, n_tokens), 0,
               "tokens generated, EOS included", "tokens");
    write_ints(g, "prompt_tokens", H5T_STD_I32LE, rows, n, offsetof(eval_row, prompt_tokens), 0,
               "tokens in the chat-templated prompt", "tokens");
    write_ints(g, "line", H5T_STD_I64LE, rows, n, offsetof(eval_row, line), 1,
               "1-based line of the problem in benchmark_file", NULL);

    attr_str(g, "schema", EVAL_SCHEMA);
    attr_str(g, "benchmark", s->benchmark);
    attr_str(g, "benchmark_file", s->benchmark_file);
    attr_str(g, "model", s->model);
    attr_str(g, "system_prompt", s->system_prompt);
    attr_str(g, "chat_template", s->chat_template);
    attr_str(g, "compare", s->compare);
    attr_str(g, "prompt_type", s->prompt_type ? s->prompt_type : "spec");
    h5u_attr_i64(g, "num_shots", s->num_shots);
    attr_str(g, "decoding", "greedy");
    h5u_attr_i64(g, "max_new_tokens", s->max_new_tokens);
    h5u_attr_i64(g, "batch", s->batch);
    h5u_attr_i64(g, "chunk", s->chunk);
    h5u_attr_i64(g, "n_problems", s->n_problems);
    h5u_attr_i64(g, "n_correct", s->n_correct);
    h5u_attr_i64(g, "n_gold_unparseable", s->n_gold_unparseable);
    h5u_attr_i64(g, "n_no_answer", s->n_no_answer);
    h5u_attr_f64(g, "accuracy", s->accuracy);
    h5u_attr_f64(g, "accuracy_ci95_low", s->ci_low);
    h5u_attr_f64(g, "accuracy_ci95_high", s->ci_high);
    attr_str(g, "ci_method", "Wilson score interval, 95%");
    h5u_attr_i64(g, "n_ranks", s->n_ranks);
    h5u_attr_f64(g, "wall_seconds", s->wall_seconds);
    attr_str(g, "config", s->config_json);
    attr_str(g, "command_line", s->command_line);
    attr_str(g, "version", LR_VERSION);
    attr_str(g, "git_commit", LR_GIT_COMMIT);
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    attr_str(g, "created", when);
}

int eval_store_probe(const char *path, const char *name, int *exists) {
    *exists = 0;
    if (access(path, F_OK) != 0) return 0;
    h5u_quiet_state q;
    h5u_quiet_push(&q);
    int rc = 0;
    if (H5Fis_hdf5(path) <= 0) {
        lr_error_set(path, "exists but is not an HDF5 file, or is locked by another process (refusing to touch it)");
        rc = -1;
    } else {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            lr_error_set(path, "cannot open as HDF5 (damaged, or in use by another process)");
            rc = -1;
        } else {
            char link[512];
            snprintf(link, sizeof link, "/eval/%s", name);
            *exists = H5Lexists(f, "/eval", H5P_DEFAULT) > 0 && H5Lexists(f, link, H5P_DEFAULT) > 0;
            H5Fclose(f);
        }
    }
    h5u_quiet_pop(&q);
    return rc;
}

/* Adds the group to an open file (a temporary copy). 0, or -1 + lr_error. */
static int add_group(hid_t f, const char *path, const eval_summary *s, const eval_row *rows, int overwrite) {
    if (H5Lexists(f, "/eval", H5P_DEFAULT) <= 0) {
        hid_t e = H5Gcreate2(f, "/eval", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5W(e, f, "group '/eval'");
        attr_str(e, "description", "evaluation results, one group per eval (lightreasoner eval --name)");
        H5W(H5Gclose(e), f, "group '/eval'");
    }
    char final_link[512], old_tmp_link[512];
    snprintf(final_link, sizeof final_link, "/eval/%s", s->name);
    /* a leftover of the in-place writes of earlier versions */
    snprintf(old_tmp_link, sizeof old_tmp_link, "/eval/.%s.incomplete", s->name);
    if (H5Lexists(f, old_tmp_link, H5P_DEFAULT) > 0) H5W(H5Ldelete(f, old_tmp_link, H5P_DEFAULT), f, old_tmp_link);
    if (H5Lexists(f, final_link, H5P_DEFAULT) > 0) {
        if (!overwrite) {
            lr_error_set(path, "already holds %s (choose another --name, or --overwrite)", final_link);
            return -1;
        }
        H5W(H5Ldelete(f, final_link, H5P_DEFAULT), f, final_link);
    }
    hid_t g = H5Gcreate2(f, final_link, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(g, f, final_link);
    write_group(g, s, rows);
    H5W(H5Gclose(g), f, final_link);
    return 0;
}

int eval_store_write(const char *path, const eval_summary *s, const eval_row *rows, int overwrite) {
    h5u_quiet_state q;
    h5u_quiet_push(&q);
    /* Never modified in place: the group is added to a copy (or a new file)
     * that is flushed, fsynced and renamed over the run file, so a failure
     * at any point (disk full, kill) leaves the previous complete file. One
     * writer at a time is the caller's lock (cmd_eval). */
    char *tmp = h5u_tmp_name(path, "tmp");
    hid_t f = -1;
    int rc = 0;
    if (access(path, F_OK) != 0) {
        f = h5u_create(tmp, path);
    } else if (h5u_copy_bytes(path, tmp, path) != 0) {
        rc = -1;
    } else if ((f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT)) < 0) {
        if (h5u_fail_is_os()) h5u_die_write(-1, "(open of the copy)");
        lr_error_set(path, "cannot open as HDF5 (not an HDF5 file, or damaged); the results are kept for --resume");
        h5u_abandon(-1, tmp);
        rc = -1;
    }
    if (rc == 0) {
        rc = add_group(f, path, s, rows, overwrite);
        if (rc == 0) h5u_commit(f, tmp, path);
        else h5u_abandon(f, tmp);
    }
    free(tmp);
    h5u_quiet_pop(&q);
    return rc;
}

int eval_store_read_summary(const char *path, const char *name, long *n_problems, long *n_correct, double *acc,
                            double *lo, double *hi) {
    h5u_quiet_state q;
    h5u_quiet_push(&q);
    int rc = -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        char link[512];
        snprintf(link, sizeof link, "/eval/%s", name);
        hid_t g = H5Gopen2(f, link, H5P_DEFAULT);
        if (g >= 0) {
            int64_t np = 0, nc = 0;
            if (h5u_read_attr_i64(g, "n_problems", path, &np) == 0 && h5u_read_attr_i64(g, "n_correct", path, &nc) == 0 &&
                h5u_read_attr_f64(g, "accuracy", path, acc) == 0 &&
                h5u_read_attr_f64(g, "accuracy_ci95_low", path, lo) == 0 &&
                h5u_read_attr_f64(g, "accuracy_ci95_high", path, hi) == 0) {
                *n_problems = (long)np;
                *n_correct = (long)nc;
                rc = 0;
            }
            H5Gclose(g);
        }
        H5Fclose(f);
    }
    if (rc) lr_error_set(path, "cannot read the summary of /eval/%s", name);
    h5u_quiet_pop(&q);
    return rc;
}
