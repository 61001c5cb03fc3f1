/* Where a `sample` run stands on disk, decided once by rank 0 before any
 * work: fresh, resumable (shards of an interrupted run whose configuration
 * matches), or already complete. Nothing that exists is modified when the
 * answer is an error. */
#ifndef LR_RUN_STATE_H
#define LR_RUN_STATE_H

#include <stdint.h>

typedef enum { RUN_FRESH = 0, RUN_RESUME = 1, RUN_COMPLETE = 2 } lr_run_kind;

typedef struct {
    lr_run_kind kind;
    int64_t *done; /* (n_done) chunk ids with a complete shard (RUN_RESUME) */
    int n_done;
} lr_run_state;

/* The resume-relevant configuration: the resolved flags minus those that
 * cannot change the sampled data (resume, overwrite, quiet, role counts,
 * threads, score-rows, transport, alpha, beta, out, config), plus the problems file's
 * digest and count. Malloc'd JSON. */
char *run_resume_key(const char *args_json, uint64_t problems_digest, int n_problems);

/* 0 when equal; else -1 + lr_error(where) naming the first differing key. */
int run_resume_key_check(const char *stored, const char *current, const char *where);

/* Decides the state and prepares the shard directory:
 *   out exists:   --resume: must be a complete run file with the same key
 *                 (-> RUN_COMPLETE); without --resume/--overwrite: error;
 *   shards exist: --resume: manifest key must match (-> RUN_RESUME, the
 *                 complete shards listed); --overwrite: cleared; else error;
 *   neither:      directory + manifest created (RUN_FRESH).
 * 0 ok; -1 + lr_error. */
int run_state_prepare(const char *out, const char *shard_dir, const char *key, int resume, int overwrite,
                      lr_run_state *st);
void run_state_free(lr_run_state *st);

/* Removes the shards, the manifest and the directory after a join. */
void run_state_cleanup(const char *shard_dir);

#endif
