/* The join: shards (one per chunk) -> the user's run file, in problem
 * order, written under a temporary name and renamed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
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
#include "io/runfile_samples.h"
#include "version.h"

int64_t runfile_open_read(const char *path) {
    h5u_quiet();
    struct stat sb; /* a FIFO would block H5Fopen; a directory is no "missing file" */
    if (stat(path, &sb) != 0) {
        lr_error_set(path, "no such file");
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        lr_error_set(path, "%s, not a run file", S_ISDIR(sb.st_mode) ? "is a directory" : "is not a regular file");
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        lr_error_set(path, "not a readable HDF5 file (truncated or damaged?)");
        return -1;
    }
    char *schema = NULL;
    int64_t version = 0, complete = 0;
    if (h5u_read_attr_str(f, "schema", path, &schema) != 0 || strcmp(schema, LR_RUN_SCHEMA) != 0) {
        lr_error_set(path, "not a lightreasoner run file (schema attribute '%s')", schema ? schema : "missing");
        goto fail;
    }
    if (h5u_read_attr_i64(f, "schema_version", path, &version) != 0) goto fail;
    if (version != LR_RUN_SCHEMA_VERSION) {
        lr_error_set(path, "run file schema version %lld, this build reads %d", (long long)version,
                     LR_RUN_SCHEMA_VERSION);
        goto fail;
    }
    if (h5u_read_attr_i64(f, "complete", path, &complete) != 0 || complete != 1) {
        lr_error_set(path, "run file is incomplete (a write was cut off); not trusted");
        goto fail;
    }
    free(schema);
    return f;
fail:
    free(schema);
    H5Fclose(f);
    return -1;
}

typedef struct {
    hid_t file, gp, gt, gd;
    /* problems */
    h5u_app p_id, p_question, p_answer, p_line, p_status, p_trace;
    /* traces */
    h5u_app t_problem, t_prompt_len, t_ngen, t_finish, t_text, t_tok_off, t_tokens, t_step_off;
    /* divergence */
    h5u_app d_trace, d_step, d_token, d_kl, d_he, d_ha, d_lpe, d_lpa, d_te, d_ta, d_cand_off, d_cand_ids, d_cand_lpe,
        d_cand_lpa;
    lr_samples_writer sw;
    int64_t n_problems, n_traces, n_tokens, n_steps, n_cands, n_skipped;
    int64_t n_nonfinite_steps, n_nonfinite_traces; /* NaN/Inf logits (contrast.h) */
} join_state;

static void open_datasets(join_state *j) {
    hid_t g = j->gp;
    h5u_app_create(&j->p_id, g, "id", h5u_str_type(), "problem id (the id field, or the problem index)", NULL);
    h5u_app_create(&j->p_question, g, "question", h5u_str_type(), "question text", NULL);
    h5u_app_create(&j->p_answer, g, "answer", h5u_str_type(), "gold answer text (\"\" when none)", NULL);
    h5u_app_create(&j->p_line, g, "source_line", H5T_NATIVE_INT64, "1-based line in the problems file", NULL);
    h5u_app_create(&j->p_status, g, "status", h5u_enum_type(H5U_ENUM_PROBLEM_STATUS),
                   "0 = sampled, 1 = skipped: prompt longer than the context", NULL);
    h5u_app_create(&j->p_trace, g, "trace", H5T_NATIVE_INT64, "row of /traces, -1 when skipped", NULL);
    g = j->gt;
    h5u_app_create(&j->t_problem, g, "problem", H5T_NATIVE_INT64, "row of /problems", NULL);
    h5u_app_create(&j->t_prompt_len, g, "prompt_len", H5T_NATIVE_INT32, "prompt ids at the start of the trace",
                   "tokens");
    h5u_app_create(&j->t_ngen, g, "n_generated", H5T_NATIVE_INT32, "generated ids (= scored steps)", "tokens");
    h5u_app_create(&j->t_finish, g, "finish_reason", h5u_enum_type(H5U_ENUM_FINISH),
                   "0 = eos, 1 = max_new_tokens, 2 = context full, 3 = amateur vocabulary (trace cut before an id "
                   ">= the amateur's vocab size)",
                   NULL);
    h5u_app_create(&j->t_text, g, "text", h5u_str_type(), "decoded generated text (special tokens skipped)", NULL);
    h5u_app_create(&j->t_tok_off, g, "token_offsets", H5T_NATIVE_INT64,
                   "trace i = tokens[token_offsets[i]:token_offsets[i+1]] (prompt ids, then generated ids)", NULL);
    h5u_app_create(&j->t_tokens, g, "tokens", H5T_NATIVE_INT32, "token ids, all traces back to back", NULL);
    h5u_app_create(&j->t_step_off, g, "step_offsets", H5T_NATIVE_INT64,
                   "trace i's steps are /divergence rows [step_offsets[i], step_offsets[i+1])", NULL);
    g = j->gd;
    h5u_app_create(&j->d_trace, g, "trace", H5T_NATIVE_INT64, "row of /traces", NULL);
    h5u_app_create(&j->d_step, g, "step", H5T_NATIVE_INT32, "generated step t (0 = first generated token)", NULL);
    h5u_app_create(&j->d_token, g, "token", H5T_NATIVE_INT32, "the expert's generated id y_t", NULL);
    h5u_app_create(&j->d_kl, g, "kl", H5T_NATIVE_DOUBLE,
                   "KL(p_E || p_A) = sum_{v<V} p_E(v)(log p_E(v) - log p_A(v)), V = shared vocabulary", "nats");
    h5u_app_create(&j->d_he, g, "entropy_expert", H5T_NATIVE_DOUBLE, "entropy of p_E over the expert's vocabulary",
                   "nats");
    h5u_app_create(&j->d_ha, g, "entropy_amateur", H5T_NATIVE_DOUBLE,
                   "entropy of p_A over the amateur's vocabulary", "nats");
    h5u_app_create(&j->d_lpe, g, "logp_expert", H5T_NATIVE_FLOAT, "log p_E(y_t)", "nats");
    h5u_app_create(&j->d_lpa, g, "logp_amateur", H5T_NATIVE_FLOAT, "log p_A(y_t)", "nats");
    h5u_app_create(&j->d_te, g, "top1_expert", H5T_NATIVE_INT32, "argmax of the expert's logits", NULL);
    h5u_app_create(&j->d_ta, g, "top1_amateur", H5T_NATIVE_INT32, "argmax of the amateur's logits", NULL);
    h5u_app_create(&j->d_cand_off, g, "cand_offsets", H5T_NATIVE_INT64,
                   "row r's candidates are cand_*[cand_offsets[r]:cand_offsets[r+1]]", NULL);
    h5u_app_create(&j->d_cand_ids, g, "cand_ids", H5T_NATIVE_INT32,
                   "candidate ids {v < V: p_E(v) >= store_alpha * max p_E}, ascending", NULL);
    h5u_app_create(&j->d_cand_lpe, g, "cand_logp_expert", H5T_NATIVE_FLOAT, "log p_E(v) of each candidate", "nats");
    h5u_app_create(&j->d_cand_lpa, g, "cand_logp_amateur", H5T_NATIVE_FLOAT, "log p_A(v) of each candidate", "nats");
}

static void close_datasets(join_state *j) {
    h5u_app *all[] = {&j->p_id,      &j->p_question, &j->p_answer,   &j->p_line,     &j->p_status,   &j->p_trace,
                      &j->t_problem, &j->t_prompt_len, &j->t_ngen,   &j->t_finish,   &j->t_text,     &j->t_tok_off,
                      &j->t_tokens,  &j->t_step_off, &j->d_trace,    &j->d_step,     &j->d_token,    &j->d_kl,
                      &j->d_he,      &j->d_ha,       &j->d_lpe,      &j->d_lpa,      &j->d_te,       &j->d_ta,
                      &j->d_cand_off, &j->d_cand_ids, &j->d_cand_lpe, &j->d_cand_lpa};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) h5u_app_close(all[i]);
}

/* Appends one chunk (already validated against the problem range). */
static int append_chunk(join_state *j, const lr_chunk *c, const lr_problem_set *ps, const char *path) {
    int t = 0;
    for (int i = 0; i < c->n_problems; i++) {
        int64_t pi = c->first_problem + i;
        const lr_problem *p = &ps->items[pi];
        int8_t st = c->problem_status[i];
        int64_t trace = -1;
        if (st == PROBLEM_SAMPLED) {
            if (t >= c->n_traces || c->trace_problem[t] != pi) {
                lr_error_set(path, "problem %lld is marked sampled but has no trace", (long long)pi);
                return -1;
            }
            trace = j->n_traces + t++;
        } else if (st == PROBLEM_SKIPPED_CONTEXT) {
            j->n_skipped++;
        } else {
            lr_error_set(path, "problem %lld has an unknown status %d", (long long)pi, st);
            return -1;
        }
        h5u_app_write(&j->p_id, &p->id, 1);
        h5u_app_write(&j->p_question, &p->question, 1);
        h5u_app_write(&j->p_answer, &p->answer, 1);
        int64_t line = p->line;
        h5u_app_write(&j->p_line, &line, 1);
        h5u_app_write(&j->p_status, &st, 1);
        h5u_app_write(&j->p_trace, &trace, 1);
    }
    if (t != c->n_traces) {
        lr_error_set(path, "traces do not match the sampled problems");
        return -1;
    }
    int64_t row = 0; /* chunk-local step row */
    for (int i = 0; i < c->n_traces; i++) {
        int64_t gtrace = j->n_traces;
        int64_t toff = j->n_tokens, soff = j->n_steps;
        const int32_t *ids = c->tokens + c->token_offsets[i];
        int64_t len = c->token_offsets[i + 1] - c->token_offsets[i];
        h5u_app_write(&j->t_problem, &c->trace_problem[i], 1);
        h5u_app_write(&j->t_prompt_len, &c->prompt_len[i], 1);
        h5u_app_write(&j->t_ngen, &c->n_generated[i], 1);
        h5u_app_write(&j->t_finish, &c->finish[i], 1);
        h5u_app_write(&j->t_text, &c->text[i], 1);
        h5u_app_write(&j->t_tok_off, &toff, 1);
        h5u_app_write(&j->t_tokens, ids, (size_t)len);
        h5u_app_write(&j->t_step_off, &soff, 1);
        j->n_tokens += len;
        for (int32_t s = 0; s < c->n_generated[i]; s++, row++) {
            const lr_step_div *d = &c->div[row];
            int32_t tok = ids[c->prompt_len[i] + s];
            int64_t coff = j->n_cands, a = c->cand_offsets[row], n = c->cand_offsets[row + 1] - a;
            h5u_app_write(&j->d_trace, &gtrace, 1);
            h5u_app_write(&j->d_step, &s, 1);
            h5u_app_write(&j->d_token, &tok, 1);
            h5u_app_write(&j->d_kl, &d->kl, 1);
            h5u_app_write(&j->d_he, &d->entropy_expert, 1);
            h5u_app_write(&j->d_ha, &d->entropy_amateur, 1);
            h5u_app_write(&j->d_lpe, &d->logp_expert, 1);
            h5u_app_write(&j->d_lpa, &d->logp_amateur, 1);
            h5u_app_write(&j->d_te, &d->top1_expert, 1);
            h5u_app_write(&j->d_ta, &d->top1_amateur, 1);
            h5u_app_write(&j->d_cand_off, &coff, 1);
            h5u_app_write(&j->d_cand_ids, c->cand.ids + a, (size_t)n);
            h5u_app_write(&j->d_cand_lpe, c->cand.logp_expert + a, (size_t)n);
            h5u_app_write(&j->d_cand_lpa, c->cand.logp_amateur + a, (size_t)n);
            const lr_scored_step st = chunk_scored_step(c, i, s, row);
            samples_writer_step(&j->sw, j->n_steps, gtrace, &st);
            j->n_cands += n;
            j->n_steps++;
            if (contrast_nonfinite(d->kl)) j->n_nonfinite_steps++;
        }
        if (c->finish[i] == TRACE_NONFINITE) j->n_nonfinite_traces++;
        j->n_traces++;
    }
    j->n_problems += c->n_problems;
    return 0;
}

static void root_attrs(hid_t f, const lr_run_meta *m) {
    h5u_attr_str(f, "schema", LR_RUN_SCHEMA);
    h5u_attr_i64(f, "schema_version", LR_RUN_SCHEMA_VERSION);
    h5u_attr_str(f, "version", LR_VERSION);
    h5u_attr_str(f, "git_commit", LR_GIT_COMMIT);
    h5u_attr_str(f, "config", m->config_json ? m->config_json : "{}");
    h5u_attr_str(f, "resume_key", m->resume_key ? m->resume_key : "{}");
    h5u_attr_str(f, "command_line", m->command_line ? m->command_line : "");
    h5u_attr_str(f, "expert", m->expert_dir ? m->expert_dir : "");
    h5u_attr_str(f, "amateur", m->amateur_dir ? m->amateur_dir : "");
    h5u_attr_str(f, "problems_file", m->problems_path ? m->problems_path : "");
    h5u_attr_i64(f, "vocab_expert", m->vocab_expert);
    h5u_attr_i64(f, "vocab_amateur", m->vocab_amateur);
    h5u_attr_i64(f, "vocab_shared", m->vocab_expert < m->vocab_amateur ? m->vocab_expert : m->vocab_amateur);
    h5u_attr_i64(f, "n_bad_lines", m->n_bad_lines);
}

/* /train of another run file (the trainer ranks' state file of `run`). */
static int copy_train(hid_t dst, const char *tmp, const char *path) {
    hid_t src = (hid_t)runfile_open_read(path);
    if (src < 0) return -1;
    struct stat st;
    /* HDF5 1.10 crashes inside H5Ocopy when a write fails: room first (twice the state: ample) */
    if (stat(path, &st) == 0) h5u_need_space(dst, tmp, 2 * (uint64_t)st.st_size + (1u << 20), "group '/train'");
    int rc = 0;
    if (H5Lexists(src, "train", H5P_DEFAULT) <= 0 || H5Ocopy(src, "train", dst, "train", H5P_DEFAULT, H5P_DEFAULT) < 0) {
        if (h5u_fail_is_os()) h5u_die_write(dst, "group '/train'");
        lr_error_set(path, "cannot copy its /train group into the run file");
        rc = -1;
    }
    H5Fclose(src);
    return rc;
}

int runfile_join(const char *out_path, const char *dir, const lr_problem_set *ps, int64_t n_chunks,
                 const lr_run_meta *meta) {
    h5u_quiet();
    char *tmp = h5u_tmp_name(out_path, "tmp");
    join_state j;
    memset(&j, 0, sizeof j);
    j.file = h5u_create(tmp, out_path);
    root_attrs(j.file, meta);
    j.gp = H5Gcreate2(j.file, "problems", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(j.gp, j.file, "group '/problems'");
    j.gt = H5Gcreate2(j.file, "traces", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(j.gt, j.file, "group '/traces'");
    j.gd = H5Gcreate2(j.file, "divergence", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5W(j.gd, j.file, "group '/divergence'");
    h5u_attr_str(j.gp, "description", "the input problems, in file order (skipped bad lines excluded)");
    h5u_attr_str(j.gt, "description", "one expert trace per sampled problem: x (chat-templated prompt) || y");
    h5u_attr_str(j.gd, "description",
                 "one row per generated step t of every trace: expert vs amateur next-token distributions given "
                 "(x, y_<t)");
    h5u_attr_f64(j.gd, "store_alpha", meta->store_alpha);
    h5u_attr_i64(j.gd, "vocab_shared", meta->vocab_expert < meta->vocab_amateur ? meta->vocab_expert
                                                                                 : meta->vocab_amateur);
    open_datasets(&j);
    samples_writer_open(&j.sw, j.file, &meta->method);

    int rc = 0;
    int64_t next_problem = 0;
    for (int64_t id = 0; id < n_chunks && rc == 0; id++) {
        char *path = runfile_shard_path(dir, id);
        lr_chunk c;
        if (!lr_file_exists(path)) {
            lr_error_set(path, "shard missing: chunk %lld was not completed (run again with --resume)",
                         (long long)id);
            rc = -1;
        } else if (runfile_shard_read(path, &c) != 0) {
            /* damaged since it was written (checksum, unreadable): set aside, redone by --resume */
            char *bad = xmalloc(strlen(path) + 8);
            sprintf(bad, "%s.bad", path);
            char msg[2048];
            snprintf(msg, sizeof msg, "%s", lr_error_msg());
            if (rename(path, bad) == 0)
                lr_error_set(NULL, "%s\n(set aside as %s: run the same command with --resume to redo chunk %lld)",
                             msg, bad, (long long)id);
            free(bad);
            rc = -1;
        } else {
            if (c.chunk != id || c.first_problem != next_problem || c.first_problem + c.n_problems > ps->n) {
                lr_error_set(path, "shard covers problems [%lld, %lld), expected a chunk starting at %lld",
                             (long long)c.first_problem, (long long)(c.first_problem + c.n_problems),
                             (long long)next_problem);
                rc = -1;
            } else {
                rc = append_chunk(&j, &c, ps, path);
                next_problem += c.n_problems;
            }
            chunk_free(&c);
        }
        free(path);
    }
    if (rc == 0 && next_problem != ps->n) {
        lr_error_set(dir, "shards cover %lld of %d problems", (long long)next_problem, ps->n);
        rc = -1;
    }
    if (rc == 0 && meta->train_from) rc = copy_train(j.file, tmp, meta->train_from);
    /* closing offsets */
    h5u_app_write(&j.t_tok_off, &j.n_tokens, 1);
    h5u_app_write(&j.t_step_off, &j.n_steps, 1);
    h5u_app_write(&j.d_cand_off, &j.n_cands, 1);
    close_datasets(&j);
    samples_writer_close(&j.sw);
    h5u_attr_i64(j.file, "n_problems", j.n_problems);
    h5u_attr_i64(j.file, "n_traces", j.n_traces);
    h5u_attr_i64(j.file, "n_steps", j.n_steps);
    h5u_attr_i64(j.file, "n_skipped_context", j.n_skipped);
    h5u_attr_i64(j.file, "n_nonfinite_steps", j.n_nonfinite_steps);
    h5u_attr_i64(j.file, "n_nonfinite_traces", j.n_nonfinite_traces);
    if (rc == 0) h5u_attr_i64(j.file, "complete", 1);
    H5W(H5Gclose(j.gp), j.file, "group '/problems'");
    H5W(H5Gclose(j.gt), j.file, "group '/traces'");
    H5W(H5Gclose(j.gd), j.file, "group '/divergence'");
    if (rc != 0) {
        h5u_abandon(j.file, tmp);
        free(tmp);
        return rc;
    }
    if (lr_crash_point_armed("join", -1)) {
        /* test hook: a crash after the temporary is written, before the rename */
        H5W(H5Fflush(j.file, H5F_SCOPE_GLOBAL), j.file, "(flush)");
        lr_crash_point("join", -1);
    }
    h5u_commit(j.file, tmp, out_path); /* flush, close, fsync, rename: checked */
    free(tmp);
    return rc;
}
