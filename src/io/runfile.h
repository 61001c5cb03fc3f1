/* The run file of the sampling stage (SPEC §4; layout in docs/runfile.md).
 *
 * Writing happens in two phases so that a many-rank job never serialises on
 * one file and a crash never loses completed work:
 *   1. each scorer writes every completed chunk (a fixed block of `batch`
 *      consecutive problems) as its own shard file
 *      <out>.shards/chunk-<id>.h5, written under a temporary name and
 *      renamed, so a shard is either complete or absent;
 *   2. rank 0 joins the shards in problem order into <out> (again temporary
 *      name + rename; restartable: the shards stay until <out> exists).
 * The joined content depends only on the problems and the configuration,
 * never on the number of ranks or on timing. */
#ifndef LR_RUNFILE_H
#define LR_RUNFILE_H

#include <stddef.h>
#include <stdint.h>

#include "io/problems.h"
#include "scorer/contrast.h"

#define LR_RUN_SCHEMA "lightreasoner.run"
#define LR_RUN_SCHEMA_VERSION 1
#define LR_SHARD_SCHEMA "lightreasoner.run.shard"

/* /problems/status */
enum { PROBLEM_SAMPLED = 0, PROBLEM_SKIPPED_CONTEXT = 1 };
/* /traces/finish_reason (0..2 and 4 = lr_finish_reason of the model runtime) */
enum { TRACE_EOS = 0, TRACE_LENGTH = 1, TRACE_CONTEXT = 2, TRACE_AMATEUR_VOCAB = 3, TRACE_NONFINITE = 4 };

/* One scored chunk (what a scorer writes as a shard). Steps are stored
 * trace-major: trace i owns rows [sum_{j<i} n_generated[j], ... + n_generated[i]). */
typedef struct {
    int64_t chunk;         /* chunk id */
    int64_t first_problem; /* problems [first_problem, first_problem + n_problems) */
    int n_problems;
    int8_t *problem_status; /* (n_problems) PROBLEM_* */

    int n_traces;          /* one per sampled problem, in problem order */
    int64_t *trace_problem; /* (n_traces) global problem index */
    int32_t *prompt_len;    /* (n_traces) */
    int32_t *n_generated;   /* (n_traces) = scored steps */
    int8_t *finish;         /* (n_traces) TRACE_* */
    int64_t *token_offsets; /* (n_traces + 1) into tokens */
    int32_t *tokens;        /* (token_offsets[n_traces]) prompt ids then generated ids */
    char **text;            /* (n_traces) decoded generated text (special tokens skipped) */

    int64_t n_steps;        /* sum n_generated */
    lr_step_div *div;       /* (n_steps) */
    int64_t *cand_offsets;  /* (n_steps + 1) into cand */
    lr_cand_buf cand;

    /* statistics for progress (not stored) */
    int64_t n_selected;     /* steps with KL >= beta */
    int64_t n_nonfinite;    /* steps recorded as non-finite (KL NaN: NaN/Inf logits) */
} lr_chunk_result;

void chunk_result_free(lr_chunk_result *c);

/* ---- shards */
/* "<out>.shards" (malloc'd). */
char *runfile_shard_dir(const char *out_path);
/* "<dir>/chunk-<id>.h5" (malloc'd). */
char *runfile_shard_path(const char *dir, int64_t chunk);
/* Writes <dir>/chunk-<id>.h5 atomically. store_alpha and the writer rank
 * are recorded as attributes. Failures are internal (exit 1). */
void runfile_shard_write(const char *dir, const lr_chunk_result *c, double store_alpha, int writer_rank);
/* Reads a shard back. 0 ok; -1 + lr_error(path) for a damaged shard. */
int runfile_shard_read(const char *path, lr_chunk_result *c);
/* Ids of the complete shards in dir (sorted). Temporary files of a crashed
 * run are removed; shards that cannot be read are renamed to *.bad with a
 * warning (their chunks are redone). *ids malloc'd. */
int runfile_shard_scan(const char *dir, int64_t **ids, int *n);

/* ---- manifest: the resume-relevant configuration of a run in progress */
/* Writes <dir>/manifest.json atomically. 0 ok, else lr_error. */
int runfile_manifest_write(const char *dir, const char *config_json);
/* Reads it; NULL + lr_error when absent or unreadable. */
char *runfile_manifest_read(const char *dir);

/* ---- the joined run file */
typedef struct {
    const char *config_json;  /* resolved flags (args_to_json) */
    const char *resume_key;   /* resume-relevant configuration (JSON) */
    const char *command_line;
    const char *expert_dir, *amateur_dir, *problems_path;
    int vocab_expert, vocab_amateur;
    double store_alpha, alpha, beta;
    long n_bad_lines;
    const char *train_from; /* NULL, or a file whose /train group the join copies in (`run`) */
} lr_run_meta;

/* Joins every chunk [0, n_chunks) of dir into out_path (temporary name +
 * rename). 0 ok; -1 + lr_error when a shard is missing or damaged. */
int runfile_join(const char *out_path, const char *dir, const lr_problem_set *ps, int64_t n_chunks,
                 const lr_run_meta *meta);

/* Opens a complete run file read-only, checking schema and the `complete`
 * mark. Returns the file id or -1 + lr_error. */
int64_t runfile_open_read(const char *path);

/* ---- samples (SPEC §2 selection + labels from the stored candidates) */
/* Rebuilds /samples of an existing run file with new alpha/beta without a
 * model: writes a new file (every other object copied) and renames it over
 * the old one. alpha < the stored store_alpha is refused. 0 ok; -1 + lr_error. */
int runfile_select(const char *path, double alpha, double beta, const char *command_line, int64_t *n_samples,
                   int64_t *n_steps);

#endif
