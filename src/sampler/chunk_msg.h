/* MPI transport of generated chunks, sampler -> scorer.
 *
 * A chunk travels as: a header (MPI_Issend: it completes only once the
 * scorer has taken it, which a scorer does only when it is ready for more
 * work — the back-pressure), the trace description (one packed byte
 * message), then every trace's expert logits rows (fp32, in pieces of at
 * most 2^27 floats). The sender keeps the chunk until every request has
 * completed; the per-token poll of the sampler drives progress meanwhile. */
#ifndef LR_CHUNK_MSG_H
#define LR_CHUNK_MSG_H

#include <mpi.h>
#include <stdint.h>

#include "io/chunk.h"

enum {
    TAG_WORK_REQ = 101,   /* sampler -> coordinator: give me a chunk */
    TAG_WORK = 102,       /* coordinator -> sampler: int64 chunk id, -1 = no more */
    TAG_CHUNK_HDR = 103,  /* sampler -> scorer */
    TAG_CHUNK_META = 104,
    TAG_CHUNK_LOGITS = 105,
    TAG_SAMPLER_DONE = 106, /* sampler -> every scorer: no more chunks from me */
    TAG_STATS = 107,        /* scorer -> coordinator: a chunk is on disk */
    TAG_SCORER_DONE = 108,  /* scorer -> coordinator */
};

typedef struct {
    int64_t hdr[8];
    char *meta;
    MPI_Request *req;
    int n_req;
    int64_t bytes; /* bytes this chunk puts on the wire */
} lr_chunk_send;

/* Starts sending c to rank dest of comm (c must stay alive until done). */
void chunk_send_start(lr_chunk_send *cs, const lr_chunk *c, int dest, MPI_Comm comm);
/* Progress; returns 1 once everything was sent (or nothing is pending). */
int chunk_send_test(lr_chunk_send *cs);
void chunk_send_wait(lr_chunk_send *cs);

/* Receives the chunk whose header is the next TAG_CHUNK_HDR message from
 * src (blocking). Returns the bytes received. */
int64_t chunk_recv(int src, MPI_Comm comm, lr_chunk *c);

#endif
