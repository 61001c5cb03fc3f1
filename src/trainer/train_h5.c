/* /train of the run file: save by atomic rewrite, resume, checkpoints
 * (train_h5.h). Layout (docs/train.md):
 *   /train                       attributes: schema, status, configuration, model dims, LoRA config
 *   /train/log/<column>          one entry per optimizer step
 *   /train/checkpoints/step_<N>  the adapter after step N, one 2-D dataset per PEFT key
 *   /train/state                 attributes step, adam_step, cursor, rng_*; groups
 *                                lora/, exp_avg/, exp_avg_sq/ (PEFT keys): what --resume needs */
#define _POSIX_C_SOURCE 200809L
#include "trainer/train_h5.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/crash_point.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "version.h"

/* ---------------------------------------------------------------- log */

void tr_log_push(tr_log *l, int64_t step, double loss, double lr, double gnorm, int skipped, int64_t samples,
                 int64_t tokens, double seconds) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        const size_t c = (size_t)l->cap;
        l->step = xrealloc(l->step, c * sizeof *l->step);
        l->loss = xrealloc(l->loss, c * sizeof *l->loss);
        l->lr = xrealloc(l->lr, c * sizeof *l->lr);
        l->grad_norm = xrealloc(l->grad_norm, c * sizeof *l->grad_norm);
        l->skipped = xrealloc(l->skipped, c * sizeof *l->skipped);
        l->samples = xrealloc(l->samples, c * sizeof *l->samples);
        l->tokens = xrealloc(l->tokens, c * sizeof *l->tokens);
        l->seconds = xrealloc(l->seconds, c * sizeof *l->seconds);
        l->tokens_per_s = xrealloc(l->tokens_per_s, c * sizeof *l->tokens_per_s);
    }
    const int64_t i = l->n++;
    l->step[i] = step, l->loss[i] = loss, l->lr[i] = lr, l->grad_norm[i] = gnorm, l->skipped[i] = (int8_t)skipped;
    l->samples[i] = samples, l->tokens[i] = tokens, l->seconds[i] = seconds;
    l->tokens_per_s[i] = seconds > 0 ? (double)tokens / seconds : 0.0;
}

void tr_log_free(tr_log *l) {
    free(l->step), free(l->loss), free(l->lr), free(l->grad_norm), free(l->skipped), free(l->samples);
    free(l->tokens), free(l->seconds), free(l->tokens_per_s);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------- helpers */

/* Every call of a save is checked: a failure (disk full) ends the process
 * with the file and the OS reason (h5u_die_write), the run file untouched. */
static void write_f32_2d(hid_t loc, const char *name, const float *data, hsize_t rows, hsize_t cols) {
    char what[300];
    snprintf(what, sizeof what, "dataset '%s'", name);
    hsize_t dims[2] = {rows, cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    H5W(sp, loc, what);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(ds, loc, what);
    H5W(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), loc, what);
    H5W(H5Dclose(ds), loc, what);
    H5Sclose(sp);
}

static hid_t group_create(hid_t loc, const char *name) {
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        char what[300];
        snprintf(what, sizeof what, "group '%s'", name);
        h5u_die_write(loc, what);
    }
    return g;
}

static void group_close(hid_t g) { H5W(H5Gclose(g), g, "(close a group)"); }

/* One dataset per PEFT key, values from buf (a's flat layout). */
static void write_named(hid_t parent, const char *group, const lr_lora *a, const float *buf, const char *desc) {
    hid_t g = group_create(parent, group);
    if (desc) h5u_attr_str(g, "description", desc);
    char nm[256];
    for (int s = 0; s < a->n_slots; s++) {
        const lora_slot *sl = &a->slots[s];
        lora_peft_name(a, s, 0, nm, sizeof nm);
        write_f32_2d(g, nm, buf + sl->a, (hsize_t)a->cfg.r, (hsize_t)sl->in);
        lora_peft_name(a, s, 1, nm, sizeof nm);
        write_f32_2d(g, nm, buf + sl->b, (hsize_t)sl->out, (hsize_t)a->cfg.r);
    }
    group_close(g);
}

static int read_named(hid_t parent, const char *group, const char *file, const lr_lora *a, float *buf) {
    hid_t g = H5Gopen2(parent, group, H5P_DEFAULT);
    if (g < 0) {
        lr_error_set(file, "/train: group '%s' is missing", group);
        return -1;
    }
    char nm[256];
    int rc = 0;
    for (int s = 0; s < a->n_slots && rc == 0; s++)
        for (int w = 0; w < 2 && rc == 0; w++) {
            const lora_slot *sl = &a->slots[s];
            lora_peft_name(a, s, w, nm, sizeof nm);
            const hsize_t want[2] = {w ? (hsize_t)sl->out : (hsize_t)a->cfg.r, w ? (hsize_t)a->cfg.r : (hsize_t)sl->in};
            hid_t ds = H5Lexists(g, nm, H5P_DEFAULT) > 0 ? H5Dopen2(g, nm, H5P_DEFAULT) : -1;
            hsize_t dims[2] = {0, 0};
            int ok = ds >= 0;
            if (ok) {
                hid_t sp = H5Dget_space(ds);
                ok = H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, dims, NULL) == 2 &&
                     dims[0] == want[0] && dims[1] == want[1];
                H5Sclose(sp);
            }
            if (ok) ok = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + (w ? sl->b : sl->a)) >= 0;
            if (ds >= 0) H5Dclose(ds);
            if (!ok) {
                lr_error_set(file, "/train: %s/%s is missing, misshapen or unreadable", group, nm);
                rc = -1;
            }
        }
    H5Gclose(g);
    return rc;
}

static char *tmp_name(const char *run_path) { return h5u_tmp_name(run_path, "train.tmp"); }

int train_h5_create_state(const char *path) {
    h5u_quiet();
    char *tmp = tmp_name(path);
    hid_t f = h5u_create(tmp, path);
    h5u_attr_str(f, "schema", LR_RUN_SCHEMA);
    h5u_attr_i64(f, "schema_version", LR_RUN_SCHEMA_VERSION);
    h5u_attr_str(f, "content", "the /train state of a `lightreasoner run` in progress (joined into its run file at "
                               "the end)");
    h5u_attr_i64(f, "complete", 1);
    h5u_commit(f, tmp, path);
    free(tmp);
    return 0;
}

void train_h5_clean_tmp(const char *run_path) {
    char *dir = xstrdup(run_path), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : run_path;
    if (slash) *slash = 0;
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (d) {
        size_t bl = strlen(base);
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".train.tmp.", 11)) {
                char *p = slash ? lr_path_join(dir[0] ? dir : "/", e->d_name) : xstrdup(e->d_name);
                remove(p);
                free(p);
            }
        closedir(d);
    }
    free(dir);
}

/* ---------------------------------------------------------------- save */

static void write_meta(hid_t g, const tr_meta *m, const lr_lora *a, const tr_counters *c, int complete,
                       int64_t latest_ckpt) {
    h5u_attr_str(g, "description",
                 "LoRA fine-tuning on the selected steps (SPEC §2): per-step log, checkpoints of the adapter "
                 "under PEFT key names, and the state --resume continues from");
    h5u_attr_str(g, "schema", LR_TRAIN_SCHEMA);
    h5u_attr_i64(g, "schema_version", LR_TRAIN_SCHEMA_VERSION);
    h5u_attr_str(g, "status", complete ? "complete" : "running");
    h5u_attr_str(g, "version", LR_VERSION);
    h5u_attr_str(g, "git_commit", LR_GIT_COMMIT);
    h5u_attr_str(g, "config", m->config_json ? m->config_json : "{}");
    h5u_attr_str(g, "command_line", m->command_line ? m->command_line : "");
    h5u_attr_str(g, "resume_key", m->resume_key ? m->resume_key : "{}");
    h5u_attr_str(g, "base_model_name_or_path", m->base_model ? m->base_model : "");
    h5u_attr_i64(g, "n_samples", m->n_samples);
    h5u_attr_i64(g, "n_samples_file", m->n_samples_file);
    h5u_attr_i64(g, "n_skipped_long", m->n_skipped_long);
    h5u_attr_i64(g, "max_length", m->max_length);
    h5u_attr_i64(g, "global_batch", m->global_batch);
    h5u_attr_i64(g, "micro_batch", m->micro_batch);
    h5u_attr_i64(g, "grad_accum", m->grad_accum);
    h5u_attr_i64(g, "max_steps", m->max_steps);
    if (m->lr_schedule) h5u_attr_str(g, "lr_schedule", m->lr_schedule);
    h5u_attr_i64(g, "trainer_ranks", m->world);
    h5u_attr_i64(g, "shuffle_buffer", m->shuffle_buffer);
    h5u_attr_i64(g, "start_after", m->start_after);
    h5u_attr_i64(g, "streamed", m->streamed);
    h5u_attr_str(g, "frozen_weights", m->frozen_weights ? m->frozen_weights : "f32");
    h5u_attr_i64(g, "steps_done", c->step);
    h5u_attr_i64(g, "n_bad_steps", c->n_bad);
    h5u_attr_i64(g, "latest_checkpoint", latest_ckpt);
    h5u_attr_i64(g, "r", a->cfg.r);
    h5u_attr_f64(g, "lora_alpha", a->cfg.alpha);
    h5u_attr_f64(g, "lora_dropout", a->cfg.dropout);
    h5u_attr_i64(g, "use_rslora", a->cfg.use_rslora);
    char t[128];
    lora_targets_str(a->cfg.targets, t, sizeof t);
    h5u_attr_str(g, "target_modules", t);
    h5u_attr_i64(g, "model_n_layers", m->n_layers);
    h5u_attr_i64(g, "model_hidden_size", m->d);
    h5u_attr_i64(g, "model_q_dim", m->q_dim);
    h5u_attr_i64(g, "model_kv_dim", m->kv_dim);
    h5u_attr_i64(g, "model_intermediate_size", m->inter);
}

static void write_log(hid_t g, const tr_log *l) {
    hid_t lg = group_create(g, "log");
    h5u_attr_str(lg, "description", "one entry per optimizer step (rank 0's view of the global batch)");
    const size_t n = (size_t)l->n;
    struct {
        const char *name;
        hid_t t;
        const void *p;
        const char *desc, *units;
    } cols[] = {
        {"step", H5T_NATIVE_INT64, l->step, "optimizer step (1-based)", NULL},
        {"loss", H5T_NATIVE_DOUBLE, l->loss, "sum over the global batch of KL(w || softmax(z)) / batch size", "nats"},
        {"lr", H5T_NATIVE_DOUBLE, l->lr, "learning rate used by the step", NULL},
        {"grad_norm", H5T_NATIVE_DOUBLE, l->grad_norm, "global L2 norm of the LoRA gradient before clipping", NULL},
        {"skipped", H5T_NATIVE_INT8, l->skipped, "1: NaN/Inf in the loss or gradient, no update", NULL},
        {"samples", H5T_NATIVE_INT64, l->samples, "samples in the global batch", NULL},
        {"tokens", H5T_NATIVE_INT64, l->tokens, "input tokens in the global batch", "tokens"},
        {"seconds", H5T_NATIVE_DOUBLE, l->seconds, "wall time of the step", "s"},
        {"tokens_per_s", H5T_NATIVE_DOUBLE, l->tokens_per_s, "training throughput of the step (all ranks)",
         "tokens/s"},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        static const char dummy[8];
        h5u_write_1d(lg, cols[i].name, cols[i].t, n ? cols[i].p : dummy, n);
        hid_t ds = H5Dopen2(lg, cols[i].name, H5P_DEFAULT);
        H5W(ds, lg, "group '/train/log'");
        h5u_attr_str(ds, "description", cols[i].desc);
        if (cols[i].units) h5u_attr_str(ds, "units", cols[i].units);
        H5W(H5Dclose(ds), lg, "group '/train/log'");
    }
    group_close(lg);
}

/* Checkpoints of a later, abandoned future (step > max_step) are dropped. */
typedef struct {
    int64_t max_step, latest;
    char **drop;
    int n_drop;
} ckpt_scan;

static herr_t scan_ckpt(hid_t loc, const char *name, const H5L_info_t *info, void *p) {
    (void)loc, (void)info;
    ckpt_scan *c = p;
    long long s = -1;
    if (sscanf(name, "step_%lld", &s) != 1) return 0;
    if (s > c->max_step) {
        c->drop = xrealloc(c->drop, (size_t)(c->n_drop + 1) * sizeof *c->drop);
        c->drop[c->n_drop++] = xstrdup(name);
    } else if (s > c->latest) {
        c->latest = s;
    }
    return 0;
}

int train_h5_save(const char *run_path, const tr_meta *meta, const lr_lora *a, const adamw_state *opt,
                  const tr_counters *c, const tr_log *log, int checkpoint, int complete) {
    hid_t src = (hid_t)runfile_open_read(run_path);
    if (src < 0) return -1;
    char *tmp = tmp_name(run_path);
    /* a byte copy of the whole file; /train is rebuilt in it below */
    hid_t dst = h5u_copy_except(src, run_path, tmp, NULL);
    H5Fclose(src);
    if (dst < 0) {
        free(tmp);
        return -1;
    }
    int rc = 0;
    hsize_t idx = 0;
    {
        /* the earlier checkpoints stay where they are (no data copied): moved
         * aside, /train rebuilt, moved back */
        const int had_train = H5Lexists(dst, "train", H5P_DEFAULT) > 0;
        const int had_ckpt = had_train && H5Lexists(dst, "train/checkpoints", H5P_DEFAULT) > 0;
        if (had_ckpt)
            H5W(H5Lmove(dst, "train/checkpoints", dst, ".train_checkpoints", H5P_DEFAULT, H5P_DEFAULT), dst,
                "group '/train/checkpoints'");
        if (had_train) H5W(H5Ldelete(dst, "train", H5P_DEFAULT), dst, "group '/train'");
        hid_t g = group_create(dst, "train");
        write_log(g, log);
        hid_t ck = -1;
        if (had_ckpt) {
            H5W(H5Lmove(dst, ".train_checkpoints", g, "checkpoints", H5P_DEFAULT, H5P_DEFAULT), dst,
                "group '/train/checkpoints'");
            ck = H5Gopen2(g, "checkpoints", H5P_DEFAULT);
            H5W(ck, g, "group '/train/checkpoints'");
        } else {
            ck = group_create(g, "checkpoints");
        }
        h5u_attr_str(ck, "description", "step_<N>: the adapter after optimizer step N (PEFT keys, fp32); "
                                        "`lightreasoner export --step N` writes it as a PEFT directory");
        ckpt_scan cc = {c->step, -1, NULL, 0};
        idx = 0;
        if (H5Literate(ck, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, scan_ckpt, &cc) < 0) {
            lr_error_set(run_path, "cannot list /train/checkpoints (damaged file?)");
            rc = -1;
        }
        for (int i = 0; i < cc.n_drop; i++) {
            if (rc == 0) H5W(H5Ldelete(ck, cc.drop[i], H5P_DEFAULT), ck, "group '/train/checkpoints'");
            free(cc.drop[i]);
        }
        free(cc.drop);
        if (checkpoint && rc == 0) {
            char nm[64];
            snprintf(nm, sizeof nm, "step_%08lld", (long long)c->step);
            if (H5Lexists(ck, nm, H5P_DEFAULT) > 0) H5W(H5Ldelete(ck, nm, H5P_DEFAULT), ck, "group '/train/checkpoints'");
            write_named(ck, nm, a, a->w, NULL);
            hid_t sg = H5Gopen2(ck, nm, H5P_DEFAULT);
            H5W(sg, ck, "group '/train/checkpoints'");
            h5u_attr_i64(sg, "step", c->step);
            h5u_attr_i64(sg, "cursor", c->cursor);
            h5u_attr_i64(sg, "adam_step", opt->t);
            h5u_attr_i64(sg, "rng_seed", (int64_t)c->seed);
            h5u_attr_i64(sg, "rng_step", c->step);
            if (log->n > 0) h5u_attr_f64(sg, "loss", log->loss[log->n - 1]);
            group_close(sg);
            cc.latest = c->step;
        }
        group_close(ck);
        hid_t st = group_create(g, "state");
        h5u_attr_str(st, "description",
                     "what --resume continues from: the adapter, AdamW moments (PEFT keys), step counters, RNG "
                     "state and data cursor after `step` optimizer steps");
        h5u_attr_i64(st, "step", c->step);
        h5u_attr_i64(st, "adam_step", opt->t);
        h5u_attr_i64(st, "cursor", c->cursor);
        h5u_attr_i64(st, "rng_seed", (int64_t)c->seed);
        h5u_attr_i64(st, "rng_step", c->step);
        h5u_attr_str(st, "rng", "counter-based splitmix64: every draw is a function of (seed, step, sample, "
                                "position, layer, module, column), so (rng_seed, rng_step) is the whole state");
        h5u_attr_i64(st, "n_bad_steps", c->n_bad);
        h5u_attr_i64(st, "bad_run", c->bad_run);
        write_named(st, "lora", a, a->w, "adapter tensors");
        write_named(st, "exp_avg", a, opt->m, "AdamW first moments");
        write_named(st, "exp_avg_sq", a, opt->v, "AdamW second moments");
        group_close(st);
        write_meta(g, meta, a, c, complete, cc.latest);
        group_close(g);
    }
    if (rc == 0) {
        H5W(H5Fflush(dst, H5F_SCOPE_GLOBAL), dst, "(flush)");
        lr_crash_point("save", (long)c->step); /* tests/test_train_cli.c */
        h5u_commit(dst, tmp, run_path); /* close, fsync, rename: checked */
    } else {
        h5u_abandon(dst, tmp);
    }
    free(tmp);
    return rc;
}

/* ---------------------------------------------------------------- read */

static hid_t open_train(const char *run_path, hid_t *file) {
    *file = (hid_t)runfile_open_read(run_path);
    if (*file < 0) return -1;
    if (H5Lexists(*file, "train", H5P_DEFAULT) <= 0) {
        lr_error_set(run_path, "the run file has no /train group (not trained yet)");
        H5Fclose(*file);
        return -1;
    }
    hid_t g = H5Gopen2(*file, "train", H5P_DEFAULT);
    char *schema = NULL;
    if (g < 0 || h5u_read_attr_str(g, "schema", run_path, &schema) != 0 || strcmp(schema, LR_TRAIN_SCHEMA) != 0) {
        lr_error_set(run_path, "/train is not a lightreasoner training group");
        free(schema);
        if (g >= 0) H5Gclose(g);
        H5Fclose(*file);
        return -1;
    }
    free(schema);
    return g;
}

int train_h5_probe(const char *run_path, int *has_train, int *complete, int64_t *steps_done) {
    *has_train = 0, *complete = 0, *steps_done = 0;
    hid_t f = (hid_t)runfile_open_read(run_path);
    if (f < 0) return -1;
    int rc = 0;
    if (H5Lexists(f, "train", H5P_DEFAULT) > 0) {
        H5Fclose(f);
        hid_t g = open_train(run_path, &f);
        if (g < 0) return -1;
        *has_train = 1;
        char *status = NULL;
        if (h5u_read_attr_str(g, "status", run_path, &status) != 0 ||
            h5u_read_attr_i64(g, "steps_done", run_path, steps_done) != 0)
            rc = -1;
        else *complete = !strcmp(status, "complete");
        free(status);
        H5Gclose(g);
    }
    H5Fclose(f);
    return rc;
}

static int read_log(hid_t g, const char *file, tr_log *l, int64_t n_keep) {
    hid_t lg = H5Gopen2(g, "log", H5P_DEFAULT);
    if (lg < 0) {
        lr_error_set(file, "/train/log is missing");
        return -1;
    }
    int64_t n = 0;
    int rc = -1;
    int64_t *step = NULL, *samples = NULL, *tokens = NULL;
    double *loss = NULL, *lr = NULL, *gn = NULL, *sec = NULL;
    int8_t *sk = NULL;
    if (!(step = h5u_read_all(lg, "step", file, H5T_NATIVE_INT64, -1, &n)) ||
        !(loss = h5u_read_all(lg, "loss", file, H5T_NATIVE_DOUBLE, n, NULL)) ||
        !(lr = h5u_read_all(lg, "lr", file, H5T_NATIVE_DOUBLE, n, NULL)) ||
        !(gn = h5u_read_all(lg, "grad_norm", file, H5T_NATIVE_DOUBLE, n, NULL)) ||
        !(sk = h5u_read_all(lg, "skipped", file, H5T_NATIVE_INT8, n, NULL)) ||
        !(samples = h5u_read_all(lg, "samples", file, H5T_NATIVE_INT64, n, NULL)) ||
        !(tokens = h5u_read_all(lg, "tokens", file, H5T_NATIVE_INT64, n, NULL)) ||
        !(sec = h5u_read_all(lg, "seconds", file, H5T_NATIVE_DOUBLE, n, NULL)))
        goto out;
    if (n < n_keep) {
        lr_error_set(file, "/train/log has %lld entries, the state is at step %lld", (long long)n, (long long)n_keep);
        goto out;
    }
    for (int64_t i = 0; i < n_keep; i++)
        tr_log_push(l, step[i], loss[i], lr[i], gn[i], sk[i], samples[i], tokens[i], sec[i]);
    rc = 0;
out:
    free(step), free(loss), free(lr), free(gn), free(sk), free(samples), free(tokens), free(sec);
    H5Gclose(lg);
    return rc;
}

int train_h5_load_state(const char *run_path, const char *resume_key, lr_lora *a, adamw_state *opt, tr_counters *c,
                        tr_log *log) {
    hid_t f;
    hid_t g = open_train(run_path, &f);
    if (g < 0) return -1;
    int rc = -1;
    char *key = NULL;
    hid_t st = -1;
    if (h5u_read_attr_str(g, "resume_key", run_path, &key) != 0) goto out;
    if (resume_key && strcmp(key, resume_key) != 0) {
        lr_error_set(run_path, "cannot --resume: the training configuration differs from the saved run's\n"
                               "  saved:    %s\n  now:      %s\n(use the same flags, or --overwrite to start over)",
                     key, resume_key);
        goto out;
    }
    st = H5Gopen2(g, "state", H5P_DEFAULT);
    int64_t step = 0, adam_t = 0, cursor = 0, seed = 0, n_bad = 0, bad_run = 0;
    if (st < 0 || h5u_read_attr_i64(st, "step", run_path, &step) || h5u_read_attr_i64(st, "adam_step", run_path, &adam_t) ||
        h5u_read_attr_i64(st, "cursor", run_path, &cursor) || h5u_read_attr_i64(st, "rng_seed", run_path, &seed) ||
        h5u_read_attr_i64(st, "n_bad_steps", run_path, &n_bad) || h5u_read_attr_i64(st, "bad_run", run_path, &bad_run)) {
        if (st < 0) lr_error_set(run_path, "/train/state is missing");
        goto out;
    }
    if (read_named(st, "lora", run_path, a, a->w) || read_named(st, "exp_avg", run_path, a, opt->m) ||
        read_named(st, "exp_avg_sq", run_path, a, opt->v))
        goto out;
    opt->t = adam_t;
    c->step = step, c->cursor = cursor, c->seed = (uint64_t)seed, c->n_bad = n_bad, c->bad_run = bad_run;
    if (read_log(g, run_path, log, step) != 0) goto out;
    rc = 0;
out:
    free(key);
    if (st >= 0) H5Gclose(st);
    H5Gclose(g);
    H5Fclose(f);
    return rc;
}

typedef struct {
    int64_t want, best;
} ckpt_find;

static herr_t find_ckpt(hid_t loc, const char *name, const H5L_info_t *info, void *p) {
    (void)loc, (void)info;
    ckpt_find *c = p;
    long long s = -1;
    if (sscanf(name, "step_%lld", &s) != 1) return 0;
    if (c->want >= 0 ? s == c->want : s > c->best) c->best = s;
    return 0;
}

lr_lora *train_h5_load_checkpoint(const char *run_path, int64_t step, int64_t *step_out, char **base_model) {
    hid_t f;
    hid_t g = open_train(run_path, &f);
    if (g < 0) return NULL;
    lr_lora *a = NULL;
    char *targets = NULL;
    hid_t ck = H5Lexists(g, "checkpoints", H5P_DEFAULT) > 0 ? H5Gopen2(g, "checkpoints", H5P_DEFAULT) : -1;
    ckpt_find cf = {step, -1};
    hsize_t idx = 0;
    if (ck >= 0) H5Literate(ck, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, find_ckpt, &cf);
    if (cf.best < 0) {
        if (step >= 0) lr_error_set(run_path, "/train has no checkpoint of step %lld", (long long)step);
        else lr_error_set(run_path, "/train has no checkpoint yet");
        goto out;
    }
    int64_t r = 0, rs = 0, L = 0, d = 0, q = 0, kv = 0, I = 0;
    double alpha = 0, dropout = 0;
    if (h5u_read_attr_i64(g, "r", run_path, &r) || h5u_read_attr_f64(g, "lora_alpha", run_path, &alpha) ||
        h5u_read_attr_f64(g, "lora_dropout", run_path, &dropout) || h5u_read_attr_i64(g, "use_rslora", run_path, &rs) ||
        h5u_read_attr_str(g, "target_modules", run_path, &targets) ||
        h5u_read_attr_i64(g, "model_n_layers", run_path, &L) || h5u_read_attr_i64(g, "model_hidden_size", run_path, &d) ||
        h5u_read_attr_i64(g, "model_q_dim", run_path, &q) || h5u_read_attr_i64(g, "model_kv_dim", run_path, &kv) ||
        h5u_read_attr_i64(g, "model_intermediate_size", run_path, &I))
        goto out;
    lora_config lc = {.r = (int)r, .alpha = alpha, .dropout = dropout, .use_rslora = (int)rs};
    if (lora_parse_targets(targets, run_path, &lc.targets) != 0) goto out;
    if (L < 1 || L > 100000 || d < 1 || q < 1 || kv < 1 || I < 1 || r < 1 || r > 65536) {
        lr_error_set(run_path, "/train attributes describe an impossible model or adapter");
        goto out;
    }
    { /* the adapter is allocated from these attributes: its fp32 values must
       * be in the file (the writer stores them uncompressed), or they lie */
        const double io[LORA_N_MODULES][2] = {{d, q}, {d, kv}, {d, kv}, {q, d}, {d, I}, {d, I}, {I, d}};
        double n_params = 0;
        for (int m = 0; m < LORA_N_MODULES; m++)
            if ((lc.targets >> m) & 1) n_params += (double)L * (double)r * (io[m][0] + io[m][1]);
        struct stat st;
        if (stat(run_path, &st) != 0 || 4.0 * n_params > (double)st.st_size) {
            lr_error_set(run_path, "/train attributes describe an adapter of %.0f parameters, more than the file "
                                   "holds (damaged or lying attributes)", n_params);
            goto out;
        }
    }
    a = lora_new_dims(&lc, (int)L, (int)d, (int)q, (int)kv, (int)I);
    if (!a) goto out;
    char nm[64];
    snprintf(nm, sizeof nm, "step_%08lld", (long long)cf.best);
    if (read_named(ck, nm, run_path, a, a->w) != 0) {
        lora_free(a);
        a = NULL;
        goto out;
    }
    if (step_out) *step_out = cf.best;
    if (base_model && h5u_read_attr_str(g, "base_model_name_or_path", run_path, base_model) != 0) *base_model = NULL;
out:
    free(targets);
    if (ck >= 0) H5Gclose(ck);
    H5Gclose(g);
    H5Fclose(f);
    return a;
}
