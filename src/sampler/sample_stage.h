/* The sampling stage as a reusable piece: what `sample` runs on every rank
 * and what the sampler/scorer ranks of `run` run (SPEC §2-4).
 *
 * Order of events, on every rank of env:
 *   1. setup: rank 0 checks the inputs (problems, model configs, tokenizers,
 *      the output's state for --resume) and broadcasts what others need;
 *      each rank loads the model of its role. Errors are agreed on over env
 *      (one message, exit code 2);
 *   2. run: the pipeline writes one shard per chunk (pipeline.h);
 *   3. join (rank 0): the shards become the run file, optionally with a
 *      /train group copied in (`run`). */
#ifndef LR_SAMPLE_STAGE_H
#define LR_SAMPLE_STAGE_H

#include <stdint.h>

#include "common/mpi_env.h"
#include "io/problems.h"
#include "io/runfile.h"
#include "model/model.h"
#include "sampler/pipeline.h"
#include "sampler/run_state.h"
#include "sampler/sampler.h"
#include "scorer/scorer.h"
#include "tokenizer/tokenizer.h"

/* --transport: what a sampler sends its scorer (chunk_msg.h). rows: every
 * step's expert logits row; ids: the token ids only, the scorer runs the
 * expert teacher-forced itself (it then holds both models); auto: ids when
 * the sampler's expert computes on a GPU (no host memory), rows on the CPU.
 * Both give the same bits on the CPU; on a GPU the scores agree to the bf16
 * numerics (docs/pipeline.md, "Sampler → scorer transport"). */
typedef enum { LR_TRANSPORT_AUTO = 0, LR_TRANSPORT_ROWS = 1, LR_TRANSPORT_IDS = 2 } lr_transport;

/* "rows", "ids", "auto" -> *out; -1 for anything else (NULL included). */
int sample_transport_parse(const char *s, lr_transport *out);

typedef struct {
    const char *expert, *amateur, *problems, *question_field, *answer_field, *id_field, *system, *chat_template, *out;
    const char *transport; /* rows, ids or auto (lr_transport) */
    long max_problems, max_new_tokens, seed, batch, samplers, scorers, threads, score_rows;
    double alpha, beta, store_alpha, temperature, top_p;
    int skip_bad_lines, resume, overwrite, quiet;
    /* the method's rules (method.h; the paper's ablations): --select,
     * --labels (NULL = kl / contrast), --sft, --select-seed */
    const char *select, *labels;
    long select_seed;
    int sft;
} sample_opts;

/* The defaults of every flag (SPEC §2). */
sample_opts sample_opts_default(void);
/* Checks --select/--labels/--sft and writes the resolved rule back (select
 * and labels named, sft folded into them), so the run file's config records
 * what ran. 0, or -1 + lr_error naming the flag. */
int sample_opts_resolve_rules(sample_opts *o, const char *who);
/* The method o describes (alpha, beta and the resolved rules). */
lr_method sample_opts_method(const sample_opts *o);
/* Checks --transport. 0, or -1 + lr_error naming the flag. */
int sample_opts_check_transport(const sample_opts *o);

typedef struct {
    const sample_opts *o;
    const lr_mpi_env *env;
    const char *args_json, *command_line;
    char *shard_dir;
    char *key;            /* resume-relevant configuration (JSON), all ranks after setup */
    lr_run_kind kind;     /* all ranks after setup */
    int n_problems;       /* all ranks after setup */
    int64_t n_chunks;     /* all ranks after setup */
    int vocab_expert, vocab_amateur, ctx_limit;
    char **questions;     /* (n_problems) */
    lr_problem_set ps;    /* rank 0 */
    lr_run_state st;      /* rank 0 */
    lr_pipeline pl;
    lr_model *expert, *amateur; /* a scorer rank holds the expert too when samplers send ids */
    lr_tokenizer *tok;
    lr_sampler sa;
    lr_scorer sc;
    const char *wire;     /* all ranks after setup: what the samplers send, "rows", "ids" or "rows and ids" */
    lr_pipeline_stats stats;
} sample_stage;

/* Step 1 (collective over env). Returns the agreed exit code. With
 * kind == RUN_COMPLETE the run file is already complete: no model is
 * loaded and run/join must be skipped. */
int sample_stage_setup(sample_stage *s, const sample_opts *o, const char *args_json, const char *command_line,
                       const lr_mpi_env *env);
/* Step 2 (collective over env): every pending chunk's shard is on disk. */
/* Samples the pending chunks. 0, or LR_EXIT_INTERRUPTED (collective) when
 * a SIGTERM/SIGUSR1 stopped it after the chunks in flight (their shards are
 * written; --resume samples the rest). */
int sample_stage_run(sample_stage *s);
/* Frees the models (the trainer of a one-process `run` needs the memory). */
void sample_stage_free_models(sample_stage *s);
/* Step 3, rank 0 only: joins the shards into o->out (with /train of
 * train_from when not NULL), removes the shards and prints the summary.
 * 0 or -1 + lr_error. */
int sample_stage_join(sample_stage *s, const char *train_from);
/* For RUN_COMPLETE: brings /samples of the complete file to this alpha and
 * beta (rank 0). 0 or -1 + lr_error. */
int sample_stage_reselect(sample_stage *s);
void sample_stage_free(sample_stage *s);

#endif
