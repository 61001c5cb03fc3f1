/* The trainer ranks' view of the sampling in progress (`run`): the scored
 * chunks, in chunk order, read from the shards the scorers write (shared
 * file system). A shard appears by an atomic rename once it is complete,
 * so a trainer waits for chunk c's file and then reads it; no message from
 * the scorers is needed and a resumed run re-reads what exists. */
#ifndef LR_RUN_FEED_H
#define LR_RUN_FEED_H

#include <stdint.h>

#include "trainer/train_data.h"

typedef struct {
    const char *shard_dir;
    int64_t next, n_chunks;
    lr_method method; /* selection + labels of the samples */
    double waited; /* seconds spent waiting for shards */
} run_feed;

/* tr_feed_fn: appends chunk f->next to d (waiting for its shard). */
/* In the shard directory while sampling is stopped by a signal (`run`
 * writes it, and removes it when the job starts again): the trainers stop
 * waiting for shards. Named like a shard so that the cleanup removes it
 * and the shard listing skips it. */
#define RUN_FEED_STOP_MARK "chunk-interrupted"

int run_feed_next(void *f, tr_data *d);

#endif
