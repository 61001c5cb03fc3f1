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
#include "io/chunk.h"
#include "method/method.h"

#define LR_RUN_SCHEMA "lightreasoner.run"
#define LR_RUN_SCHEMA_VERSION 1
#define LR_SHARD_SCHEMA "lightreasoner.run.shard"


/* ---- shards */
/* "<out>.shards" (malloc'd). */
char *runfile_shard_dir(const char *out_path);
/* "<dir>/chunk-<id>.h5" (malloc'd). */
char *runfile_shard_path(const char *dir, int64_t chunk);
/* Writes <dir>/chunk-<id>.h5 atomically. store_alpha and the writer rank
 * are recorded as attributes. Failures are internal (exit 1). */
void runfile_shard_write(const char *dir, const lr_chunk *c, double store_alpha, int writer_rank);
/* Reads a shard back. 0 ok; -1 + lr_error(path) for a damaged shard. */
int runfile_shard_read(const char *path, lr_chunk *c);
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
    double store_alpha;
    lr_method method;         /* selection + labels of /samples */
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

/* ---- samples (SPEC §2 selection + labels from the stored candidates, method/method.h) */
/* Rebuilds /samples of an existing run file under method m (new alpha,
 * beta) without a model: writes a new file (every other object copied) and
 * renames it over the old one. alpha < the stored store_alpha is refused.
 * 0 ok; -1 + lr_error. */
int runfile_select(const char *path, const lr_method *m, const char *command_line, int64_t *n_samples,
                   int64_t *n_steps);

#endif
