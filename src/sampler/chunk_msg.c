#include "sampler/chunk_msg.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"

#define PIECE_FLOATS ((int64_t)1 << 27)

/* header: chunk, first_problem, n_problems, n_traces, vocab_expert, n_tokens, meta_bytes, text_bytes */

static size_t meta_size(const lr_chunk *c, int64_t ntok, int64_t text_bytes) {
    size_t nt = (size_t)c->n_traces;
    return (size_t)c->n_problems + nt * (8 + 4 + 4 + 1) + (nt + 1) * 8 + (size_t)ntok * 4 + (size_t)text_bytes;
}

#define PUT(p, src, bytes) (memcpy((p), (src), (bytes)), (p) += (bytes))
#define GET(dst, p, bytes) (memcpy((dst), (p), (bytes)), (p) += (bytes))

static int n_pieces(int64_t floats) { return (int)((floats + PIECE_FLOATS - 1) / PIECE_FLOATS); }

void chunk_send_start(lr_chunk_send *cs, const lr_chunk *c, int dest, MPI_Comm comm) {
    memset(cs, 0, sizeof *cs);
    const int nt = c->n_traces;
    int64_t ntok = c->token_offsets[nt], text_bytes = 0;
    for (int i = 0; i < nt; i++) text_bytes += (int64_t)strlen(c->text[i]) + 1;
    size_t ms = meta_size(c, ntok, text_bytes);
    int64_t h[8] = {c->chunk, c->first_problem, c->n_problems, nt, c->vocab_expert, ntok, (int64_t)ms, text_bytes};
    memcpy(cs->hdr, h, sizeof h);
    LR_CHECK(ms < (size_t)1 << 31, "chunk description too large for one message (%zu bytes)", ms);
    char *p = cs->meta = xmalloc(ms ? ms : 1);
    PUT(p, c->problem_status, (size_t)c->n_problems);
    PUT(p, c->trace_problem, (size_t)nt * 8);
    PUT(p, c->prompt_len, (size_t)nt * 4);
    PUT(p, c->n_generated, (size_t)nt * 4);
    PUT(p, c->finish, (size_t)nt);
    PUT(p, c->token_offsets, (size_t)(nt + 1) * 8);
    PUT(p, c->tokens, (size_t)ntok * 4);
    for (int i = 0; i < nt; i++) PUT(p, c->text[i], strlen(c->text[i]) + 1);
    const int rows = c->logits != NULL; /* else ids: the scorer reads the expert itself */
    int nreq = 2;
    for (int i = 0; rows && i < nt; i++) nreq += n_pieces((int64_t)c->n_generated[i] * c->vocab_expert);
    cs->req = xmalloc((size_t)nreq * sizeof *cs->req);
    MPI_CHECK(MPI_Issend(cs->hdr, 8, MPI_INT64_T, dest, rows ? TAG_CHUNK_HDR : TAG_CHUNK_IDS, comm,
                         &cs->req[cs->n_req++]));
    MPI_CHECK(MPI_Isend(cs->meta, (int)ms, MPI_BYTE, dest, TAG_CHUNK_META, comm, &cs->req[cs->n_req++]));
    cs->bytes = (int64_t)sizeof cs->hdr + (int64_t)ms;
    for (int i = 0; rows && i < nt; i++) {
        int64_t total = (int64_t)c->n_generated[i] * c->vocab_expert;
        for (int64_t o = 0; o < total; o += PIECE_FLOATS) {
            int64_t k = total - o < PIECE_FLOATS ? total - o : PIECE_FLOATS;
            MPI_CHECK(MPI_Isend(c->logits[i] + o, (int)k, MPI_FLOAT, dest, TAG_CHUNK_LOGITS, comm,
                                &cs->req[cs->n_req++]));
        }
        cs->bytes += total * 4;
    }
}

static void send_release(lr_chunk_send *cs) {
    free(cs->meta);
    free(cs->req);
    cs->meta = NULL;
    cs->req = NULL;
    cs->n_req = 0;
}

int chunk_send_test(lr_chunk_send *cs) {
    if (!cs->n_req) return 1;
    int done = 0;
    MPI_CHECK(MPI_Testall(cs->n_req, cs->req, &done, MPI_STATUSES_IGNORE));
    if (done) send_release(cs);
    return done;
}

void chunk_send_wait(lr_chunk_send *cs) {
    if (!cs->n_req) return;
    MPI_CHECK(MPI_Waitall(cs->n_req, cs->req, MPI_STATUSES_IGNORE));
    send_release(cs);
}

int64_t chunk_recv(int src, int hdr_tag, MPI_Comm comm, lr_chunk *c) {
    memset(c, 0, sizeof *c);
    LR_CHECK(hdr_tag == TAG_CHUNK_HDR || hdr_tag == TAG_CHUNK_IDS, "chunk header tag %d", hdr_tag);
    const int rows = hdr_tag == TAG_CHUNK_HDR;
    int64_t h[8];
    MPI_CHECK(MPI_Recv(h, 8, MPI_INT64_T, src, hdr_tag, comm, MPI_STATUS_IGNORE));
    c->chunk = h[0];
    c->first_problem = h[1];
    c->n_problems = (int)h[2];
    const int nt = c->n_traces = (int)h[3];
    c->vocab_expert = (int)h[4];
    int64_t ntok = h[5], ms = h[6];
    char *meta = xmalloc((size_t)(ms ? ms : 1));
    MPI_CHECK(MPI_Recv(meta, (int)ms, MPI_BYTE, src, TAG_CHUNK_META, comm, MPI_STATUS_IGNORE));
    const char *p = meta;
    size_t ntz = (size_t)(nt ? nt : 1);
    c->problem_status = xmalloc((size_t)(c->n_problems ? c->n_problems : 1));
    c->trace_problem = xmalloc(ntz * 8);
    c->prompt_len = xmalloc(ntz * 4);
    c->n_generated = xmalloc(ntz * 4);
    c->finish = xmalloc(ntz);
    c->token_offsets = xmalloc((size_t)(nt + 1) * 8);
    c->tokens = xmalloc((size_t)(ntok ? ntok : 1) * 4);
    c->text = xcalloc(ntz, sizeof *c->text);
    c->logits = rows ? xcalloc(ntz, sizeof *c->logits) : NULL;
    GET(c->problem_status, p, (size_t)c->n_problems);
    GET(c->trace_problem, p, (size_t)nt * 8);
    GET(c->prompt_len, p, (size_t)nt * 4);
    GET(c->n_generated, p, (size_t)nt * 4);
    GET(c->finish, p, (size_t)nt);
    GET(c->token_offsets, p, (size_t)(nt + 1) * 8);
    GET(c->tokens, p, (size_t)ntok * 4);
    for (int i = 0; i < nt; i++) {
        c->text[i] = xstrdup(p);
        p += strlen(p) + 1;
    }
    LR_CHECK(p == meta + ms, "chunk description of %lld bytes parsed to %lld", (long long)ms, (long long)(p - meta));
    free(meta);
    int64_t bytes = (int64_t)sizeof h + ms;
    for (int i = 0; rows && i < nt; i++) {
        int64_t total = (int64_t)c->n_generated[i] * c->vocab_expert;
        c->logits[i] = xmalloc((size_t)(total ? total : 1) * sizeof(float));
        for (int64_t o = 0; o < total; o += PIECE_FLOATS) {
            int64_t k = total - o < PIECE_FLOATS ? total - o : PIECE_FLOATS;
            MPI_CHECK(MPI_Recv(c->logits[i] + o, (int)k, MPI_FLOAT, src, TAG_CHUNK_LOGITS, comm,
                               MPI_STATUS_IGNORE));
        }
        bytes += total * 4;
    }
    return bytes;
}
