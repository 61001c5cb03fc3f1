#define _POSIX_C_SOURCE 200809L
#include "sampler/pipeline.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "common/crash_point.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/signals.h"
#include "io/runfile.h"
#include "sampler/chunk_msg.h"

int pipeline_role(const lr_mpi_env *e, const lr_pipeline *p) {
    if (e->size == 1) return 3;
    if (e->rank < p->n_scorers) return 2;
    if (e->rank < p->n_scorers + p->n_samplers) return 1;
    return 0;
}

/* A failure in the middle of the run: report, then end the whole job. */
static _Noreturn void fail(const lr_mpi_env *e, const char *what) {
    fprintf(stderr, "lightreasoner: error: %s%s%s\n", what, lr_error_msg()[0] ? ": " : "", lr_error_msg());
    fflush(stderr);
    if (e->use_mpi && e->size > 1) MPI_Abort(e->comm, LR_EXIT_INTERNAL);
    exit(LR_EXIT_INTERNAL);
}

/* Test hooks (resume tests): a stop signal (LR_TEST_SIGNAL_AT=shard:K) or
 * a SIGKILL (LR_TEST_DIE_AT=shard:K) right after this rank's K-th shard. */
static void after_shard_hooks(void) {
    static long written = 0;
    written++;
    lr_signal_test_hook("shard", written);
    lr_crash_point("shard", written);
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- progress (rank 0) */
/* per-chunk statistics message: problems, traces, generated tokens, steps,
 * selected steps, chunk id, non-finite steps */
#define LR_NSTATS 7
typedef struct {
    lr_progress prog;
    lr_pipeline_stats st;
    int64_t done;
} progress_state;

static void progress_tick(progress_state *ps, int force) {
    double el = progress_elapsed(&ps->prog);
    if (el <= 0) el = 1e-9;
    char nf[64] = "";
    if (ps->st.nonfinite) snprintf(nf, sizeof nf, " | %lld non-finite steps", (long long)ps->st.nonfinite);
    progress_update(&ps->prog, ps->done, force, "%.2f traces/s | %.1f gen tok/s | %.1f%% of steps selected%s",
                    (double)ps->st.traces / el, (double)ps->st.gen_tokens / el,
                    ps->st.steps ? 100.0 * (double)ps->st.selected / (double)ps->st.steps : 0.0, nf);
}

static void progress_add(progress_state *ps, const int64_t s[LR_NSTATS], int force) {
    ps->done += s[0];
    ps->st.problems += s[0];
    ps->st.traces += s[1];
    ps->st.gen_tokens += s[2];
    ps->st.steps += s[3];
    ps->st.selected += s[4];
    ps->st.nonfinite += s[6];
    progress_tick(ps, force);
}

static void chunk_stats(const lr_chunk *r, int64_t s[LR_NSTATS]) {
    s[0] = r->n_problems;
    s[1] = r->n_traces;
    s[2] = 0;
    for (int i = 0; i < r->n_traces; i++) s[2] += r->n_generated[i];
    s[3] = r->n_steps;
    s[4] = r->n_selected;
    s[5] = r->chunk;
    s[6] = r->n_nonfinite;
}

/* Scores a generated chunk and writes its shard; fills the stats. */
static void score_and_store(const lr_mpi_env *e, const lr_pipeline *p, const lr_scorer *sc, lr_chunk *c,
                            int64_t s[LR_NSTATS]) {
    if (scorer_score_chunk(sc, c) != 0) fail(e, "scoring failed");
    runfile_shard_write(p->shard_dir, c, p->store_alpha, e->rank);
    chunk_stats(c, s);
    chunk_free(c);
    after_shard_hooks();
}

/* ---- one process, both roles */
static void run_single(const lr_mpi_env *e, const lr_pipeline *p, lr_sampler *sa, const lr_scorer *sc,
                       progress_state *ps) {
    for (int64_t k = 0; k < p->n_pending && !lr_stop_requested(); k++) { /* SIGTERM: after this chunk */
        lr_chunk g;
        if (sampler_run_chunk(sa, p->pending[k], &g) != 0) fail(e, "generation failed");
        int64_t s[LR_NSTATS];
        score_and_store(e, p, sc, &g, s);
        progress_add(ps, s, 0);
    }
}

/* ---- sampler rank */
typedef struct {
    lr_chunk_send *inflight;
    MPI_Request *next_req;
} poll_state;

static void sampler_poll(void *vctx) {
    poll_state *ps = vctx;
    if (ps->inflight) chunk_send_test(ps->inflight);
    if (*ps->next_req != MPI_REQUEST_NULL) {
        int flag = 0;
        MPI_CHECK(MPI_Test(ps->next_req, &flag, MPI_STATUS_IGNORE));
        if (flag) *ps->next_req = MPI_REQUEST_NULL; /* the value is already in place */
    }
}

static void run_sampler(const lr_mpi_env *e, const lr_pipeline *p, lr_sampler *sa, lr_pipeline_stats *st) {
    int64_t dummy = 0, cur = -1, next = -1;
    MPI_Request next_req = MPI_REQUEST_NULL;
    MPI_CHECK(MPI_Send(&dummy, 1, MPI_INT64_T, 0, TAG_WORK_REQ, e->comm));
    MPI_CHECK(MPI_Recv(&cur, 1, MPI_INT64_T, 0, TAG_WORK, e->comm, MPI_STATUS_IGNORE));
    lr_chunk_send inflight = {0};
    lr_chunk held = {0};
    poll_state pst = {&inflight, &next_req};
    sa->poll = sampler_poll;
    /* cppcheck-suppress autoVariables ; reset to NULL before this function returns */
    sa->poll_ctx = &pst;
    while (cur >= 0) {
        /* prefetch the next assignment while this chunk is generated */
        MPI_CHECK(MPI_Send(&dummy, 1, MPI_INT64_T, 0, TAG_WORK_REQ, e->comm));
        MPI_CHECK(MPI_Irecv(&next, 1, MPI_INT64_T, 0, TAG_WORK, e->comm, &next_req));
        lr_chunk g;
        if (sampler_run_chunk(sa, cur, &g) != 0) fail(e, "generation failed");
        chunk_send_wait(&inflight); /* back-pressure: the scorer took the previous chunk */
        chunk_free(&held);
        held = g;
        chunk_send_start(&inflight, &held, (int)(held.chunk % p->n_scorers), e->comm);
        st->bytes_sent += inflight.bytes;
        st->traces += held.n_traces;
        MPI_CHECK(MPI_Wait(&next_req, MPI_STATUS_IGNORE));
        /* SIGTERM/SIGUSR1: stop after this chunk; an assignment already
         * taken stays without a shard, so --resume samples it */
        cur = lr_stop_requested() ? -1 : next;
    }
    chunk_send_wait(&inflight);
    chunk_free(&held);
    sa->poll = NULL;
    sa->poll_ctx = NULL;
    for (int r = 0; r < p->n_scorers; r++)
        MPI_CHECK(MPI_Send(&dummy, 1, MPI_INT64_T, r, TAG_SAMPLER_DONE, e->comm));
}

/* ---- scorer rank (rank 0 also coordinates) */
static void run_scorer(const lr_mpi_env *e, const lr_pipeline *p, const lr_scorer *sc, progress_state *ps) {
    const int coord = e->rank == 0;
    int samplers_done = 0, scorers_done = 0;
    int64_t next_chunk = 0; /* index into p->pending */
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, e->comm, &flag, &st));
        if (!flag) {
            if (samplers_done == p->n_samplers && (!coord || scorers_done == p->n_scorers - 1)) break;
            if (coord) progress_tick(ps, 0);
            sleep_ms(1);
            continue;
        }
        int64_t msg[LR_NSTATS];
        switch (st.MPI_TAG) {
        case TAG_WORK_REQ: {
            LR_CHECK(coord, "work request sent to rank %d", e->rank);
            MPI_CHECK(MPI_Recv(msg, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_WORK_REQ, e->comm, MPI_STATUS_IGNORE));
            /* a stop signal: no new work, the chunks in flight are still scored and stored */
            int64_t c = next_chunk < p->n_pending && !lr_stop_requested() ? p->pending[next_chunk++] : -1;
            MPI_CHECK(MPI_Send(&c, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_WORK, e->comm));
            break;
        }
        case TAG_CHUNK_HDR: /* with the expert's logits rows */
        case TAG_CHUNK_IDS: { /* without: the scorer reads the expert itself */
            lr_chunk g;
            chunk_recv(st.MPI_SOURCE, st.MPI_TAG, e->comm, &g);
            score_and_store(e, p, sc, &g, msg);
            if (coord) progress_add(ps, msg, 0);
            else MPI_CHECK(MPI_Send(msg, LR_NSTATS, MPI_INT64_T, 0, TAG_STATS, e->comm));
            break;
        }
        case TAG_SAMPLER_DONE:
            MPI_CHECK(MPI_Recv(msg, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_SAMPLER_DONE, e->comm,
                               MPI_STATUS_IGNORE));
            samplers_done++;
            break;
        case TAG_STATS:
            LR_CHECK(coord, "stats sent to rank %d", e->rank);
            MPI_CHECK(MPI_Recv(msg, LR_NSTATS, MPI_INT64_T, st.MPI_SOURCE, TAG_STATS, e->comm, MPI_STATUS_IGNORE));
            progress_add(ps, msg, 0);
            break;
        case TAG_SCORER_DONE:
            LR_CHECK(coord, "scorer-done sent to rank %d", e->rank);
            MPI_CHECK(MPI_Recv(msg, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_SCORER_DONE, e->comm,
                               MPI_STATUS_IGNORE));
            scorers_done++;
            break;
        default:
            lr_die_internal(__FILE__, __LINE__, "unexpected message tag %d from rank %d", st.MPI_TAG,
                            st.MPI_SOURCE);
        }
    }
    if (!coord) {
        int64_t one = 1;
        MPI_CHECK(MPI_Send(&one, 1, MPI_INT64_T, 0, TAG_SCORER_DONE, e->comm));
    }
}

void pipeline_run(const lr_mpi_env *e, const lr_pipeline *p, lr_sampler *sampler, const lr_scorer *scorer,
                  lr_pipeline_stats *stats) {
    progress_state ps;
    memset(&ps, 0, sizeof ps);
    ps.done = p->done_problems;
    progress_init(&ps.prog, "sample", p->n_problems, p->done_problems, p->quiet || e->rank != 0);
    double t0 = progress_elapsed(&ps.prog);
    int role = pipeline_role(e, p);
    lr_pipeline_stats mine = {0};
    if (role == 3) run_single(e, p, sampler, scorer, &ps);
    else if (role == 2) run_scorer(e, p, scorer, &ps);
    else if (role == 1) run_sampler(e, p, sampler, &mine);
    if (e->rank == 0) {
        progress_tick(&ps, 1);
        progress_end(&ps.prog);
    }
    *stats = ps.st;
    stats->seconds = progress_elapsed(&ps.prog) - t0;
    if (e->use_mpi && e->size > 1) {
        int64_t b = mine.bytes_sent, total = 0;
        MPI_CHECK(MPI_Reduce(&b, &total, 1, MPI_INT64_T, MPI_SUM, 0, e->comm));
        stats->bytes_sent = total;
    }
}
