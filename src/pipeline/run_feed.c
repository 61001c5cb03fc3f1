#define _POSIX_C_SOURCE 200809L
#include "pipeline/run_feed.h"

#include <stdlib.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/mpi_env.h"
#include "io/runfile.h"

int run_feed_next(void *ctx, tr_data *d) {
    run_feed *f = ctx;
    if (f->next >= f->n_chunks) return 1;
    char *path = runfile_shard_path(f->shard_dir, f->next);
    const double t0 = lr_now();
    while (!lr_file_exists(path)) {
        /* a scorer renames the shard into place when it is complete */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    f->waited += lr_now() - t0;
    lr_chunk_result c;
    int rc = runfile_shard_read(path, &c);
    if (rc == 0) {
        if (c.chunk != f->next) {
            lr_error_set(path, "holds chunk %lld, expected %lld", (long long)c.chunk, (long long)f->next);
            rc = -1;
        } else {
            rc = tr_data_append_chunk(d, &c, f->alpha, f->beta);
        }
        chunk_result_free(&c);
    }
    free(path);
    if (rc != 0) return -1;
    f->next++;
    return 0;
}
