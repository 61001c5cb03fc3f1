/* `lightreasoner sample`: the sampling stage (SPEC §2-4, issue 4).
 *
 * Order of events, on every rank:
 *   1. flags (before MPI: a usage error ends every rank the same way);
 *   2. MPI (when launched) and the role split;
 *   3. rank 0 checks the inputs (problems, model configs, tokenizers,
 *      the output's state for --resume) and broadcasts what others need;
 *   4. each rank loads the model of its role;
 *   5. the pipeline writes one shard per chunk; rank 0 joins them.
 * Errors in 2-4 are agreed on collectively: one message, exit code 2. */
#include <cjson/cJSON.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "common/check.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "io/model_config.h"
#include "io/problems.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "model/model.h"
#include "sampler/pipeline.h"
#include "sampler/run_state.h"
#include "sampler/sampler.h"
#include "scorer/scorer.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *expert, *amateur, *problems, *question_field, *answer_field, *id_field, *system, *chat_template, *out;
    long max_problems, max_new_tokens, seed, batch, samplers, scorers, threads, score_rows;
    double alpha, beta, store_alpha, temperature, top_p;
    int skip_bad_lines, resume, overwrite, quiet;
} sample_opts;

/* Everything rank 0 learns in the check phase that others need. */
typedef struct {
    int n_problems;
    int vocab_expert, vocab_amateur, ctx_limit;
    char **questions; /* (n_problems), samplers only */
} shared_info;

/* Checks that the two tokenizers agree on the shared ids [0, V). */
static int check_tokenizers(const char *edir, const char *adir, int V, const char *template_name) {
    lr_tokenizer *te = tokenizer_load(edir);
    if (!te) return -1;
    lr_chat_template tpl;
    if (chat_template_from_name(template_name, te, &tpl) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lr_error_msg());
        lr_error_set("--chat-template", "%s", msg);
        tokenizer_free(te);
        return -1;
    }
    lr_tokenizer *ta = tokenizer_load(adir);
    if (!ta) {
        tokenizer_free(te);
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
static int check_inputs(const sample_opts *o, const char *args_json, lr_problem_set *ps, shared_info *info,
                        char **key, lr_run_state *st, const char *shard_dir) {
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
    info->vocab_expert = ce.vocab_size;
    info->vocab_amateur = ca.vocab_size;
    info->ctx_limit = ce.max_position_embeddings < ca.max_position_embeddings ? ce.max_position_embeddings
                                                                               : ca.max_position_embeddings;
    int V = ce.vocab_size < ca.vocab_size ? ce.vocab_size : ca.vocab_size;
    if (check_tokenizers(o->expert, o->amateur, V, o->chat_template) != 0) return LR_EXIT_INPUT;
    *key = run_resume_key(args_json, ps->digest, ps->n);
    if (run_state_prepare(o->out, shard_dir, *key, o->resume, o->overwrite, st) != 0) return LR_EXIT_INPUT;
    info->n_problems = ps->n;
    return 0;
}

/* Rank 0 -> all: sizes, then the questions (one NUL-separated blob). */
static void share_info(const lr_mpi_env *e, shared_info *info, const lr_problem_set *ps) {
    if (!e->use_mpi || e->size == 1) {
        info->questions = xmalloc((size_t)info->n_problems * sizeof(char *));
        for (int i = 0; i < info->n_problems; i++) info->questions[i] = xstrdup(ps->items[i].question);
        return;
    }
    int hdr[4] = {info->n_problems, info->vocab_expert, info->vocab_amateur, info->ctx_limit};
    MPI_CHECK(MPI_Bcast(hdr, 4, MPI_INT, 0, MPI_COMM_WORLD));
    info->n_problems = hdr[0], info->vocab_expert = hdr[1], info->vocab_amateur = hdr[2], info->ctx_limit = hdr[3];
    long long bytes = 0;
    if (e->rank == 0)
        for (int i = 0; i < ps->n; i++) bytes += (long long)strlen(ps->items[i].question) + 1;
    MPI_CHECK(MPI_Bcast(&bytes, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD));
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
    MPI_CHECK(MPI_Bcast(blob, (int)bytes, MPI_CHAR, 0, MPI_COMM_WORLD));
    info->questions = xmalloc((size_t)info->n_problems * sizeof(char *));
    const char *p = blob;
    for (int i = 0; i < info->n_problems; i++) {
        info->questions[i] = xstrdup(p);
        p += strlen(p) + 1;
    }
    free(blob);
}

/* The closing line: this session's rates, the file's totals. */
static void print_summary(const char *out, const lr_pipeline_stats *st, long bad_lines) {
    int64_t np = 0, nt = 0, nsk = 0, nsa = 0, nst = 0;
    hid_t f = (hid_t)runfile_open_read(out);
    if (f >= 0) {
        h5u_read_attr_i64(f, "n_problems", out, &np);
        h5u_read_attr_i64(f, "n_traces", out, &nt);
        h5u_read_attr_i64(f, "n_skipped_context", out, &nsk);
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
    fprintf(stderr, "; this session: %.2f s, %.2f traces/s, %.1f generated tok/s", st->seconds,
            st->seconds > 0 ? (double)st->traces / st->seconds : 0.0,
            st->seconds > 0 ? (double)st->gen_tokens / st->seconds : 0.0);
    if (st->bytes_sent && st->traces)
        fprintf(stderr, ", %.2f MB sent per trace", (double)st->bytes_sent / 1e6 / (double)st->traces);
    fputc('\n', stderr);
}

static int finish(lr_mpi_env *e, int rc) {
    mpi_env_finalize(e);
    return rc;
}

int cmd_sample(int argc, char **argv) {
    sample_opts o = {.question_field = "question",
                     .answer_field = "answer",
                     .system = "Please reason step by step.",
                     .chat_template = "auto",
                     .out = "run.h5",
                     .max_new_tokens = 128,
                     .batch = 8,
                     .score_rows = 1024,
                     .alpha = 0.2,
                     .beta = 0.4,
                     .store_alpha = 0.01,
                     .top_p = 1.0};
    const arg_def defs[] = {
        {"expert", ARG_STR, &o.expert, "DIR", "expert model directory (Hugging Face layout)", 0, 0, 1},
        {"amateur", ARG_STR, &o.amateur, "DIR", "amateur model directory (same tokenizer on the shared ids)", 0, 0, 1},
        {"problems", ARG_STR, &o.problems, "FILE", "problems, one JSON object per line (e.g. GSM8K train.jsonl)", 0, 0, 1},
        {"question-field", ARG_STR, &o.question_field, "F", "field holding the question", 0, 0, 0},
        {"answer-field", ARG_STR, &o.answer_field, "F", "field holding the gold answer ('' = none)", 0, 0, 0},
        {"id-field", ARG_STR, &o.id_field, "F", "field holding the problem id (default: the problem index)", 0, 0, 0},
        {"max-problems", ARG_INT, &o.max_problems, "N", "use the first N problems (0 = all)", 0, 1e9, 0},
        {"skip-bad-lines", ARG_FLAG, &o.skip_bad_lines, NULL, "skip and count bad jsonl lines instead of failing", 0, 0, 0},
        {"alpha", ARG_FLOAT, &o.alpha, "A", "plausible set: p_E(v) >= A * max p_E", 1e-12, 1, 0},
        {"beta", ARG_FLOAT, &o.beta, "B", "a step is selected when KL >= B (nats)", -1e9, 1e9, 0},
        {"store-alpha", ARG_FLOAT, &o.store_alpha, "A", "candidates kept per step for `select` (alpha >= this)", 1e-12, 1, 0},
        {"max-new-tokens", ARG_INT, &o.max_new_tokens, "N", "expert tokens per trace", 1, 1e7, 0},
        {"system", ARG_STR, &o.system, "S", "system prompt", 0, 0, 0},
        {"chat-template", ARG_STR, &o.chat_template, "NAME", "auto (tokenizer_config.json), chatml or plain", 0, 0, 0},
        {"temperature", ARG_FLOAT, &o.temperature, "T", "0 = greedy", 0, 1e4, 0},
        {"top-p", ARG_FLOAT, &o.top_p, "P", "nucleus sampling (with --temperature > 0)", 1e-9, 1, 0},
        {"seed", ARG_INT, &o.seed, "N", "sampling seed (per chunk and sequence streams)", 0, 9e18, 0},
        {"batch", ARG_INT, &o.batch, "B", "problems per chunk = sequences generated together", 1, 1e6, 0},
        {"out", ARG_STR, &o.out, "FILE", "run file to write (shards go to FILE.shards/ meanwhile)", 0, 0, 0},
        {"resume", ARG_FLAG, &o.resume, NULL, "continue an interrupted run (or finish a complete one)", 0, 0, 0},
        {"overwrite", ARG_FLAG, &o.overwrite, NULL, "replace an existing run file / interrupted run", 0, 0, 0},
        {"samplers", ARG_INT, &o.samplers, "N", "sampler ranks (0 = half the world, rounded up)", 0, 1e7, 0},
        {"scorers", ARG_INT, &o.scorers, "N", "scorer ranks (0 = half the world, rounded down)", 0, 1e7, 0},
        {"threads", ARG_INT, &o.threads, "N", "threads per rank (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"score-rows", ARG_INT, &o.score_rows, "N", "amateur positions per forward (memory: N * vocab * 4 bytes)", 1, 1e9, 0},
        {"quiet", ARG_FLAG, &o.quiet, NULL, "no progress on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"sample",
                           "Sampling stage: the expert answers each problem, the amateur reads the same ids in one "
                           "teacher-forced pass, every generated step gets the KL contrast and candidates, and the "
                           "steps with KL >= beta become soft-label samples in an HDF5 run file.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    if (o.alpha < o.store_alpha)
        lr_die_input("sample", "--alpha %g is below --store-alpha %g", o.alpha, o.store_alpha);
    if (o.resume && o.overwrite) lr_die_input("sample", "--resume and --overwrite exclude each other");
    char *args_json = args_to_json(&spec);
    char *cmdline = args_command_line(argc, argv);

    char *shard_dir = runfile_shard_dir(o.out);
    lr_problem_set ps = {0};
    shared_info info = {0};
    char *key = NULL;
    lr_run_state st = {0};
    lr_pipeline pl = {.shard_dir = shard_dir,
                      .n_samplers = 0,
                      .n_scorers = 0,
                      .store_alpha = o.store_alpha,
                      .quiet = o.quiet};
    lr_model *expert = NULL, *amateur = NULL;
    lr_tokenizer *tok = NULL;
    int kind = RUN_FRESH;

    lr_mpi_env env;
    mpi_env_init(&env, &argc, &argv);
    int rc = mpi_env_split_two(env.size, &o.samplers, &o.scorers) == 0 ? 0 : LR_EXIT_INPUT;
    if ((rc = mpi_env_agree(&env, rc))) goto done;
    pl.n_samplers = (int)o.samplers;
    pl.n_scorers = (int)o.scorers;
    if (env.rank == 0) rc = check_inputs(&o, args_json, &ps, &info, &key, &st, shard_dir);
    if ((rc = mpi_env_agree(&env, rc))) goto done;
    kind = st.kind;
    if (env.use_mpi && env.size > 1) MPI_CHECK(MPI_Bcast(&kind, 1, MPI_INT, 0, MPI_COMM_WORLD));

    lr_run_meta meta = {args_json, key, cmdline, o.expert, o.amateur, o.problems, info.vocab_expert,
                        info.vocab_amateur, o.store_alpha, o.alpha, o.beta, ps.n_bad_lines};
    if (kind == RUN_COMPLETE) {
        /* nothing to sample; bring /samples to this alpha/beta when they differ */
        if (env.rank == 0) {
            int64_t ns = 0, nst = 0;
            if (runfile_select(o.out, o.alpha, o.beta, cmdline, &ns, &nst) != 0) rc = LR_EXIT_INPUT;
            else {
                run_state_cleanup(shard_dir);
                if (!o.quiet)
                    fprintf(stderr, "sample: %s is already complete (%lld samples of %lld steps at alpha %g, beta %g)\n",
                            o.out, (long long)ns, (long long)nst, o.alpha, o.beta);
            }
        }
        rc = mpi_env_agree(&env, rc);
        goto done;
    }

    share_info(&env, &info, &ps);
    pl.n_problems = info.n_problems;
    int64_t n_chunks = sampler_n_chunks(info.n_problems, (int)o.batch);
    if (env.rank == 0) {
        /* pending = every chunk without a shard */
        pl.pending = xmalloc((size_t)n_chunks * sizeof *pl.pending);
        int d = 0;
        for (int64_t c = 0; c < n_chunks; c++) {
            while (d < st.n_done && st.done[d] < c) d++;
            if (d < st.n_done && st.done[d] == c) {
                int64_t first = c * o.batch, n = first + o.batch <= info.n_problems ? o.batch : info.n_problems - first;
                pl.done_problems += n;
                continue;
            }
            pl.pending[pl.n_pending++] = c;
        }
        if (kind == RUN_RESUME && !o.quiet)
            fprintf(stderr, "sample: resuming %s: %lld of %lld chunks already done\n", o.out,
                    (long long)(n_chunks - pl.n_pending), (long long)n_chunks);
    }

    /* models by role */
    int role = pipeline_role(&env, &pl);
    lr_model_opts mo = {(int)o.threads};
    if (o.threads > 0) omp_set_num_threads((int)o.threads);
    lr_sampler sa = {0};
    lr_scorer sc = {0};
    if (role & 1) {
        expert = model_load(o.expert, &mo);
        tok = expert ? tokenizer_load(o.expert) : NULL;
        if (!expert || !tok) rc = LR_EXIT_INPUT;
        else if (chat_template_from_name(o.chat_template, tok, &sa.tpl) != 0)
            rc = LR_EXIT_INPUT;
        if (rc == 0 && model_vocab_size(expert) != info.vocab_expert) {
            lr_error_set(o.expert, "vocab size changed while starting");
            rc = LR_EXIT_INPUT;
        }
    }
    if (rc == 0 && (role & 2)) {
        amateur = model_load(o.amateur, &mo);
        if (!amateur) rc = LR_EXIT_INPUT;
    }
    if ((rc = mpi_env_agree(&env, rc))) {
        if (env.rank == 0 && kind == RUN_FRESH) run_state_cleanup(shard_dir); /* nothing was done in it */
        goto done;
    }
    if (role & 1) {
        sa.expert = expert;
        sa.tok = tok;
        sa.system = o.system;
        sa.questions = (const char *const *)info.questions;
        sa.n_problems = info.n_problems;
        sa.batch = (int)o.batch;
        sa.max_new_tokens = (int)o.max_new_tokens;
        sa.temperature = o.temperature;
        sa.top_p = o.top_p;
        sa.seed = (uint64_t)o.seed;
        sa.ctx_limit = info.ctx_limit;
        sa.vocab_amateur = info.vocab_amateur;
        sampler_collect_eos(&sa);
    }
    if (role & 2) {
        sc.amateur = amateur;
        sc.store_alpha = o.store_alpha;
        sc.beta = o.beta;
        sc.row_budget = o.score_rows;
    }

    lr_pipeline_stats stats;
    pipeline_run(&env, &pl, &sa, &sc, &stats);

    if (env.rank == 0) {
        if (runfile_join(o.out, shard_dir, &ps, n_chunks, &meta) != 0) rc = LR_EXIT_INPUT;
        else {
            run_state_cleanup(shard_dir);
            if (!o.quiet) print_summary(o.out, &stats, ps.n_bad_lines);
        }
    }
    rc = mpi_env_agree(&env, rc);

done:
    for (int i = 0; info.questions && i < info.n_problems; i++) free(info.questions[i]);
    free(info.questions);
    if (expert) model_free(expert);
    if (amateur) model_free(amateur);
    if (tok) tokenizer_free(tok);
    problems_free(&ps);
    run_state_free(&st);
    free(pl.pending);
    free(key);
    free(shard_dir);
    free(args_json);
    free(cmdline);
    return finish(&env, rc);
}
