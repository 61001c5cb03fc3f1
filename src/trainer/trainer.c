/* The training loop (trainer.h): setup with agreed errors, the data-
 * parallel step, NaN/Inf handling, checkpoints, export. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/trainer.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/crash_point.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/lock.h"
#include "common/mpi_env.h"
#include "common/progress.h"
#include "common/signals.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "model/model.h"
#include "trainer/adamw.h"
#include "trainer/lora.h"
#include "trainer/lr_schedule.h"
#include "trainer/peft_adapter.h"
#include "trainer/rng.h"
#include "trainer/train_data.h"
#include "trainer/train_h5.h"
#include "trainer/train_net.h"
#include "trainer/train_pack.h"

typedef struct {
    const train_opts *o;
    const lr_mpi_env *tc; /* the trainer ranks */
    char *model_dir;
    lr_model *m;
    lr_lora *a;
    tr_net *net;
    tr_data data;
    adamw_state opt;
    tr_counters c;
    tr_log log;
    tr_meta meta;
    tr_weights weights; /* LR_TRAIN_WEIGHTS in effect (train_net.h) */
    char resume_key[2048];
    lr_schedule sched; /* the learning rate of every step (extended by --resume --max-steps) */
    int unfinished;    /* resumed a /train not marked complete */
    char *sched_json;
    float *grad; /* (n_params) */
    /* micro-batch packing */
    int32_t *tok;   /* (cap_tok) the micro-batch's sequences back to back */
    int64_t cap_tok;
    int warned_repeats; /* said once that a short stream repeats samples in a micro-batch */
    int *lens;
    int64_t *keys, *lab_off;
    int32_t *lab_ids;
    float *lab_w;
    double *loss;
    int64_t cap_lab;
    /* --pack traces */
    tr_pack pack;
    int *loss_seq, *loss_pos; /* (pack_cap) */
    int64_t pack_cap;         /* loss positions lab_off/loss/loss_seq/loss_pos can hold (grows: a trace may
                               * hold more selected steps than a micro-batch) */
} trainer;

static const char *state_path(const train_opts *o) { return o->state_path ? o->state_path : o->run_path; }

/* Every rank passes its status; the lowest failing rank prints a bad-input
 * error once (the other failures printed their own). Returns the largest code. */
static int agree(const trainer *t, int rc) {
    /* a stream's feed gives up waiting for samples once a stop signal came:
     * that failure is the interruption, not bad input */
    if (rc == LR_EXIT_INPUT && lr_stop_requested()) rc = LR_EXIT_INTERRUPTED;
    return mpi_env_agree_input(t->tc, rc);
}

static int check_opts(const train_opts *o) {
    if (o->micro_batch < 1 || o->grad_accum < 1 || o->max_steps < 1 || o->r < 1 || o->max_length < 1) {
        lr_error_set("train", "--micro-batch, --grad-accum, --max-steps, --lora-r and --max-length must be >= 1");
        return -1;
    }
    if (!(o->dropout >= 0.0 && o->dropout < 1.0)) {
        lr_error_set("train", "--dropout must be in [0, 1), got %g", o->dropout);
        return -1;
    }
    if (!(o->lr >= 0.0) || !(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0) ||
        !(o->eps > 0.0) || !(o->max_grad_norm > 0.0) || !(o->weight_decay >= 0.0)) {
        lr_error_set("train", "impossible optimizer settings (need lr >= 0, 0 <= betas < 1, eps > 0, "
                              "max-grad-norm > 0, weight-decay >= 0)");
        return -1;
    }
    if (o->shuffle_buffer < 0 || o->start_after < 0 || (o->shuffle_buffer > 0 && o->start_after > o->shuffle_buffer)) {
        lr_error_set("train", "--start-after %ld must be <= --shuffle-buffer %ld", o->start_after, o->shuffle_buffer);
        return -1;
    }
    if (o->resume && o->overwrite) {
        lr_error_set("train", "--resume and --overwrite exclude each other");
        return -1;
    }
    return 0;
}

/* Model directory: --model, else the run file's "expert" attribute. */
static int resolve_model(trainer *t) {
    if (t->o->model_dir) {
        t->model_dir = xstrdup(t->o->model_dir);
        return 0;
    }
    hid_t f = (hid_t)runfile_open_read(t->o->run_path);
    if (f < 0) return -1;
    int rc = h5u_read_attr_str(f, "expert", t->o->run_path, &t->model_dir);
    H5Fclose(f);
    if (rc != 0 || !t->model_dir[0]) {
        lr_error_set(t->o->run_path, "the run file names no expert model: pass --model DIR");
        return -1;
    }
    return 0;
}

static void make_resume_key(trainer *t) {
    const train_opts *o = t->o;
    /* the data: a loaded file by its samples; a stream by the sampling configuration */
    const uint64_t h = lr_fnv1a64_str(LR_FNV1A64_INIT_RESUME, o->data_key);
    const uint64_t digest = o->feed ? h : t->data.digest;
    const lr_model_config *mc = model_config(t->m);
    char tg[128];
    lora_targets_str(t->a->cfg.targets, tg, sizeof tg);
    snprintf(t->resume_key, sizeof t->resume_key,
             "{\"model\":[%d,%d,%d,%d,%d,%d,%d],\"lora\":{\"r\":%d,\"alpha\":%.17g,\"rslora\":%d,\"targets\":\"%s\","
             "\"dropout\":%.17g},\"init_adapter\":%d,\"lr\":%.17g,\"betas\":[%.17g,%.17g],\"eps\":%.17g,"
             "\"weight_decay\":%.17g,\"max_grad_norm\":%.17g,\"micro_batch\":%ld,\"grad_accum\":%ld,"
             "\"seed\":%ld,\"max_length\":%ld,\"shuffle\":%d,\"shuffle_buffer\":[%ld,%ld],"
             "\"n_samples\":%lld,\"data_digest\":\"%016llx\"%s}",
             mc->n_layers, mc->hidden_size, mc->n_heads, mc->n_kv_heads, mc->head_dim, mc->intermediate_size,
             mc->vocab_size, t->a->cfg.r, t->a->cfg.alpha, t->a->cfg.use_rslora, tg, t->a->cfg.dropout,
             o->init_adapter != NULL, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->max_grad_norm,
             o->micro_batch, o->grad_accum, o->seed, o->max_length, o->shuffle, o->shuffle_buffer,
             o->start_after, (long long)(o->feed ? -1 : t->data.n), (unsigned long long)digest,
             o->pack_traces ? ",\"pack\":\"traces\"" : ""); /* absent = per sample, as before packing existed */
}

/* The saved configuration key and schedule of a /train being resumed. The
 * key leaves out --max-steps (a larger one extends the run); keys written
 * before that still hold it and are compared without it. */
static int check_saved(trainer *t, int64_t saved_max) {
    const train_opts *o = t->o;
    const char *path = state_path(o);
    hid_t f = (hid_t)runfile_open_read(path);
    if (f < 0) return -1;
    hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
    char *key = NULL, *sched = NULL;
    int rc = g < 0 ? -1 : h5u_read_attr_str(g, "resume_key", path, &key);
    if (rc == 0 && H5Aexists(g, "lr_schedule") > 0) rc = h5u_read_attr_str(g, "lr_schedule", path, &sched);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    if (rc != 0) {
        if (g < 0) lr_error_set(path, "no /train group");
        free(key), free(sched);
        return -1;
    }
    char *ms = strstr(key, "\"max_steps\":");
    if (ms) { /* a key from before extensions: drop the field */
        char *e = strchr(ms, ',');
        if (e) memmove(ms, e + 1, strlen(e + 1) + 1);
    }
    if (strcmp(key, t->resume_key) != 0) {
        lr_error_set(path, "cannot --resume: the training configuration differs from the saved run's\n"
                           "  saved:    %s\n  now:      %s\n(use the same flags, or --overwrite to start over)",
                     key, t->resume_key);
        rc = -1;
    } else if (sched) {
        rc = lr_schedule_parse(sched, path, &t->sched);
    } else {
        lr_schedule_init(&t->sched, o->lr, saved_max); /* one linear decay, as runs without the attribute had */
    }
    free(key), free(sched);
    return rc;
}

/* Loads model, data and adapter on every rank; decides fresh / resume. */
static int setup(trainer *t, int *already_done) {
    const train_opts *o = t->o;
    if (check_opts(o) != 0) return LR_EXIT_INPUT;
    if (resolve_model(t) != 0) return LR_EXIT_INPUT;
    /* fp32 frozen weights (bf16 checkpoints widened exactly), so that every
     * backend trains to fp32 rounding, unless LR_TRAIN_WEIGHTS says bf16
     * (train_net.h: bf16 tensor-core GEMMs on a GPU; measured by the GPU check) */
    tr_weights tw;
    if (tr_weights_from_env(&tw) != 0) return LR_EXIT_INPUT;
    lr_model_opts mo = {.n_threads = (int)o->threads, .quiet = o->quiet, .weights_f32 = tr_weights_f32(tw)};
    t->m = model_load(t->model_dir, &mo);
    if (!t->m) return LR_EXIT_INPUT;
    t->weights = tr_weights_apply(t->m, tw, t->tc->rank == 0 && !o->quiet);
    const lr_model_config *mc = model_config(t->m);
    int64_t max_len = o->max_length;
    if (max_len > mc->max_position_embeddings) {
        if (t->tc->rank == 0 && !o->feed) /* `run` keeps the default quietly */
            lr_warn("--max-length %ld exceeds the model's context (%d): samples longer than %d are skipped", o->max_length,
                    mc->max_position_embeddings, mc->max_position_embeddings);
        max_len = mc->max_position_embeddings;
    }
    if (o->feed) tr_data_stream_init(&t->data, model_vocab_size(t->m), max_len, o->feed, o->feed_ctx);
    else if (tr_data_load(o->run_path, model_vocab_size(t->m), max_len, &t->data) != 0) return LR_EXIT_INPUT;
    if (!o->feed && o->micro_batch > t->data.n) { /* buffers are sized by it: bound it by the data */
        lr_error_set("--micro-batch", "%ld is more than the %lld samples of %s (a micro-batch holds distinct samples)",
                     o->micro_batch, (long long)t->data.n, o->run_path);
        return LR_EXIT_INPUT;
    }
    tr_data_set_order(&t->data, (uint64_t)o->seed, o->shuffle);
    tr_data_set_buffer(&t->data, o->shuffle_buffer, o->start_after);
    /* a stream (`run`) is grouped into traces as it arrives: its chunks hold whole traces */
    if (o->pack_traces)
        tr_pack_init(&t->pack, &t->data, (uint64_t)o->seed, o->shuffle, t->data.buf_cap, t->data.buf_start);
    if (o->init_adapter) {
        t->a = peft_adapter_load(o->init_adapter, mc, t->model_dir);
        if (!t->a) return LR_EXIT_INPUT;
        t->a->cfg.dropout = o->dropout; /* the flag decides the training dropout */
    } else {
        lora_config lc = {.r = (int)o->r, .alpha = o->alpha, .dropout = o->dropout, .use_rslora = o->use_rslora};
        if (lora_parse_targets(o->targets, "--target-modules", &lc.targets) != 0) return LR_EXIT_INPUT;
        t->a = lora_new(&lc, mc);
        if (!t->a) return LR_EXIT_INPUT;
        lora_init(t->a, (uint64_t)o->seed);
    }
    adamw_init(&t->opt, t->a->n_params);
    make_resume_key(t);
    t->c = (tr_counters){.seed = (uint64_t)o->seed};
    /* existing /train? */
    int has = 0, complete = 0;
    int64_t done = 0;
    if (train_h5_probe(state_path(o), &has, &complete, &done) != 0) return LR_EXIT_INPUT;
    *already_done = 0;
    if (has && !o->resume && !o->overwrite) {
        lr_error_set(state_path(o), "already holds /train (%lld steps%s): pass --resume to continue it or --overwrite "
                                  "to start over", (long long)done, complete ? ", complete" : "");
        return LR_EXIT_INPUT;
    }
    lr_schedule_init(&t->sched, o->lr, o->max_steps);
    if (has && o->resume) {
        int64_t saved_max = done;
        hid_t f = (hid_t)runfile_open_read(state_path(o));
        if (f >= 0) {
            hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
            if (g >= 0 && H5Aexists(g, "max_steps") > 0) h5u_read_attr_i64(g, "max_steps", state_path(o), &saved_max);
            if (g >= 0) H5Gclose(g);
            H5Fclose(f);
        }
        if (check_saved(t, saved_max) != 0) return LR_EXIT_INPUT;
        t->unfinished = !complete;
        if (train_h5_load_state(state_path(o), NULL, t->a, &t->opt, &t->c, &t->log) != 0) return LR_EXIT_INPUT;
        const int ext = lr_schedule_extend(&t->sched, t->c.step, o->max_steps, o->lr, state_path(o));
        if (ext < 0) return LR_EXIT_INPUT;
        if (ext > 0 && t->tc->rank == 0 && !o->quiet)
            fprintf(stderr, "train: extending %s from %lld to %ld steps: the learning rate restarts at %g and decays "
                            "linearly to 0 at step %ld (recorded in /train lr_schedule)\n",
                    state_path(o), (long long)t->c.step, o->max_steps, o->lr, o->max_steps);
        if (t->c.step >= o->max_steps) *already_done = 1;
    }
    t->sched_json = lr_schedule_json(&t->sched);
    const lr_model_config *c = mc;
    t->meta = (tr_meta){.config_json = o->config_json,
                        .command_line = o->command_line,
                        .resume_key = t->resume_key,
                        .base_model = t->model_dir,
                        .n_samples = t->data.n,
                        .n_samples_file = t->data.n_file,
                        .n_skipped_long = t->data.n_skipped_long,
                        .max_length = max_len,
                        .global_batch = o->micro_batch * o->grad_accum,
                        .micro_batch = o->micro_batch,
                        .grad_accum = o->grad_accum,
                        .max_steps = o->max_steps,
                        .lr_schedule = t->sched_json,
                        .world = t->tc->size,
                        .shuffle_buffer = o->shuffle ? o->shuffle_buffer : 0,
                        .start_after = o->shuffle && o->shuffle_buffer ? t->data.buf_start : 0,
                        .streamed = o->feed != NULL,
                        .frozen_weights = tr_weights_name(t->weights),
                        .n_layers = c->n_layers,
                        .d = c->hidden_size,
                        .q_dim = c->n_heads * c->head_dim,
                        .kv_dim = c->n_kv_heads * c->head_dim,
                        .inter = c->intermediate_size};
    return 0;
}

static void alloc_batch(trainer *t) {
    const size_t mb = (size_t)t->o->micro_batch;
    /* a stream's size is unknown here, so --micro-batch is not bounded by
     * it yet (run_share is): its token room grows with the samples drawn */
    t->cap_tok = t->o->feed ? 0 : (int64_t)mb * t->data.max_len;
    t->tok = xmalloc((t->cap_tok ? (size_t)t->cap_tok : 1) * sizeof *t->tok);
    t->lens = xmalloc(mb * sizeof *t->lens);
    t->keys = xmalloc(mb * sizeof *t->keys);
    t->lab_off = xmalloc((mb + 1) * sizeof *t->lab_off);
    t->loss = xmalloc(mb * sizeof *t->loss);
    t->grad = xcalloc(t->a->n_params ? t->a->n_params : 1, sizeof *t->grad);
}

/* Room for n loss positions in a packed micro-batch. */
static void reserve_losses(trainer *t, int64_t n) {
    if (n <= t->pack_cap) return;
    const int64_t mb = t->o->micro_batch;
    t->pack_cap = n > 2 * t->pack_cap ? (n > mb ? n : mb) : 2 * t->pack_cap;
    const size_t pc = (size_t)t->pack_cap;
    t->lab_off = xrealloc(t->lab_off, (pc + 1) * sizeof *t->lab_off);
    t->loss = xrealloc(t->loss, pc * sizeof *t->loss);
    t->loss_seq = xrealloc(t->loss_seq, pc * sizeof *t->loss_seq);
    t->loss_pos = xrealloc(t->loss_pos, pc * sizeof *t->loss_pos);
}

/* Room for n tokens in the micro-batch (a stream's lengths are not known up front). */
static void reserve_tokens(trainer *t, int64_t n) {
    if (n <= t->cap_tok) return;
    t->cap_tok = n > 2 * t->cap_tok ? n : 2 * t->cap_tok;
    t->tok = xrealloc(t->tok, (size_t)t->cap_tok * sizeof *t->tok);
}

/* Label room for a micro-batch (grows as longer labels arrive). */
static void reserve_labels(trainer *t, int64_t n) {
    if (n <= t->cap_lab) return;
    t->cap_lab = n > 2 * t->cap_lab ? n : 2 * t->cap_lab;
    t->lab_ids = xrealloc(t->lab_ids, (size_t)t->cap_lab * sizeof *t->lab_ids);
    t->lab_w = xrealloc(t->lab_w, (size_t)t->cap_lab * sizeof *t->lab_w);
}

/* Appends kept sample k's label to the micro-batch labels (entry i). */
static void push_label(trainer *t, int64_t k, int i, int64_t *nl) {
    const tr_data *d = &t->data;
    const int64_t nk = d->lab_off[k + 1] - d->lab_off[k];
    reserve_labels(t, *nl + nk);
    memcpy(t->lab_ids + *nl, d->lab_ids + d->lab_off[k], (size_t)nk * sizeof *t->lab_ids);
    memcpy(t->lab_w + *nl, d->lab_w + d->lab_off[k], (size_t)nk * sizeof *t->lab_w);
    *nl += nk;
    t->lab_off[i + 1] = *nl;
}

/* --pack traces: this rank's traces of step `step`, in micro-batches of
 * whole traces holding up to micro_batch selected steps (a trace with more
 * is a micro-batch of its own); one sequence per trace, up to its last
 * selected step, a loss at each selected step. Gradients scaled by 1 / the
 * step's sample count. */
static int run_share_packed(trainer *t, int64_t step, double stats[3]) {
    const int64_t B = t->o->micro_batch * t->o->grad_accum, R = t->tc->size, r = t->tc->rank;
    const uint64_t dkey = rng_key(rng_key((uint64_t)t->o->seed, RNG_TAG_DROPOUT), (uint64_t)step);
    const tr_data *d = &t->data;
    tr_pack *p = &t->pack;
    int64_t pf, pe, n_samples;
    /* a stream is fed here until the step's traces are in (the same plan on every rank) */
    if (tr_pack_step(p, B, step, &pf, &pe, &n_samples) != 0) return -1;
    const int64_t lo = pf + r * (pe - pf) / R, hi = pf + (r + 1) * (pe - pf) / R;
    reserve_losses(t, t->o->micro_batch);
    for (int64_t q = lo; q < hi;) {
        int ns = 0, nloss = 0;
        int64_t nt = 0, nl = 0;
        t->lab_off[0] = 0;
        do { /* whole traces while their steps fit (always at least one) */
            const int64_t j = tr_pack_trace_at(p, q); /* planned above: no feeding, no failure */
            if (j < 0) return -1;
            const int64_t s0 = p->first[j], s1 = p->first[j + 1];
            if (ns > 0 && nloss + (s1 - s0) > t->o->micro_batch) break;
            const int64_t last = p->sample[s1 - 1]; /* the longest input of the trace */
            reserve_losses(t, nloss + (s1 - s0));
            reserve_tokens(t, nt + d->in_len[last]);
            memcpy(t->tok + nt, d->tokens + d->in_off[last], (size_t)d->in_len[last] * sizeof *t->tok);
            nt += d->in_len[last];
            t->lens[ns] = d->in_len[last];
            t->keys[ns] = q - pf; /* its place in the step keys its dropout masks */
            for (int64_t s = s0; s < s1; s++, nloss++) {
                t->loss_seq[nloss] = ns;
                t->loss_pos[nloss] = d->in_len[p->sample[s]] - 1;
                push_label(t, p->sample[s], nloss, &nl);
            }
            ns++, q++;
        } while (q < hi);
        tr_batch b = {.n_seq = ns, .tokens = t->tok, .lens = t->lens, .key = t->keys, .lab_off = t->lab_off,
                      .lab_ids = t->lab_ids, .lab_w = t->lab_w, .n_loss = nloss, .loss_seq = t->loss_seq,
                      .loss_pos = t->loss_pos};
        if (tr_net_step(t->net, &b, dkey, 1.0 / (double)n_samples, t->grad, t->loss) != 0) return -1;
        for (int i = 0; i < nloss; i++) stats[0] += t->loss[i];
        stats[1] += (double)nt;
        stats[2] += nloss;
    }
    return 0;
}


/* Forward + backward of this rank's share of global batch `step` into
 * t->grad (scaled by 1/B). stats: loss sum, tokens, samples. */
static int run_share(trainer *t, int64_t step, double stats[3]) {
    if (t->o->pack_traces) return run_share_packed(t, step, stats);
    const int64_t B = t->o->micro_batch * t->o->grad_accum, R = t->tc->size, r = t->tc->rank;
    const int64_t lo = r * B / R, hi = (r + 1) * B / R;
    const uint64_t dkey = rng_key(rng_key((uint64_t)t->o->seed, RNG_TAG_DROPOUT), (uint64_t)step);
    tr_data *d = &t->data;
    for (int64_t j0 = lo; j0 < hi; j0 += t->o->micro_batch) {
        const int64_t j1 = j0 + t->o->micro_batch < hi ? j0 + t->o->micro_batch : hi;
        const int ns = (int)(j1 - j0);
        int64_t nt = 0, nl = 0;
        t->lab_off[0] = 0;
        for (int i = 0; i < ns; i++) {
            const int64_t k = tr_data_at(d, step * B + j0 + i);
            if (k < 0) return -1;
            if (d->complete && t->o->micro_batch > d->n && !t->warned_repeats) {
                /* the stream ended smaller (`run` on a handful of problems: a smoke test): its samples
                 * repeat within a micro-batch, as epochs do across steps (train refuses this at setup:
                 * there the size is known before anything ran; run bounded the flag before sampling) */
                t->warned_repeats = 1;
                if (t->tc->rank == 0)
                    lr_warn("--micro-batch %ld is more than the %lld samples the sampling gave: samples repeat "
                            "within a micro-batch", t->o->micro_batch, (long long)d->n);
            }
            reserve_tokens(t, nt + d->in_len[k]);
            memcpy(t->tok + nt, d->tokens + d->in_off[k], (size_t)d->in_len[k] * sizeof *t->tok);
            nt += d->in_len[k];
            t->lens[i] = d->in_len[k];
            t->keys[i] = j0 + i; /* its place in the global batch keys its dropout masks */
            push_label(t, k, i, &nl);
        }
        tr_batch b = {.n_seq = ns, .tokens = t->tok, .lens = t->lens, .key = t->keys, .lab_off = t->lab_off,
                      .lab_ids = t->lab_ids, .lab_w = t->lab_w};
        if (tr_net_step(t->net, &b, dkey, 1.0 / (double)B, t->grad, t->loss) != 0) return -1;
        for (int i = 0; i < ns; i++) stats[0] += t->loss[i];
        stats[1] += (double)nt;
        stats[2] += ns;
    }
    return 0;
}

static int save(trainer *t, int checkpoint, int complete) {
    if (t->tc->rank != 0) return 0;
    if (complete && tr_data_finish(&t->data) != 0) { /* a stream: record every sample's count */
        if (lr_stop_requested()) return 1; /* sampling was stopped: the caller saves it as unfinished */
        fprintf(stderr, "lightreasoner: error: %s\n", lr_error_msg());
        return -1;
    }
    t->meta.n_samples = t->data.n; /* a stream grows */
    t->meta.n_samples_file = t->data.n_file;
    t->meta.n_skipped_long = t->data.n_skipped_long;
    if (train_h5_save(state_path(t->o), &t->meta, t->a, &t->opt, &t->c, &t->log, checkpoint, complete) != 0) {
        fprintf(stderr, "lightreasoner: error: %s\n", lr_error_msg());
        return -1;
    }
    return 0;
}

/* SIGTERM/SIGUSR1: the state after the last finished step is saved (no
 * extra adapter checkpoint, so the finished run file is the same as an
 * uninterrupted one's) and the stage ends with LR_EXIT_INTERRUPTED. */
static int interrupted(trainer *t, lr_progress *pg, int need_save) {
    progress_end(pg);
    if (need_save && agree(t, save(t, 0, 0) != 0 ? LR_EXIT_INTERNAL : 0)) return LR_EXIT_INTERNAL;
    if (t->tc->rank == 0)
        fprintf(stderr, "lightreasoner: train: interrupted by %s after step %lld of %ld; state saved to %s; run the "
                        "same command with --resume to continue (exit %d)\n", lr_stop_signal_name(),
                (long long)t->c.step, t->o->max_steps, state_path(t->o), LR_EXIT_INTERRUPTED);
    return LR_EXIT_INTERRUPTED;
}

static int train_loop(trainer *t) {
    const train_opts *o = t->o;
    const int64_t B = o->micro_batch * o->grad_accum;
    const adamw_hparams hp = {o->beta1, o->beta2, o->eps, o->weight_decay};
    const int root = t->tc->rank == 0;
    lr_progress pg;
    progress_init(&pg, "train", o->max_steps, (long)t->c.step, o->quiet || !root);
    for (int64_t step = t->c.step; step < o->max_steps; step++) {
        const double t0 = lr_now();
        memset(t->grad, 0, t->a->n_params * sizeof *t->grad);
        double stats[3] = {0, 0, 0};
        int rc = run_share(t, step, stats) != 0 ? LR_EXIT_INPUT : 0;
        if ((rc = agree(t, rc))) return rc == LR_EXIT_INTERRUPTED ? interrupted(t, &pg, 1) : LR_EXIT_INPUT;
        if (t->tc->use_mpi && t->tc->size > 1) {
            /* one flat buffer: every LoRA gradient of every layer */
            MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t->grad, (int)t->a->n_params, MPI_FLOAT, MPI_SUM, t->tc->comm));
            MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, stats, 3, MPI_DOUBLE, MPI_SUM, t->tc->comm));
        }
        const double loss = stats[0] / stats[2]; /* mean over the step's samples (B, or more when packed) */
        const double norm = grad_norm(t->grad, t->a->n_params);
        const double lr = lr_schedule_at(&t->sched, step);
        const int bad = !isfinite(loss) || !isfinite(norm);
        if (bad) {
            t->c.n_bad++;
            t->c.bad_run++;
            if (root)
                lr_warn("step %lld: %s loss/gradient (loss %g, grad norm %g): update skipped (%lld skipped so far)",
                        (long long)step + 1, isnan(loss) || isnan(norm) ? "NaN" : "infinite", loss, norm,
                        (long long)t->c.n_bad);
        } else {
            grad_clip(t->grad, t->a->n_params, norm, o->max_grad_norm);
            adamw_update(&t->opt, &hp, lr, t->a->w, t->grad);
            t->c.bad_run = 0;
        }
        t->c.step = step + 1;
        t->c.cursor = t->c.step * B;
        tr_log_push(&t->log, step + 1, loss, lr, norm, bad, (int64_t)stats[2], (int64_t)stats[1], lr_now() - t0);
        const int last = t->c.step == o->max_steps;
        const int stop = t->c.bad_run >= o->max_bad_steps;
        if ((o->save_every > 0 && t->c.step % o->save_every == 0) || last || stop) {
            /* rank 0 writes; everybody learns whether it worked before the next allreduce.
             * After skipped steps the adapter is still the last finite one: a valid checkpoint. */
            int sr = save(t, 1, last && !stop);
            if (sr == 1) sr = save(t, 1, 0) == 0 ? 1 : -1; /* the last step, but the stream was cut short */
            rc = agree(t, sr < 0 ? LR_EXIT_INTERNAL : sr == 1 ? LR_EXIT_INTERRUPTED : 0);
            if (rc == LR_EXIT_INTERRUPTED) return interrupted(t, &pg, 0);
            if (rc) return LR_EXIT_INTERNAL;
        }
        if (stop) {
            if (root)
                fprintf(stderr, "lightreasoner: error: %s: training stopped: %lld consecutive steps with NaN/Inf "
                                "(%lld skipped in all; the adapter is kept at its last finite state; try a lower "
                                "--lr)\n", o->run_path, (long long)t->c.bad_run, (long long)t->c.n_bad);
            progress_end(&pg);
            return LR_EXIT_INTERNAL;
        }
        progress_update(&pg, (long)t->c.step, last, "loss %.4f | lr %.3g | grad norm %.3g | %.0f tok/s", loss, lr,
                        norm, t->log.tokens_per_s[t->log.n - 1]);
        lr_crash_point("step", (long)t->c.step);
        lr_signal_test_hook("step", (long)t->c.step);
        if (!last && lr_stop_any(t->tc->use_mpi && t->tc->size > 1, t->tc->comm)) return interrupted(t, &pg, 1);
    }
    progress_end(&pg);
    return 0;
}

static void summary(const trainer *t, double secs) {
    if (t->o->quiet || t->tc->rank != 0) return;
    /* what packing saves: input tokens run per supervised position (every logged step, resumed ones too) */
    double tokens = 0, samples = 0;
    for (int64_t i = 0; i < t->log.n; i++) tokens += (double)t->log.tokens[i], samples += (double)t->log.samples[i];
    fprintf(stderr,
            "train: %s: %lld steps (global batch %ld%s) on %lld samples (%lld skipped: longer than --max-length), "
            "final loss %.4f, %lld non-finite steps skipped, %d trainer rank%s, %.1f input tokens per supervised "
            "position, %.1f s\n",
            t->o->run_path, (long long)t->c.step, t->o->micro_batch * t->o->grad_accum,
            t->o->pack_traces ? ", whole traces" : "", (long long)t->data.n, (long long)t->data.n_skipped_long,
            t->log.n ? t->log.loss[t->log.n - 1] : 0.0, (long long)t->c.n_bad, t->tc->size,
            t->tc->size == 1 ? "" : "s", samples > 0 ? tokens / samples : 0.0, secs);
}

train_opts train_opts_default(void) {
    return (train_opts){
        /* LoRA */
        .targets = "q_proj,v_proj", .r = 8, .alpha = 16, .dropout = 0.05,
        /* AdamW, linear decay */
        .lr = 5e-5, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0, .max_grad_norm = 1.0,
        /* batches and the run */
        .micro_batch = 8, .grad_accum = 2, .max_steps = 1000, .seed = 42, .max_length = 512, .save_every = 100,
        .max_bad_steps = 10, .shuffle = 1};
}

int trainer_check_env(void) {
    tr_weights w;
    return tr_weights_from_env(&w);
}

int trainer_run(const train_opts *o, const lr_mpi_env *tc) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.tc = tc;
    const double t0 = lr_now();
    /* one writer per run file, until this process ends (common/lock.h) */
    int rc = tc->rank == 0 && lr_lock_existing(state_path(o), "train") != 0 ? LR_EXIT_INPUT : 0;
    if (rc == 0 && tc->rank == 0) train_h5_clean_tmp(state_path(o));
    int done = 0;
    rc = agree(&t, rc);
    if (rc == 0) rc = agree(&t, setup(&t, &done));
    if (rc == 0 && done && t.unfinished && t.c.step == lr_schedule_end(&t.sched)) {
        /* every step ran but the save as complete was cut short (a stop signal while the stream's last
         * samples were still to come): finish it now */
        rc = agree(&t, save(&t, 0, 1) != 0 ? LR_EXIT_INTERNAL : 0);
    } else if (rc == 0 && done && tc->rank == 0 && !o->quiet) {
        fprintf(stderr, "train: %s: already complete (%lld steps); nothing to do\n", state_path(o), (long long)t.c.step);
    }
    if (rc == 0 && !done) {
        t.net = tr_net_new(t.m, t.a, o->recompute);
        alloc_batch(&t);
        rc = train_loop(&t);
    }
    if (rc == 0 && o->export_dir && tc->rank == 0 && peft_adapter_save(o->export_dir, t.a, t.model_dir) != 0) {
        fprintf(stderr, "lightreasoner: error: %s\n", lr_error_msg());
        rc = LR_EXIT_INPUT;
    }
    if (rc == 0) summary(&t, lr_now() - t0);
    rc = mpi_env_worst(tc, rc);
    tr_net_free(t.net);
    free(t.tok), free(t.lens), free(t.keys), free(t.lab_off), free(t.lab_ids), free(t.lab_w), free(t.loss);
    free(t.grad);
    free(t.loss_seq), free(t.loss_pos);
    tr_pack_free(&t.pack);
    adamw_free(&t.opt);
    tr_log_free(&t.log);
    tr_data_free(&t.data);
    lora_free(t.a);
    model_free(t.m);
    free(t.model_dir);
    free(t.sched_json);
    return rc;
}
