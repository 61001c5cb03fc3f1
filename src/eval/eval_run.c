#define _POSIX_C_SOURCE 200809L
#include "eval/eval_run.h"

#include <ctype.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/crash_point.h"
#include "common/error.h"
#include "common/signals.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/lock.h"
#include "common/mpi_env.h"
#include "common/progress.h"
#include "eval/answer.h"
#include "eval/benchmark.h"
#include "eval/eval_parts.h"
#include "eval/eval_store.h"
#include "eval/tk_bench.h"
#include "eval/wilson.h"
#include "model/eos.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

/* The model and tokenizer, loaded once for every benchmark of a run. */
typedef struct {
    lr_tokenizer *tok;
    lr_model *model;
    lr_chat_template tpl;
    const char *tpl_name;
    lr_eos_set eos;
} eval_shared;

/* The headline numbers of one benchmark (for the paper table). */
typedef struct {
    int done;
    long n, correct;
    double acc, lo, hi;
} eval_result;

/* What rank 0 found in the run file and the parts directory. */
enum { STATE_FRESH = 0, STATE_RESUME = 1, STATE_COMPLETE = 2 };

typedef struct {
    const eval_opts *o;
    const lr_mpi_env *env;
    int rank, size;
    eval_benchmark b;
    const char *name;
    char *parts_dir;
    lr_tokenizer *tok;
    lr_model *model;
    lr_chat_template tpl;
    const char *tpl_name;
    int32_t **prompts;
    int *prompt_lens;
    lr_eos_set eos;
    tk_prompt_type pt; /* PT_SPEC: chat template + system prompt; else the toolkit's template */
    char *overlong;    /* per problem: the prompt does not fit the context (--overlong wrong) */
    long n_overlong;
    eval_shared *sh;
    eval_result *res;
    char fingerprint[17];
    long chunk, n_chunks;
    lr_progress progress;
    char label[256];
    long progress_count; /* scratch for counting chunk files */
} eval_ctx;

static int agree(eval_ctx *c, int rc) { return mpi_env_agree(c->env, rc); }

static void bcast(eval_ctx *c, void *buf, int count, MPI_Datatype t) {
    if (c->env->use_mpi) MPI_CHECK(MPI_Bcast(buf, count, t, 0, c->env->comm));
}

/* A failure in the middle of generation on one rank: the others may be
 * anywhere, so the job is aborted (completed chunks stay on disk). */
static _Noreturn void abort_job(eval_ctx *c, int code) {
    fprintf(stderr, "lightreasoner: %s: %s (rank %d)\n", code == LR_EXIT_INPUT ? "error" : "internal error",
            lr_error_msg(), c->rank);
    if (c->env->use_mpi) MPI_Abort(c->env->comm, code);
    exit(code);
}

static long chunk_lo(const eval_ctx *c, long k) { return k * c->chunk; }
static long chunk_hi(const eval_ctx *c, long k) {
    long hi = (k + 1) * c->chunk;
    return hi < c->b.n ? hi : c->b.n;
}

static int valid_name(const char *s) {
    if (!*s || *s == '.' || strlen(s) > 200) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("._+-", *s))) return 0;
    return 1;
}

/* ---- fingerprint: everything that changes the outputs */
static void make_fingerprint(eval_ctx *c) {
    uint64_t h = LR_FNV1A64_INIT_RESUME;
    char *cfg_path = lr_path_join(c->o->model_dir, "config.json");
    size_t len = 0;
    char *cfg = lr_read_file(cfg_path, 1u << 24, &len);
    if (cfg) h = lr_fnv1a64(h, cfg, len);
    free(cfg);
    free(cfg_path);
    long v[3] = {c->o->max_new_tokens, c->o->batch, c->chunk};
    h = lr_fnv1a64(h, v, sizeof v);
    h = lr_fnv1a64(h, c->eos.ids, (size_t)c->eos.n * sizeof *c->eos.ids);
    for (long i = 0; i < c->b.n; i++) {
        h = lr_fnv1a64(h, c->prompts[i], (size_t)c->prompt_lens[i] * sizeof(int32_t));
        h = lr_fnv1a64(h, &c->prompt_lens[i], sizeof(int));
    }
    /* an adapter (--adapter) joins the fingerprint: its config and tensors */
    if (c->o->adapter) {
        const char *names[] = {"adapter_config.json", "adapter_model.safetensors"};
        for (int k = 0; k < 2; k++) {
            char *p = lr_path_join(c->o->adapter, names[k]);
            size_t n = 0;
            char *bytes = lr_read_file(p, (size_t)1 << 32, &n);
            if (bytes) h = lr_fnv1a64(h, bytes, n);
            free(bytes);
            free(p);
        }
    }
    snprintf(c->fingerprint, sizeof c->fingerprint, "%016llx", (unsigned long long)h);
}

/* ---- rank 0: what exists already? */
static int decide_state(eval_ctx *c, int *state) {
    const eval_opts *o = c->o;
    int group = 0;
    if (o->resume) lr_resume_drop_empty(o->out); /* a job killed before it wrote anything: start */
    /* a readable output (or none) first: no lock file beside anything else;
     * then one writer per run file until this process ends (common/lock.h),
     * and the output as it is under the lock */
    if (eval_store_probe(o->out, c->name, &group) != 0) return 2;
    if (lr_lock_writer(o->out, "eval") != 0) return 2;
    if (eval_store_probe(o->out, c->name, &group) != 0) return 2;
    int parts = lr_is_dir(c->parts_dir);
    *state = STATE_FRESH;
    if (parts) {
        if (group && o->resume) {
            /* crashed after the group was written, before cleanup */
            if (eval_parts_remove(c->parts_dir) != 0) return 2;
            *state = STATE_COMPLETE;
        } else if (o->overwrite) {
            if (eval_parts_remove(c->parts_dir) != 0) return 2;
        } else if (o->resume) {
            *state = STATE_RESUME;
        } else {
            lr_error_set(c->parts_dir, "partial results of an interrupted eval '%s' are here: pass --resume to "
                                       "continue it, or --overwrite to start over", c->name);
            return 2;
        }
    } else if (group) {
        if (o->resume) *state = STATE_COMPLETE;
        else if (!o->overwrite) {
            lr_error_set(o->out, "already holds /eval/%s (choose another --name, or --overwrite)", c->name);
            return 2;
        }
    }
    return 0;
}

/* ---- model, tokenizer, prompts */
static void from_shared(eval_ctx *c) {
    c->tok = c->sh->tok;
    c->model = c->sh->model;
    c->tpl = c->sh->tpl;
    c->tpl_name = c->sh->tpl_name;
    c->eos = c->sh->eos;
}

static int load_model(eval_ctx *c) {
    const eval_opts *o = c->o;
    if (c->sh->model) {
        from_shared(c);
        return 0;
    }
    if (!lr_is_dir(o->model_dir)) {
        lr_error_set(o->model_dir, "model directory not found");
        return 2;
    }
    /* loaded once per run (every benchmark of --benchmark paper): owned by c->sh */
    eval_shared *sh = c->sh;
    c->tok = sh->tok = tokenizer_load(o->model_dir);
    if (!c->tok) return 2;
    lr_model_opts mo = {.n_threads = (int)o->threads, .quiet = o->quiet};
    c->model = sh->model = model_load(o->model_dir, &mo);
    if (!c->model || tokenizer_check_vocab(c->tok, model_vocab_size(c->model), o->model_dir) != 0) return 2;
    /* --adapter: W += s·B·A into the loaded fp32 weights (model.h model_apply_adapter) */
    if (o->adapter && model_apply_adapter(c->model, o->adapter) != 0) return 2;
    if (c->pt == PT_SPEC) {
        if (chat_template_from_name(o->chat_template ? o->chat_template : "auto", c->tok, &c->tpl) != 0) return 2;
        c->tpl_name = chat_template_name(c->tpl);
    } else {
        c->tpl = CHAT_PLAIN; /* the toolkit's template is the whole prompt */
        c->tpl_name = "none (toolkit prompt)";
    }

    /* Stop at every EOS the model directory names (SPEC §2), plus the
     * ChatML end-of-turn: instruct and base models alike end answers there. */
    model_eos_set(c->model, tokenizer_eos_id(c->tok), &c->eos);
    if (c->tpl != CHAT_PLAIN) lr_eos_add(&c->eos, tokenizer_token_id(c->tok, "<|im_end|>"));
    if (c->pt != PT_SPEC) {
        /* math_eval.py's stop words that are single tokens */
        static const char *const stops[] = {"</s>", "<|im_end|>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++) lr_eos_add(&c->eos, tokenizer_token_id(c->tok, stops[i]));
    }
    if (c->eos.n == 0) {
        lr_error_set(o->model_dir, "the model names no EOS token (config.json / generation_config.json)");
        return 2;
    }
    sh->tpl = c->tpl;
    sh->tpl_name = c->tpl_name;
    sh->eos = c->eos;
    return 0;
}

static int encode_prompts(eval_ctx *c) {
    const char *sys = c->o->system_prompt ? c->o->system_prompt : EVAL_SYSTEM_PROMPT;
    long n = c->b.n;
    int ctx_len = model_config(c->model)->max_position_embeddings;
    c->prompts = xcalloc((size_t)n, sizeof *c->prompts);
    c->prompt_lens = xcalloc((size_t)n, sizeof *c->prompt_lens);
    for (long i = 0; i < n; i++) {
        char *text = c->pt == PT_SPEC ? tokenizer_chat_render(c->tok, c->tpl, sys, c->b.items[i].question, 1)
                                      : tk_render_prompt(c->pt, c->b.items[i].question,
                                                         (const char *const *)c->b.demo_q,
                                                         (const char *const *)c->b.demo_a, c->b.n_demos);
        long len = tokenizer_encode(c->tok, text, strlen(text), &c->prompts[i]);
        free(text);
        if (len < 0) return 2;
        c->prompt_lens[i] = (int)len;
        if (ctx_len > 0 && len >= ctx_len && c->o->overlong_wrong) {
            /* not generated: an empty output, scored wrong, finish_reason "context full" */
            if (!c->overlong) c->overlong = xcalloc((size_t)n, 1);
            c->overlong[i] = 1;
            c->n_overlong++;
            continue;
        }
        if (ctx_len > 0 && len >= ctx_len) {
            lr_error_set(NULL, "%s:%ld: the prompt is %ld tokens, the model's context is %d", c->b.path,
                         c->b.items[i].line, len, ctx_len);
            return 2;
        }
    }
    return 0;
}

/* ---- rank 0: parts directory */
static cJSON *manifest_json(const eval_ctx *c) {
    const eval_opts *o = c->o;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "fingerprint", c->fingerprint);
    cJSON_AddStringToObject(m, "name", c->name);
    cJSON_AddStringToObject(m, "model", o->model_dir);
    if (o->adapter) cJSON_AddStringToObject(m, "adapter", o->adapter);
    cJSON_AddStringToObject(m, "benchmark_file", c->b.path);
    cJSON_AddNumberToObject(m, "n_problems", (double)c->b.n);
    cJSON_AddStringToObject(m, "system_prompt", o->system_prompt ? o->system_prompt : EVAL_SYSTEM_PROMPT);
    cJSON_AddStringToObject(m, "prompt_type", tk_prompt_type_name(c->pt));
    cJSON_AddNumberToObject(m, "num_shots", c->b.n_demos);
    cJSON_AddNumberToObject(m, "compare", c->b.mode);
    cJSON_AddStringToObject(m, "chat_template", c->tpl_name);
    cJSON_AddNumberToObject(m, "max_new_tokens", (double)o->max_new_tokens);
    cJSON_AddNumberToObject(m, "batch", (double)o->batch);
    cJSON_AddNumberToObject(m, "chunk", (double)c->chunk);
    return m;
}

static int prepare_parts(eval_ctx *c, int state) {
    char *mpath = lr_path_join(c->parts_dir, "manifest.json");
    int rc = 0;
    cJSON *mine = manifest_json(c);
    if (state == STATE_FRESH) {
        if (lr_mkdir_p(c->parts_dir) != 0 || eval_json_write_atomic(mpath, mine) != 0) rc = 2;
    } else {
        cJSON *old = eval_json_read(mpath);
        if (!old) rc = 2;
        else {
            const cJSON *fp = cJSON_GetObjectItemCaseSensitive(old, "fingerprint");
            if (!cJSON_IsString(fp) || strcmp(fp->valuestring, c->fingerprint) != 0) {
                /* name what differs, when it is something the user sees */
                char diff[512] = "";
                static const char *const keys[] = {"benchmark_file", "n_problems", "system_prompt", "chat_template",
                                                   "prompt_type",    "num_shots",  "compare",       "max_new_tokens",
                                                   "batch",          "chunk"};
                for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
                    cJSON *a = cJSON_GetObjectItemCaseSensitive(old, keys[i]);
                    cJSON *b = cJSON_GetObjectItemCaseSensitive(mine, keys[i]);
                    if (!a || !cJSON_Compare(a, b, 1)) {
                        size_t l = strlen(diff);
                        snprintf(diff + l, sizeof diff - l, "%s%s", l ? ", " : "", keys[i]);
                    }
                }
                lr_error_set(c->parts_dir, "--resume: the interrupted eval used other settings (%s); rerun with "
                                           "those, or --overwrite to start over",
                             *diff ? diff : "model or problems");
                rc = 2;
            }
            cJSON_Delete(old);
        }
    }
    cJSON_Delete(mine);
    free(mpath);
    return rc;
}

/* Which chunks are complete (rank 0; chunks that fail to validate are
 * removed and redone). */
static void scan_done(eval_ctx *c, char *done) {
    for (long k = 0; k < c->n_chunks; k++) {
        long lo = chunk_lo(c, k), hi = chunk_hi(c, k);
        eval_item *items = xcalloc((size_t)(hi - lo), sizeof *items);
        int r = eval_parts_read_chunk(c->parts_dir, k, lo, hi, c->fingerprint, items);
        if (r < 0) {
            lr_warn("%s; redoing it", lr_error_msg());
            char *p = eval_parts_chunk_path(c->parts_dir, k);
            remove(p);
            free(p);
        }
        done[k] = r == 1;
        if (r == 1)
            for (long i = 0; i < hi - lo; i++) eval_item_free(&items[i]);
        free(items);
    }
}

/* ---- progress: rank 0 counts finished chunk files (all ranks' work) */
static void count_chunk(void *ctx, long k) {
    eval_ctx *c = ctx;
    if (k < c->n_chunks) c->progress_count += chunk_hi(c, k) - chunk_lo(c, k);
}
static long global_done(eval_ctx *c) {
    c->progress_count = 0;
    eval_parts_list(c->parts_dir, count_chunk, c);
    return c->progress_count;
}
static void tick(eval_ctx *c, int force) {
    if (c->rank != 0 || c->progress.quiet) return;
    /* listing the directory is the costly part: only when a line is due */
    if (!force && lr_now() - c->progress.last < c->progress.interval) return;
    long done = global_done(c);
    double el = progress_elapsed(&c->progress);
    double rate = el > 0 ? (double)(done - c->progress.done0) / el : 0;
    progress_update(&c->progress, done, 1, "%.2f problems/s", rate);
}
static void on_step(void *ctx, int seq, int step, int32_t token, const float *logits) {
    (void)seq, (void)step, (void)token, (void)logits;
    tick(ctx, 0);
}

/* ---- one chunk: generate, decode, extract, persist */
/* extract_method for the toolkit's extraction: which branch found it */
static answer_method toolkit_method(const char *text, const char *pred, tk_data d) {
    if (!*pred) return ANSWER_NONE;
    if (d == TK_MMLU) return strstr(text, "answer is") || strstr(text, "choice is") ? ANSWER_IS : ANSWER_LAST_NUMBER;
    if (strstr(text, "boxed")) return ANSWER_BOXED;
    if (strstr(text, "he answer is") || strstr(text, "final answer is")) return ANSWER_IS;
    return ANSWER_LAST_NUMBER;
}

static void run_chunk(eval_ctx *c, long k) {
    long lo = chunk_lo(c, k), hi = chunk_hi(c, k);
    int cnt = (int)(hi - lo);
    lr_gen_params gp = {
        .max_new_tokens = (int)c->o->max_new_tokens,
        .temperature = 0,
        .top_p = 1,
        .seed = 0,
        .eos_ids = c->eos.ids,
        .n_eos = c->eos.n,
        .batch = (int)(c->o->batch < cnt ? c->o->batch : cnt),
        .no_step_logits = 1, /* on_step ticks the progress line only */
    };
    int32_t **out = xcalloc((size_t)cnt, sizeof *out);
    int *out_lens = xcalloc((size_t)cnt, sizeof *out_lens);
    lr_finish_reason *fin = xcalloc((size_t)cnt, sizeof *fin);
    /* the problems whose prompts fit (all of them unless --overlong wrong) */
    int n_gen = 0, *gen = xcalloc((size_t)cnt, sizeof *gen);
    for (int i = 0; i < cnt; i++) {
        if (c->overlong && c->overlong[lo + i]) fin[i] = FINISH_CONTEXT;
        else gen[n_gen++] = i;
    }
    if (n_gen > 0) {
        const int32_t **gp_in = xcalloc((size_t)n_gen, sizeof *gp_in);
        int *gl = xcalloc((size_t)n_gen, sizeof *gl), *go_len = xcalloc((size_t)n_gen, sizeof *go_len);
        int32_t **go = xcalloc((size_t)n_gen, sizeof *go);
        lr_finish_reason *gf = xcalloc((size_t)n_gen, sizeof *gf);
        for (int j = 0; j < n_gen; j++) {
            gp_in[j] = c->prompts[lo + gen[j]];
            gl[j] = c->prompt_lens[lo + gen[j]];
        }
        if (gp.batch > n_gen) gp.batch = n_gen;
        if (model_generate(c->model, gp_in, gl, n_gen, &gp, c->rank == 0 ? on_step : NULL, c, go, go_len, gf) != 0)
            abort_job(c, 1);
        for (int j = 0; j < n_gen; j++) {
            out[gen[j]] = go[j];
            out_lens[gen[j]] = go_len[j];
            fin[gen[j]] = gf[j];
        }
        free(gp_in), free(gl), free(go_len), free(go), free(gf);
    }
    free(gen);
    eval_item *items = xcalloc((size_t)cnt, sizeof *items);
    for (int i = 0; i < cnt; i++) {
        int n = out_lens[i];
        if (n > 0 && fin[i] == FINISH_EOS && lr_is_eos(c->eos.ids, c->eos.n, out[i][n - 1])) n--; /* the EOS is not text */
        if (n > 0 && fin[i] == FINISH_NONFINITE) n--; /* chosen from a NaN/Inf logits row: not text */
        /* Models pad vocab_size past the tokenizer (Qwen2.5: 151936 vs
         * 151665); an id in the padding has no text, as in HF decode. */
        int kept = 0, n_tok = tokenizer_n_tokens(c->tok);
        for (int t = 0; t < n; t++)
            if (out[i][t] >= 0 && out[i][t] < n_tok) out[i][kept++] = out[i][t];
        n = kept;
        size_t tl;
        char *text = tokenizer_decode(c->tok, out[i], (size_t)n, 1, &tl);
        if (!text) abort_job(c, 1);
        answer_method m;
        items[i].index = lo + i;
        items[i].output = text;
        if (c->b.mode == COMPARE_TOOLKIT) {
            /* the toolkit's path: cut at its stop words, extract_answer, strip_string */
            items[i].extracted = tk_predict(text, c->b.tk, c->b.items[lo + i].gold, tk_stop_words(c->pt));
            m = toolkit_method(text, items[i].extracted, c->b.tk);
        } else items[i].extracted = answer_extract(text, &m);
        items[i].method = (int)m;
        items[i].finish = (int)fin[i];
        items[i].n_tokens = out_lens[i];
        items[i].prompt_tokens = c->prompt_lens[lo + i];
        free(out[i]);
    }
    if (eval_parts_write_chunk(c->parts_dir, k, lo, hi, c->fingerprint, items) != 0) abort_job(c, 1);
    static long persisted = 0; /* this rank's chunks, over every eval of the process */
    lr_crash_point("chunk", ++persisted); /* LR_TEST_DIE_AT=chunk:N (resume tests) */
    for (int i = 0; i < cnt; i++) eval_item_free(&items[i]);
    free(items);
    free(out);
    free(out_lens);
    free(fin);
    tick(c, 0);
}

/* ---- rank 0: join the chunks into /eval/<name> */
static int assemble(eval_ctx *c, double t_start) {
    const eval_opts *o = c->o;
    long n = c->b.n;
    eval_item *items = xcalloc((size_t)n, sizeof *items);
    eval_row *rows = xcalloc((size_t)n, sizeof *rows);
    int rc = 0;
    for (long k = 0; k < c->n_chunks && rc == 0; k++) {
        long lo = chunk_lo(c, k), hi = chunk_hi(c, k);
        if (eval_parts_read_chunk(c->parts_dir, k, lo, hi, c->fingerprint, items + lo) != 1) {
            if (!*lr_error_msg()) lr_error_set(c->parts_dir, "chunk %ld is missing after every rank finished", k);
            rc = 1;
        }
    }
    eval_summary s = {0};
    if (rc == 0) {
        for (long i = 0; i < n; i++) {
            answer_verdict v = answer_judge(c->b.mode, items[i].extracted, c->b.items[i].gold);
            rows[i] = (eval_row){c->b.items[i].question, c->b.items[i].gold, items[i].output, items[i].extracted,
                                 c->b.items[i].line,       items[i].method,    items[i].finish, items[i].n_tokens,
                                 items[i].prompt_tokens,   v.correct,          v.gold_unparseable};
            s.n_correct += v.correct;
            s.n_gold_unparseable += v.gold_unparseable;
            s.n_no_answer += items[i].method == ANSWER_NONE;
        }
        s.name = c->name;
        s.benchmark = c->b.name;
        s.benchmark_file = c->b.path;
        s.model = o->model_dir;
        s.system_prompt = c->pt == PT_SPEC ? (o->system_prompt ? o->system_prompt : EVAL_SYSTEM_PROMPT)
                          : c->pt == PT_QWEN25_MATH_COT ? EVAL_SYSTEM_PROMPT
                                                        : "";
        s.chat_template = c->tpl_name;
        s.compare = c->b.mode == COMPARE_TOOLKIT ? "toolkit" : c->b.mode == COMPARE_MATH ? "math" : "numeric";
        s.prompt_type = tk_prompt_type_name(c->pt);
        s.num_shots = c->b.n_demos;
        s.max_new_tokens = o->max_new_tokens;
        s.batch = o->batch;
        s.chunk = c->chunk;
        s.n_ranks = c->size;
        s.n_problems = n;
        s.accuracy = (double)s.n_correct / (double)n;
        eval_wilson(s.n_correct, n, EVAL_Z95, &s.ci_low, &s.ci_high);
        s.wall_seconds = lr_now() - t_start;
        s.config_json = o->config_json;
        s.command_line = o->command_line;
        if (eval_store_write(o->out, &s, rows, o->overwrite) != 0) rc = 2;
    }
    if (rc == 0) {
        if (eval_parts_remove(c->parts_dir) != 0) lr_warn("%s", lr_error_msg());
        printf("eval %s: accuracy %.4f (%ld/%ld), 95%% CI [%.4f, %.4f]", c->name, s.accuracy, s.n_correct, n,
               s.ci_low, s.ci_high);
        if (s.n_no_answer) printf("; no answer found: %ld", s.n_no_answer);
        if (s.n_gold_unparseable && c->b.mode != COMPARE_TOOLKIT)
            printf("; gold not a number: %ld (compared as text)", s.n_gold_unparseable);
        if (c->n_overlong) printf("; prompts longer than the context: %ld (scored wrong)", c->n_overlong);
        long n_nonfinite = 0; /* generation stopped at a NaN/Inf logits row (docs/model.md) */
        for (long i = 0; i < n; i++) n_nonfinite += items[i].finish == FINISH_NONFINITE;
        if (n_nonfinite) printf("; stopped at non-finite logits: %ld (NaN/Inf: check the weights)", n_nonfinite);
        printf(" -> %s:/eval/%s\n", o->out, c->name);
        fflush(stdout);
        *c->res = (eval_result){1, n, s.n_correct, s.accuracy, s.ci_low, s.ci_high};
    }
    for (long i = 0; i < n; i++) eval_item_free(&items[i]);
    free(items);
    free(rows);
    return rc;
}

static void print_existing(eval_ctx *c) {
    long np, nc;
    double acc, lo, hi;
    if (eval_store_read_summary(c->o->out, c->name, &np, &nc, &acc, &lo, &hi) == 0) {
        *c->res = (eval_result){1, np, nc, acc, lo, hi};
        printf("eval %s: already complete: accuracy %.4f (%ld/%ld), 95%% CI [%.4f, %.4f] in %s:/eval/%s\n", c->name,
               acc, nc, np, lo, hi, c->o->out, c->name);
    } else
        printf("eval %s: already complete in %s:/eval/%s\n", c->name, c->o->out, c->name);
}

static void cleanup(eval_ctx *c) {
    if (c->prompts)
        for (long i = 0; i < c->b.n; i++) free(c->prompts[i]);
    free(c->prompts);
    free(c->prompt_lens);
    free(c->overlong);
    /* the model and tokenizer belong to the eval_shared of the run */
    free(c->parts_dir);
    benchmark_free(&c->b);
}

/* One benchmark, collective over the ranks. name: the group (NULL = the
 * benchmark's own name). */
static int eval_one(const eval_opts *o, const lr_mpi_env *env, eval_shared *sh, tk_prompt_type pt,
                    const char *benchmark, const char *name, eval_result *res) {
    double t_start = lr_now();
    eval_ctx c = {.o = o, .env = env, .rank = env->rank, .size = env->size, .pt = pt, .sh = sh, .res = res};

    eval_benchmark_opts bo = {.benchmark = benchmark,
                              .question_field = o->question_field,
                              .answer_field = o->answer_field,
                              .compare = o->compare,
                              .data_dir = o->data_dir,
                              .limit = o->limit,
                              .toolkit = pt != PT_SPEC,
                              .num_shots = (int)o->num_shots};
    int rc = agree(&c, benchmark_load(&c.b, &bo) != 0 ? 2 : 0);
    if (rc) return rc;
    c.name = name ? name : c.b.name;
    if (!valid_name(c.name)) {
        lr_error_set("--name", "'%s' is not a usable group name (letters, digits, '.', '_', '+', '-')", c.name);
        rc = 2;
    }
    if ((rc = agree(&c, rc))) goto finish;
    size_t pl = strlen(o->out) + strlen(c.name) + 32;
    c.parts_dir = xmalloc(pl);
    snprintf(c.parts_dir, pl, "%s.eval-%s.parts", o->out, c.name);

    int state = STATE_FRESH;
    if (c.rank == 0) rc = decide_state(&c, &state);
    if ((rc = agree(&c, rc))) goto finish;
    bcast(&c, &state, 1, MPI_INT);
    if (state == STATE_COMPLETE) {
        if (c.rank == 0) print_existing(&c);
        goto finish;
    }

    if ((rc = agree(&c, load_model(&c)))) goto finish;
    if ((rc = agree(&c, encode_prompts(&c)))) goto finish;
    c.chunk = o->chunk > 0 ? o->chunk : 4 * o->batch;
    c.n_chunks = (c.b.n + c.chunk - 1) / c.chunk;
    make_fingerprint(&c);
    if (c.rank == 0) rc = prepare_parts(&c, state);
    if ((rc = agree(&c, rc))) goto finish;

    char *done = xcalloc((size_t)c.n_chunks, 1);
    if (c.rank == 0) scan_done(&c, done);
    bcast(&c, done, (int)c.n_chunks, MPI_CHAR);
    long start_done = 0, remaining = 0;
    for (long k = 0; k < c.n_chunks; k++) {
        if (done[k]) start_done += chunk_hi(&c, k) - chunk_lo(&c, k);
        else remaining++;
    }
    if (c.rank == 0) {
        snprintf(c.label, sizeof c.label, "eval %s", c.name);
        progress_init(&c.progress, c.label, c.b.n, start_done, o->quiet);
        if (!o->quiet)
            fprintf(stderr, "eval %s: %ld problems from %s, %ld chunks of %ld (%ld to do) on %d rank%s\n", c.name,
                    c.b.n, c.b.path, c.n_chunks, c.chunk, remaining, c.size, c.size == 1 ? "" : "s");
    }

    /* Static interleaving of the remaining chunks: deterministic, no
     * coordination, and the chunk -> problems map never depends on the rank
     * count, so the results are identical for any number of ranks. */
    long j = 0, mine = 0;
    for (long k = 0; k < c.n_chunks && !lr_stop_requested(); k++) { /* SIGTERM/SIGUSR1: after this chunk */
        if (done[k]) continue;
        if (j++ % c.size == c.rank) {
            run_chunk(&c, k);
            lr_signal_test_hook("chunk", ++mine);
        }
    }
    free(done);

    /* Rank 0 keeps reporting while the others finish. */
    if (env->use_mpi) {
        MPI_Request req;
        MPI_CHECK(MPI_Ibarrier(env->comm, &req));
        for (int flag = 0;;) {
            MPI_CHECK(MPI_Test(&req, &flag, MPI_STATUS_IGNORE));
            if (flag) break;
            tick(&c, 0);
            usleep(20000);
        }
    }
    if (lr_stop_any(env->use_mpi, env->comm)) { /* the finished chunks stay for --resume */
        if (c.rank == 0) {
            progress_end(&c.progress);
            fprintf(stderr, "lightreasoner: eval %s: interrupted by %s; finished chunks kept in %s; run the same "
                            "command with --resume to continue (exit %d)\n", c.name, lr_stop_signal_name(),
                    c.parts_dir, LR_EXIT_INTERRUPTED);
        }
        rc = LR_EXIT_INTERRUPTED;
        goto finish;
    }
    if (c.rank == 0) {
        tick(&c, 1);
        progress_end(&c.progress);
        lr_error_clear();
        rc = assemble(&c, t_start);
        if (rc) fprintf(stderr, "lightreasoner: error: %s\n", lr_error_msg());
    }
    bcast(&c, &rc, 1, MPI_INT);
finish:
    cleanup(&c);
    return rc;
}

/* The paper's Table 1: accuracy (%) per benchmark and their mean, the
 * Wilson 95% interval of each under it. */
static void print_paper_table(const eval_opts *o, const eval_result *r, tk_prompt_type pt) {
    printf("\nTable 1 (as in the paper: greedy, Qwen2.5-Math toolkit protocol, prompt %s)\n\n",
           tk_prompt_type_name(pt));
    printf("| model |");
    for (int i = 0; i < EVAL_PAPER_N; i++) printf(" %s |", eval_paper_titles[i]);
    printf(" Avg. |\n|---|");
    for (int i = 0; i <= EVAL_PAPER_N; i++) printf("---:|");
    const char *m = strrchr(o->model_dir, '/');
    m = m && m[1] ? m + 1 : o->model_dir;
    printf("\n| %s%s |", m, o->adapter ? " + adapter" : "");
    double sum = 0;
    for (int i = 0; i < EVAL_PAPER_N; i++) {
        printf(" %.1f |", 100 * r[i].acc);
        sum += r[i].acc;
    }
    printf(" %.1f |\n| 95%% CI |", 100 * sum / EVAL_PAPER_N);
    for (int i = 0; i < EVAL_PAPER_N; i++) printf(" %.1f–%.1f |", 100 * r[i].lo, 100 * r[i].hi);
    printf(" |\n| problems |");
    for (int i = 0; i < EVAL_PAPER_N; i++) printf(" %ld |", r[i].n);
    printf(" |\n");
    fflush(stdout);
}

int eval_run(const eval_opts *o, const lr_mpi_env *env) {
    int paper = !strcmp(o->benchmark, EVAL_PAPER);
    tk_prompt_type pt = paper ? PT_QWEN25_MATH_COT : PT_SPEC;
    if (o->prompt_type && tk_prompt_type_parse(o->prompt_type, &pt) != 0) {
        if (env->rank == 0)
            fprintf(stderr, "lightreasoner: error: --prompt-type: expected spec, qwen25-math-cot, direct or cot, got "
                            "'%s'\n", o->prompt_type);
        return 2;
    }
    if (pt == PT_SPEC && o->num_shots > 0) {
        if (env->rank == 0)
            fprintf(stderr, "lightreasoner: error: --num-shots: demonstrations go into the toolkit's prompt types "
                            "(--prompt-type qwen25-math-cot, direct or cot), not 'spec'\n");
        return 2;
    }
    eval_shared sh = {0};
    int rc = 0;
    if (!paper) {
        eval_result r = {0};
        rc = eval_one(o, env, &sh, pt, o->benchmark, o->name, &r);
    } else {
        if (o->question_field || o->answer_field) {
            if (env->rank == 0)
                fprintf(stderr, "lightreasoner: error: --benchmark paper: --question-field/--answer-field apply to "
                                "a single benchmark file\n");
            return 2;
        }
        eval_result r[EVAL_PAPER_N] = {{0}};
        for (int i = 0; i < EVAL_PAPER_N && rc == 0; i++) {
            char name[256];
            if (o->name) snprintf(name, sizeof name, "%s.%s", o->name, eval_paper_benchmarks[i]);
            else snprintf(name, sizeof name, "%s", eval_paper_benchmarks[i]);
            rc = eval_one(o, env, &sh, pt, eval_paper_benchmarks[i], name, &r[i]);
        }
        if (rc == 0 && env->rank == 0) print_paper_table(o, r, pt);
    }
    if (sh.model) model_free(sh.model);
    if (sh.tok) tokenizer_free(sh.tok);
    return rc;
}
