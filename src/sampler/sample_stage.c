/* The sampling stage (sample_stage.h). */
#include "sampler/sample_stage.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/signals.h"
#include "io/model_config.h"
#include "io/runfile_h5.h"

sample_opts sample_opts_default(void) {
    return (sample_opts){.question_field = "question",
                         .answer_field = "answer",
                         .system = "Please reason step by step.",
                         .chat_template = "auto",
                         .out = "run.h5",
                         .max_new_tokens = 128,
                         .batch = 8,
                         .score_rows = 1024,
                         .transport = "auto",
                         .alpha = 0.2,
                         .beta = 0.4,
                         .store_alpha = 0.01,
                         .top_p = 1.0,
                         .select_seed = 42};
}

int sample_opts_resolve_rules(sample_opts *o, const char *who) {
    lr_method m = method_make(o->alpha, o->beta);
    if (method_set_rules(&m, o->select, o->labels, o->sft, (uint64_t)o->select_seed, who) != 0) return -1;
    o->select = method_select_name(&m);
    o->labels = method_labels_name(&m);
    o->sft = 0;
    return 0;
}

lr_method sample_opts_method(const sample_opts *o) {
    lr_method m = method_make(o->alpha, o->beta);
    if (method_set_rules(&m, o->select, o->labels, o->sft, (uint64_t)o->select_seed, "sample") != 0)
        lr_die_last(); /* sample_opts_resolve_rules checked them at parse time */
    return m;
}

int sample_transport_parse(const char *s, lr_transport *out) {
    if (s && !strcmp(s, "auto")) *out = LR_TRANSPORT_AUTO;
    else if (s && !strcmp(s, "rows")) *out = LR_TRANSPORT_ROWS;
    else if (s && !strcmp(s, "ids")) *out = LR_TRANSPORT_IDS;
    else return -1;
    return 0;
}

int sample_opts_check_transport(const sample_opts *o) {
    lr_transport t;
    if (sample_transport_parse(o->transport, &t) == 0) return 0;
    lr_error_set("--transport", "'%s' is not rows, ids or auto", o->transport ? o->transport : "(none)");
    return -1;
}

/* Checks that each tokenizer fits its model's vocab_size and that the two
 * agree on the shared ids [0, V). */
static int check_tokenizers(const char *edir, const char *adir, int ve, int va, const char *template_name) {
    const int V = ve < va ? ve : va;
    lr_tokenizer *te = tokenizer_load(edir);
    if (!te) return -1;
    if (tokenizer_check_vocab(te, ve, edir) != 0) {
        tokenizer_free(te);
        return -1;
    }
    lr_chat_template tpl;
    if (chat_template_from_name(template_name, te, &tpl) != 0) { /* the error names --chat-template */
        tokenizer_free(te);
        return -1;
    }
    lr_tokenizer *ta = tokenizer_load(adir);
    if (!ta || tokenizer_check_vocab(ta, va, adir) != 0) {
        tokenizer_free(te);
        tokenizer_free(ta);
        return -1;
    }
    int rc = 0;
    for (int id = 0; id < V && rc == 0; id++) {
        const char *a = tokenizer_token_string(te, id), *b = tokenizer_token_string(ta, id);
        if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
            lr_error_set(adir,
                         "tokenizer differs from the expert's (%s) on shared id %d: '%s' vs '%s'; expert and "
                         "amateur must use the same tokenizer on ids [0, %d)",
                         edir, id, a ? a : "(none)", b ? b : "(none)", V);
            rc = -1;
        }
    }
    tokenizer_free(te);
    tokenizer_free(ta);
    return rc;
}

/* Rank 0's check phase. Fills ps, info, meta pieces; returns 0 or 2. */
static int check_inputs(sample_stage *s) {
    const sample_opts *o = s->o;
    lr_problem_set *ps = &s->ps;
    lr_problem_opts po = {o->question_field, o->answer_field, o->id_field, o->max_problems, o->skip_bad_lines};
    if (problems_load(o->problems, &po, ps) != 0) return LR_EXIT_INPUT;
    if (ps->n == 0) {
        lr_error_set(o->problems, "no problems to sample (empty file, or every line skipped)");
        return LR_EXIT_INPUT;
    }
    lr_model_config ce, ca;
    lr_generation_config ge, ga;
    if (model_config_load_dir(&ce, &ge, o->expert) != 0 || model_config_load_dir(&ca, &ga, o->amateur) != 0)
        return LR_EXIT_INPUT;
    s->vocab_expert = ce.vocab_size;
    s->vocab_amateur = ca.vocab_size;
    s->ctx_limit = ce.max_position_embeddings < ca.max_position_embeddings ? ce.max_position_embeddings
                                                                               : ca.max_position_embeddings;
    if (check_tokenizers(o->expert, o->amateur, ce.vocab_size, ca.vocab_size, o->chat_template) != 0)
        return LR_EXIT_INPUT;
    s->key = run_resume_key(s->args_json, ps->digest, ps->n);
    if (o->resume && lr_resume_drop_empty(o->out) && !o->quiet) /* a job killed before it wrote anything */
        fprintf(stderr, "sample: %s was empty: starting it\n", o->out);
    if (run_state_prepare(o->out, s->shard_dir, s->key, o->resume, o->overwrite, &s->st) != 0) return LR_EXIT_INPUT;
    s->n_problems = ps->n;
    return 0;
}

/* Rank 0 -> all: sizes, state, resume key, then the questions (one
 * NUL-separated blob). */
static void share_info(sample_stage *s) {
    const lr_mpi_env *e = s->env;
    const lr_problem_set *ps = &s->ps;
    if (e->use_mpi && e->size > 1) {
        int hdr[6] = {s->n_problems, s->vocab_expert, s->vocab_amateur, s->ctx_limit, (int)s->kind,
                      s->key ? (int)strlen(s->key) + 1 : 0};
        MPI_CHECK(MPI_Bcast(hdr, 6, MPI_INT, 0, e->comm));
        s->n_problems = hdr[0], s->vocab_expert = hdr[1], s->vocab_amateur = hdr[2], s->ctx_limit = hdr[3];
        s->kind = (lr_run_kind)hdr[4];
        if (e->rank != 0) s->key = xcalloc((size_t)hdr[5] + 1, 1);
        if (hdr[5] > 0) MPI_CHECK(MPI_Bcast(s->key, hdr[5], MPI_CHAR, 0, e->comm));
    }
    s->n_chunks = sampler_n_chunks(s->n_problems, (int)s->o->batch);
    if (s->kind == RUN_COMPLETE) return;
    if (!e->use_mpi || e->size == 1) {
        s->questions = xmalloc((size_t)s->n_problems * sizeof(char *));
        for (int i = 0; i < s->n_problems; i++) s->questions[i] = xstrdup(ps->items[i].question);
        return;
    }
    long long bytes = 0;
    if (e->rank == 0)
        for (int i = 0; i < ps->n; i++) bytes += (long long)strlen(ps->items[i].question) + 1;
    MPI_CHECK(MPI_Bcast(&bytes, 1, MPI_LONG_LONG, 0, e->comm));
    LR_CHECK(bytes < (1LL << 31), "questions too large to broadcast (%lld bytes)", bytes);
    char *blob = xmalloc((size_t)bytes + 1);
    if (e->rank == 0) {
        char *p = blob;
        for (int i = 0; i < ps->n; i++) {
            size_t l = strlen(ps->items[i].question) + 1;
            memcpy(p, ps->items[i].question, l);
            p += l;
        }
    }
    MPI_CHECK(MPI_Bcast(blob, (int)bytes, MPI_CHAR, 0, e->comm));
    s->questions = xmalloc((size_t)s->n_problems * sizeof(char *));
    const char *p = blob;
    for (int i = 0; i < s->n_problems; i++) {
        s->questions[i] = xstrdup(p);
        p += strlen(p) + 1;
    }
    free(blob);
}

/* "812 bytes", "171.6 kB", "78.12 MB" */
static void fmt_bytes(char *buf, size_t n, double b) {
    if (b < 1e4) snprintf(buf, n, "%.0f bytes", b);
    else if (b < 1e7) snprintf(buf, n, "%.1f kB", b / 1e3);
    else snprintf(buf, n, "%.2f MB", b / 1e6);
}

/* The closing line: this session's rates, the file's totals. */
static void print_summary(const char *out, const lr_pipeline_stats *st, long bad_lines, const char *wire) {
    int64_t np = 0, nt = 0, nsk = 0, nsa = 0, nst = 0, nnf = 0, nnft = 0;
    hid_t f = (hid_t)runfile_open_read(out);
    if (f >= 0) {
        h5u_read_attr_i64(f, "n_problems", out, &np);
        h5u_read_attr_i64(f, "n_traces", out, &nt);
        h5u_read_attr_i64(f, "n_skipped_context", out, &nsk);
        if (H5Aexists(f, "n_nonfinite_steps") > 0) h5u_read_attr_i64(f, "n_nonfinite_steps", out, &nnf);
        if (H5Aexists(f, "n_nonfinite_traces") > 0) h5u_read_attr_i64(f, "n_nonfinite_traces", out, &nnft);
        hid_t g = H5Gopen2(f, "samples", H5P_DEFAULT);
        if (g >= 0) {
            h5u_read_attr_i64(g, "n_samples", out, &nsa);
            h5u_read_attr_i64(g, "n_steps", out, &nst);
            H5Gclose(g);
        }
        H5Fclose(f);
    }
    fprintf(stderr, "sample: wrote %s: %lld problems, %lld traces, %lld of %lld steps selected (%.2f%%)", out,
            (long long)np, (long long)nt, (long long)nsa, (long long)nst, nst ? 100.0 * (double)nsa / (double)nst : 0.0);
    if (nsk) fprintf(stderr, ", %lld skipped (prompt over the context)", (long long)nsk);
    if (bad_lines) fprintf(stderr, ", %ld bad lines skipped", bad_lines);
    if (nnf)
        fprintf(stderr, ", %lld steps non-finite (NaN/Inf logits: recorded with KL NaN, never selected; %lld traces "
                        "stopped at a non-finite expert row)",
                (long long)nnf, (long long)nnft);
    fprintf(stderr, "; this session: %.2f s, %.2f traces/s, %.1f generated tok/s", st->seconds,
            st->seconds > 0 ? (double)st->traces / st->seconds : 0.0,
            st->seconds > 0 ? (double)st->gen_tokens / st->seconds : 0.0);
    if (st->bytes_sent && st->traces) { /* MPI: sampler -> scorer traffic (chunk_msg.c counts it) */
        char b[32];
        fmt_bytes(b, sizeof b, (double)st->bytes_sent / (double)st->traces);
        fprintf(stderr, ", %s sent per trace (transport %s)", b, wire ? wire : "rows");
    }
    fputc('\n', stderr);
}


/* Rank 0: the chunks without a shard. */
static void list_pending(sample_stage *s) {
    lr_pipeline *pl = &s->pl;
    const long batch = s->o->batch;
    pl->pending = xmalloc((size_t)(s->n_chunks ? s->n_chunks : 1) * sizeof *pl->pending);
    int d = 0;
    for (int64_t c = 0; c < s->n_chunks; c++) {
        while (d < s->st.n_done && s->st.done[d] < c) d++;
        if (d < s->st.n_done && s->st.done[d] == c) {
            int64_t first = c * batch, n = first + batch <= s->n_problems ? batch : s->n_problems - first;
            pl->done_problems += n;
            continue;
        }
        pl->pending[pl->n_pending++] = c;
    }
    if (s->kind == RUN_RESUME && !s->o->quiet)
        fprintf(stderr, "sample: resuming %s: %lld of %lld chunks already done\n", s->o->out,
                (long long)(s->n_chunks - pl->n_pending), (long long)s->n_chunks);
}

/* Each rank loads the model(s) of its role. 0 or an exit code. */
static int load_models(sample_stage *s, int role) {
    const sample_opts *o = s->o;
    lr_model_opts mo = {.n_threads = (int)o->threads, .quiet = o->quiet};
    if (o->threads > 0) omp_set_num_threads((int)o->threads);
    if (role & 1) {
        s->expert = model_load(o->expert, &mo);
        s->tok = s->expert ? tokenizer_load(o->expert) : NULL;
        if (!s->expert || !s->tok) return LR_EXIT_INPUT;
        if (chat_template_from_name(o->chat_template, s->tok, &s->sa.tpl) != 0) return LR_EXIT_INPUT;
        if (model_vocab_size(s->expert) != s->vocab_expert) {
            lr_error_set(o->expert, "vocab size changed while starting");
            return LR_EXIT_INPUT;
        }
        lr_sampler *sa = &s->sa;
        sa->expert = s->expert;
        sa->tok = s->tok;
        sa->system = o->system;
        sa->questions = (const char *const *)s->questions;
        sa->n_problems = s->n_problems;
        sa->batch = (int)o->batch;
        sa->max_new_tokens = (int)o->max_new_tokens;
        sa->temperature = o->temperature;
        sa->top_p = o->top_p;
        sa->seed = (uint64_t)o->seed;
        sa->ctx_limit = s->ctx_limit;
        sa->vocab_amateur = s->vocab_amateur;
        model_eos_set(sa->expert, tokenizer_eos_id(sa->tok), &sa->eos);
    }
    if (role & 2) {
        s->amateur = model_load(o->amateur, &mo);
        if (!s->amateur) return LR_EXIT_INPUT;
        s->sc.amateur = s->amateur;
        s->sc.store_alpha = o->store_alpha;
        s->sc.method = sample_opts_method(o);
        s->sc.row_budget = o->score_rows;
    }
    return 0;
}

/* --transport, after load_models (collective over env): each sampler rank
 * resolves auto on its own expert's device (ids on a GPU, whose rows would
 * otherwise come back to the host every step and cross the network); the
 * scorer ranks load the expert too when any sampler sends ids (one
 * process: the sampler's expert, used in turn). 0 or an exit code. */
static int setup_transport(sample_stage *s, int role) {
    const sample_opts *o = s->o;
    const lr_mpi_env *e = s->env;
    lr_transport t;
    if (sample_transport_parse(o->transport, &t) != 0) {
        sample_opts_check_transport(o);
        return LR_EXIT_INPUT;
    }
    int ids = 0;
    if (role & 1) {
        ids = t == LR_TRANSPORT_IDS || (t == LR_TRANSPORT_AUTO && !model_backend(s->expert)->host_memory);
        s->sa.ids_only = ids;
    }
    /* over the sampler ranks: does any send ids, does every one */
    int v[2] = {ids, (role & 1) ? !ids : 0};
    if (e->use_mpi && e->size > 1) MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MAX, e->comm));
    s->wire = !v[0] ? "rows" : !v[1] ? "ids" : "rows and ids";
    if (!v[0] || !(role & 2)) return 0;
    if (!s->expert) { /* a scorer rank */
        lr_model_opts mo = {.n_threads = (int)o->threads, .quiet = o->quiet};
        s->expert = model_load(o->expert, &mo);
        if (!s->expert) return LR_EXIT_INPUT;
        if (model_vocab_size(s->expert) != s->vocab_expert) {
            lr_error_set(o->expert, "vocab size changed while starting");
            return LR_EXIT_INPUT;
        }
    }
    s->sc.expert = s->expert;
    return 0;
}

int sample_stage_setup(sample_stage *s, const sample_opts *o, const char *args_json, const char *command_line,
                       const lr_mpi_env *env) {
    memset(s, 0, sizeof *s);
    s->o = o;
    s->env = env;
    s->args_json = args_json;
    s->command_line = command_line;
    s->shard_dir = runfile_shard_dir(o->out);
    s->pl = (lr_pipeline){.shard_dir = s->shard_dir, .store_alpha = o->store_alpha, .quiet = o->quiet};
    long samplers = o->samplers, scorers = o->scorers;
    int rc = mpi_env_split_two(env->size, &samplers, &scorers) == 0 ? 0 : LR_EXIT_INPUT;
    if ((rc = mpi_env_agree(env, rc))) return rc;
    s->pl.n_samplers = (int)samplers;
    s->pl.n_scorers = (int)scorers;
    if (env->rank == 0) rc = check_inputs(s);
    if ((rc = mpi_env_agree(env, rc))) return rc;
    if (env->rank == 0) s->kind = s->st.kind;
    share_info(s);
    if (s->kind == RUN_COMPLETE) return 0;
    s->pl.n_problems = s->n_problems;
    if (env->rank == 0) list_pending(s);
    const int role = pipeline_role(env, &s->pl);
    rc = mpi_env_agree(env, load_models(s, role));
    if (rc == 0) rc = mpi_env_agree(env, setup_transport(s, role));
    if (rc) {
        if (env->rank == 0 && s->kind == RUN_FRESH) run_state_cleanup(s->shard_dir); /* nothing was done in it */
    }
    return rc;
}

int sample_stage_run(sample_stage *s) {
    pipeline_run(s->env, &s->pl, &s->sa, &s->sc, &s->stats);
    if (!lr_stop_any(s->env->use_mpi && s->env->size > 1, s->env->comm)) return 0;
    if (s->env->rank == 0)
        fprintf(stderr, "lightreasoner: sample: interrupted by %s; the finished chunks are kept in %s; run the same "
                        "command with --resume to continue (exit %d)\n",
                lr_stop_signal_name(), s->shard_dir, LR_EXIT_INTERRUPTED);
    return LR_EXIT_INTERRUPTED;
}

void sample_stage_free_models(sample_stage *s) {
    if (s->expert) model_free(s->expert);
    if (s->amateur) model_free(s->amateur);
    if (s->tok) tokenizer_free(s->tok);
    s->expert = s->amateur = NULL;
    s->tok = NULL;
}

int sample_stage_join(sample_stage *s, const char *train_from) {
    const sample_opts *o = s->o;
    lr_run_meta meta = {.config_json = s->args_json,
                        .resume_key = s->key,
                        .command_line = s->command_line,
                        .expert_dir = o->expert,
                        .amateur_dir = o->amateur,
                        .problems_path = o->problems,
                        .vocab_expert = s->vocab_expert,
                        .vocab_amateur = s->vocab_amateur,
                        .store_alpha = o->store_alpha,
                        .method = sample_opts_method(o),
                        .n_bad_lines = s->ps.n_bad_lines,
                        .train_from = train_from};
    if (runfile_join(o->out, s->shard_dir, &s->ps, s->n_chunks, &meta) != 0) return -1;
    run_state_cleanup(s->shard_dir);
    if (!o->quiet) print_summary(o->out, &s->stats, s->ps.n_bad_lines, s->wire);
    /* a run without a single trace is bad input (as in eval): every prompt
     * was over the context; the file stays as the record of the skips */
    int64_t nt = -1, nsk = 0;
    hid_t f = (hid_t)runfile_open_read(o->out);
    if (f >= 0) {
        h5u_read_attr_i64(f, "n_traces", o->out, &nt);
        h5u_read_attr_i64(f, "n_skipped_context", o->out, &nsk);
        H5Fclose(f);
    }
    if (nt == 0 && nsk > 0) {
        lr_error_set(o->problems, "all %lld problems were skipped: every prompt is at least the context limit of %d "
                                  "tokens (see /problems/status in %s)", (long long)nsk, s->ctx_limit, o->out);
        return -1;
    }
    return 0;
}

int sample_stage_reselect(sample_stage *s) {
    const sample_opts *o = s->o;
    int64_t ns = 0, nst = 0;
    const lr_method m = sample_opts_method(o);
    if (runfile_select(o->out, &m, s->command_line, &ns, &nst) != 0) return -1;
    run_state_cleanup(s->shard_dir);
    if (!o->quiet)
        fprintf(stderr, "sample: %s is already complete (%lld samples of %lld steps at alpha %g, beta %g)\n", o->out,
                (long long)ns, (long long)nst, o->alpha, o->beta);
    return 0;
}

void sample_stage_free(sample_stage *s) {
    for (int i = 0; s->questions && i < s->n_problems; i++) free(s->questions[i]);
    free(s->questions);
    sample_stage_free_models(s);
    problems_free(&s->ps);
    run_state_free(&s->st);
    free(s->pl.pending);
    free(s->key);
    free(s->shard_dir);
    memset(s, 0, sizeof *s);
}
