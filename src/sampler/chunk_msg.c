#include "sampler/chunk_msg.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"

#define PIECE_FLOATS ((int64_t)1 << 27)

/* header: chunk, first_problem, n_problems, n_traces, vocab_expert, n_tokens, meta_bytes, text_bytes */

static size_t meta_size(const lr_chunk *g, int64_t ntok, int64_t text_bytes) {
    size_t nt = (size_t)g->n_traces;
    return (size_t)g->n_problems + nt * (8 + 4 + 4 + 1) + (nt + 1) * 8 + (size_t)ntok * 4 + (size_t)text_bytes;
}

#define PUT(p, src, bytes) (memcpy((p), (src), (bytes)), (p) += (bytes))
#define GET(dst, p, bytes) (memcpy((dst), (p), (bytes)), (p) += (bytes))

static int n_pieces(int64_t floats) { return (int)((floats + PIECE_FLOATS - 1) / PIECE_FLOATS); }

void chunk_send_start(lr_chunk_send *cs, const lr_chunk *g, int dest, MPI_Comm comm) {
    memset(cs, 0, sizeof *cs);
    const int nt = g->n_traces;
    int64_t ntok = g->token_offsets[nt], text_bytes = 0;
    for (int i = 0; i < nt; i++) text_bytes += (int64_t)strlen(g->text[i]) + 1;
    size_t ms = meta_size(g, ntok, text_bytes);
    int64_t h[8] = {g->chunk, g->first_problem, g->n_problems, nt, g->vocab_expert, ntok, (int64_t)ms, text_bytes};
    memcpy(cs->hdr, h, sizeof h);
    LR_CHECK(ms < (size_t)1 << 31, "chunk description too large for one message (%zu bytes)", ms);
    char *p = cs->meta = xmalloc(ms ? ms : 1);
    PUT(p, g->problem_status, (size_t)g->n_problems);
    PUT(p, g->trace_problem, (size_t)nt * 8);
    PUT(p, g->prompt_len, (size_t)nt * 4);
    PUT(p, g->n_generated, (size_t)nt * 4);
    PUT(p, g->finish, (size_t)nt);
    PUT(p, g->token_offsets, (size_t)(nt + 1) * 8);
    PUT(p, g->tokens, (size_t)ntok * 4);
    for (int i = 0; i < nt; i++) PUT(p, g->text[i], strlen(g->text[i]) + 1);
    int nreq = 2;
    for (int i = 0; i < nt; i++) nreq += n_pieces((int64_t)g->n_generated[i] * g->vocab_expert);
    cs->req = xmalloc((size_t)nreq * sizeof *cs->req);
    MPI_CHECK(MPI_Issend(cs->hdr, 8, MPI_INT64_T, dest, TAG_CHUNK_HDR, comm, &cs->req[cs->n_req++]));
    MPI_CHECK(MPI_Isend(cs->meta, (int)ms, MPI_BYTE, dest, TAG_CHUNK_META, comm, &cs->req[cs->n_req++]));
    cs->bytes = (int64_t)sizeof cs->hdr + (int64_t)ms;
    for (int i = 0; i < nt; i++) {
        int64_t total = (int64_t)g->n_generated[i] * g->vocab_expert;
        for (int64_t o = 0; o < total; o += PIECE_FLOATS) {
            int64_t k = total - o < PIECE_FLOATS ? total - o : PIECE_FLOATS;
            MPI_CHECK(MPI_Isend(g->logits[i] + o, (int)k, MPI_FLOAT, dest, TAG_CHUNK_LOGITS, comm,
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

int64_t chunk_recv(int src, MPI_Comm comm, lr_chunk *g) {
    memset(g, 0, sizeof *g);
    int64_t h[8];
    MPI_CHECK(MPI_Recv(h, 8, MPI_INT64_T, src, TAG_CHUNK_HDR, comm, MPI_STATUS_IGNORE));
    g->chunk = h[0];
    g->first_problem = h[1];
    g->n_problems = (int)h[2];
    const int nt = g->n_traces = (int)h[3];
    g->vocab_expert = (int)h[4];
    int64_t ntok = h[5], ms = h[6];
    char *meta = xmalloc((size_t)(ms ? ms : 1));
    MPI_CHECK(MPI_Recv(meta, (int)ms, MPI_BYTE, src, TAG_CHUNK_META, comm, MPI_STATUS_IGNORE));
    const char *p = meta;
    size_t ntz = (size_t)(nt ? nt : 1);
    g->problem_status = xmalloc((size_t)(g->n_problems ? g->n_problems : 1));
    g->trace_problem = xmalloc(ntz * 8);
    g->prompt_len = xmalloc(ntz * 4);
    g->n_generated = xmalloc(ntz * 4);
    g->finish = xmalloc(ntz);
    g->token_offsets = xmalloc((size_t)(nt + 1) * 8);
    g->tokens = xmalloc((size_t)(ntok ? ntok : 1) * 4);
    g->text = xcalloc(ntz, sizeof *g->text);
    g->logits = xcalloc(ntz, sizeof *g->logits);
    GET(g->problem_status, p, (size_t)g->n_problems);
    GET(g->trace_problem, p, (size_t)nt * 8);
    GET(g->prompt_len, p, (size_t)nt * 4);
    GET(g->n_generated, p, (size_t)nt * 4);
    GET(g->finish, p, (size_t)nt);
    GET(g->token_offsets, p, (size_t)(nt + 1) * 8);
    GET(g->tokens, p, (size_t)ntok * 4);
    for (int i = 0; i < nt; i++) {
        g->text[i] = xstrdup(p);
        p += strlen(p) + 1;
    }
    LR_CHECK(p == meta + ms, "chunk description of %lld bytes parsed to %lld", (long long)ms, (long long)(p - meta));
    free(meta);
    int64_t bytes = (int64_t)sizeof h + ms;
    for (int i = 0; i < nt; i++) {
        int64_t total = (int64_t)g->n_generated[i] * g->vocab_expert;
        g->logits[i] = xmalloc((size_t)(total ? total : 1) * sizeof(float));
        for (int64_t o = 0; o < total; o += PIECE_FLOATS) {
            int64_t k = total - o < PIECE_FLOATS ? total - o : PIECE_FLOATS;
            MPI_CHECK(MPI_Recv(g->logits[i] + o, (int)k, MPI_FLOAT, src, TAG_CHUNK_LOGITS, comm,
                               MPI_STATUS_IGNORE));
        }
        bytes += total * 4;
    }
    return bytes;
}
