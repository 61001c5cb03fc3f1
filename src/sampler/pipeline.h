/* The sampling stage's process layout (SPEC §3, issue 4).
 *
 * One process without a launcher (or a world of 1) plays both roles:
 * generate a chunk, score it, write its shard, repeat. With MPI, ranks
 * [0, n_scorers) are scorers and [n_scorers, n_scorers + n_samplers)
 * samplers; rank 0 is also the coordinator that owns the work queue (chunk
 * ids in order; samplers ask for one and keep one request in flight) and
 * prints progress. Sampler -> scorer traffic is chunk-granular (chunk c goes
 * to scorer c mod n_scorers) with back-pressure (chunk_msg.h): the traces
 * with their expert logits rows, or only the ids when the sampler keeps no
 * rows (lr_sampler.ids_only; the scorer then needs lr_scorer.expert). Every scorer
 * writes the shards of the chunks it scored; rank 0 joins them at the end. */
#ifndef LR_PIPELINE_H
#define LR_PIPELINE_H

#include <stdint.h>

#include "common/mpi_env.h"
#include "sampler/sampler.h"
#include "scorer/scorer.h"

typedef struct {
    const char *shard_dir;
    int64_t *pending;  /* (n_pending) chunk ids still to do, ascending (rank 0) */
    int64_t n_pending;
    int n_samplers, n_scorers;
    int n_problems;
    int64_t done_problems; /* already in shards when the run starts (rank 0) */
    double store_alpha;
    int quiet;
} lr_pipeline;

typedef struct {
    int64_t problems, traces, gen_tokens, steps, selected;
    int64_t nonfinite;    /* steps with NaN/Inf logits (recorded, never selected) */
    int64_t bytes_sent;   /* sampler -> scorer traffic (MPI only) */
    double seconds;
} lr_pipeline_stats;

/* Role of this rank: 1 sampler, 2 scorer, 3 both (one process), 0 idle. */
int pipeline_role(const lr_mpi_env *e, const lr_pipeline *p);

/* Runs this rank's part. sampler / scorer are NULL unless the role needs
 * them. On return every shard of the pending chunks is on disk. Failures
 * during the run are fatal (message, then exit or MPI_Abort). stats are
 * meaningful on rank 0. */
void pipeline_run(const lr_mpi_env *e, const lr_pipeline *p, lr_sampler *sampler, const lr_scorer *scorer,
                  lr_pipeline_stats *stats);

#endif
