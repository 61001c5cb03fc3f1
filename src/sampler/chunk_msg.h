/* MPI transport of generated chunks, sampler -> scorer.
 *
 * A chunk travels as: a header (MPI_Issend: it completes only once the
 * scorer has taken it, which a scorer does only when it is ready for more
 * work — the back-pressure), the trace description (one packed byte
 * message: token ids, lengths, text), then, with rows (--transport rows),
 * every trace's expert logits rows (fp32, in pieces of at most 2^27
 * floats). With ids the header has its own tag and nothing follows the
 * description: the scorer reads the expert itself (scorer.h). The sender
 * keeps the chunk until every request has completed; the per-token poll of
 * the sampler drives progress meanwhile. */
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
    TAG_CHUNK_IDS = 109,    /* sampler -> scorer: a header whose chunk comes without logits rows */
};

typedef struct {
    int64_t hdr[8];
    char *meta;
    MPI_Request *req;
    int n_req;
    int64_t bytes; /* bytes this chunk puts on the wire */
} lr_chunk_send;

/* Starts sending c to rank dest of comm (c must stay alive until done):
 * with its expert logits rows when c->logits is set (header TAG_CHUNK_HDR),
 * else the trace description only (header TAG_CHUNK_IDS). */
void chunk_send_start(lr_chunk_send *cs, const lr_chunk *c, int dest, MPI_Comm comm);
/* Progress; returns 1 once everything was sent (or nothing is pending). */
int chunk_send_test(lr_chunk_send *cs);
void chunk_send_wait(lr_chunk_send *cs);

/* Receives the chunk whose header is the next message with tag hdr_tag
 * (TAG_CHUNK_HDR: logits rows follow; TAG_CHUNK_IDS: c->logits stays NULL)
 * from src (blocking). Returns the bytes received. */
int64_t chunk_recv(int src, int hdr_tag, MPI_Comm comm, lr_chunk *c);

#endif
