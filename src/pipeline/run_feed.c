#define _POSIX_C_SOURCE 200809L
#include "pipeline/run_feed.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/mpi_env.h"
#include "common/signals.h"
#include "io/runfile.h"

int run_feed_next(void *ctx, tr_data *d) {
    run_feed *f = ctx;
    if (f->next >= f->n_chunks) return 1;
    char *path = runfile_shard_path(f->shard_dir, f->next);
    const double t0 = lr_now();
    char *stop = lr_path_join(f->shard_dir, RUN_FEED_STOP_MARK);
    while (!lr_file_exists(path)) {
        /* SIGTERM/SIGUSR1 here, or sampling stopped for one (the marker):
         * no more shards come; the trainer saves its state and stops */
        if (lr_stop_requested() || (lr_file_exists(stop) && (lr_stop_note(SIGTERM), 1))) {
            lr_error_set(path, "interrupted while waiting for this shard");
            free(stop);
            free(path);
            return -1;
        }
        /* a scorer renames the shard into place when it is complete */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(stop);
    f->waited += lr_now() - t0;
    lr_chunk c;
    int rc = runfile_shard_read(path, &c);
    if (rc == 0) {
        if (c.chunk != f->next) {
            lr_error_set(path, "holds chunk %lld, expected %lld", (long long)c.chunk, (long long)f->next);
            rc = -1;
        } else {
            rc = tr_data_append_chunk(d, &c, &f->method);
        }
        chunk_free(&c);
    }
    free(path);
    if (rc != 0) return -1;
    f->next++;
    return 0;
}
