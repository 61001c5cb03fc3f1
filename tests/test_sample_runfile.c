/* Run file machinery without a model: synthetic scored chunks -> shards ->
 * scan -> join -> select; damaged shards and run files; the resume state
 * decisions and the configuration check. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/problems.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "sampler/run_state.h"
#include "test_util.h"

static unsigned rng = 12345;
static double urand(void) {
    rng = rng * 1103515245u + 12345u;
    return (double)((rng >> 8) & 0xFFFFFF) / 16777216.0;
}

/* A chunk of n problems starting at first; problem first+1 is skipped. */
static void make_chunk(lr_chunk *c, int64_t id, int64_t first, int n) {
    memset(c, 0, sizeof *c);
    c->chunk = id;
    c->first_problem = first;
    c->n_problems = n;
    c->problem_status = xcalloc((size_t)n, 1);
    c->trace_problem = xmalloc(sizeof(int64_t) * (size_t)n);
    c->prompt_len = xmalloc(sizeof(int32_t) * (size_t)n);
    c->n_generated = xmalloc(sizeof(int32_t) * (size_t)n);
    c->finish = xmalloc((size_t)n);
    c->token_offsets = xmalloc(sizeof(int64_t) * (size_t)(n + 1));
    c->tokens = xmalloc(sizeof(int32_t) * 1000);
    c->text = xcalloc((size_t)n, sizeof(char *));
    c->token_offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i == 1) {
            c->problem_status[i] = PROBLEM_SKIPPED_CONTEXT;
            continue;
        }
        int t = c->n_traces++;
        c->trace_problem[t] = first + i;
        c->prompt_len[t] = 3 + i;
        c->n_generated[t] = 2 + (int)(urand() * 5);
        c->finish[t] = (int8_t)(i % 2);
        int len = c->prompt_len[t] + c->n_generated[t];
        for (int k = 0; k < len; k++) c->tokens[c->token_offsets[t] + k] = (int32_t)(urand() * 50);
        c->token_offsets[t + 1] = c->token_offsets[t] + len;
        char buf[64];
        snprintf(buf, sizeof buf, "trace of problem %lld \xc3\xa9", (long long)(first + i));
        c->text[t] = xstrdup(buf);
        c->n_steps += c->n_generated[t];
    }
    c->div = xmalloc(sizeof(lr_step_div) * (size_t)c->n_steps);
    c->cand_offsets = xmalloc(sizeof(int64_t) * (size_t)(c->n_steps + 1));
    c->cand_offsets[0] = 0;
    for (int64_t s = 0; s < c->n_steps; s++) {
        c->div[s] = (lr_step_div){urand() * 2.0, urand(), urand(), (float)-urand(), (float)-urand(), 3, 4};
        int m = 1 + (int)(urand() * 6);
        cand_buf_reserve(&c->cand, (size_t)m);
        for (int k = 0; k < m; k++) {
            c->cand.ids[c->cand.n] = k * 3;
            c->cand.logp_expert[c->cand.n] = k == 0 ? -0.1f : (float)(-0.1 - urand() * 4.0);
            c->cand.logp_amateur[c->cand.n] = (float)(-urand() * 5.0);
            c->cand.n++;
        }
        c->cand_offsets[s + 1] = (int64_t)c->cand.n;
    }
}

/* runfile_select under the default method at (alpha, beta). */
static int select_at(const char *path, double alpha, double beta, const char *cmd, int64_t *ns, int64_t *nst) {
    const lr_method m = method_make(alpha, beta);
    return runfile_select(path, &m, cmd, ns, nst);
}

static const char *tmpdir(void) {
    static char d[256];
    if (!d[0]) {
        snprintf(d, sizeof d, "%s/lr_runfile_test_%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
        lr_mkdir_p(d);
    }
    return d;
}

static char *tpath(const char *name) { return lr_path_join(tmpdir(), name); }

static void truncate_file(const char *path, long keep) {
    FILE *f = fopen(path, "r+b");
    if (f) {
        ftruncate(fileno(f), keep);
        fclose(f);
    }
}

static int64_t *read_i64(hid_t f, const char *name, int64_t *n) {
    return h5u_read_all(f, name, "t", H5T_NATIVE_INT64, -1, n);
}

int main(void) {
    h5u_quiet();
    /* problems file: 7 problems -> chunks of 3: [0,3) [3,6) [6,7) */
    char *probs = tpath("p.jsonl");
    FILE *pf = fopen(probs, "w");
    for (int i = 0; i < 7; i++) fprintf(pf, "{\"question\": \"q%d\", \"answer\": \"#### %d\"}\n", i, i);
    fclose(pf);
    lr_problem_opts po = {"question", "answer", NULL, 0, 0};
    lr_problem_set ps;
    EXPECT(problems_load(probs, &po, &ps) == 0 && ps.n == 7, "problems");

    char *out = tpath("run.h5");
    char *dir = runfile_shard_dir(out);
    lr_run_state st;
    char *key = run_resume_key("{\"expert\":\"e\",\"beta\":0.4,\"batch\":3,\"quiet\":true}", ps.digest, ps.n);
    EXPECT(strstr(key, "beta") == NULL && strstr(key, "quiet") == NULL && strstr(key, "batch") != NULL,
           "resume key keeps only relevant flags: %s", key);
    EXPECT(run_state_prepare(out, dir, key, 0, 0, &st) == 0 && st.kind == RUN_FRESH, "fresh");
    run_state_free(&st);
    EXPECT(run_state_prepare(out, dir, key, 0, 0, &st) != 0 && strstr(lr_error_msg(), "--resume"),
           "an interrupted run needs --resume: %s", lr_error_msg());

    lr_chunk c[3];
    int64_t firsts[3] = {0, 3, 6};
    int ns[3] = {3, 3, 1};
    for (int k = 0; k < 3; k++) make_chunk(&c[k], k, firsts[k], ns[k]);
    runfile_shard_write(dir, &c[0], 0.01, 0);
    runfile_shard_write(dir, &c[2], 0.01, 1);

    /* resume: matching key lists the two shards; a different key is refused */
    EXPECT(run_state_prepare(out, dir, key, 1, 0, &st) == 0 && st.kind == RUN_RESUME && st.n_done == 2 &&
               st.done[0] == 0 && st.done[1] == 2,
           "resume sees chunks 0 and 2");
    run_state_free(&st);
    char *key2 = run_resume_key("{\"expert\":\"other\",\"batch\":3}", ps.digest, ps.n);
    EXPECT(run_state_prepare(out, dir, key2, 1, 0, &st) != 0 && strstr(lr_error_msg(), "'expert' was \"e\" there"),
           "config mismatch named: %s", lr_error_msg());

    lr_run_meta meta = {.config_json = "{}",
                        .resume_key = key,
                        .command_line = "lightreasoner sample ...",
                        .expert_dir = "E",
                        .amateur_dir = "A",
                        .problems_path = probs,
                        .vocab_expert = 60,
                        .vocab_amateur = 64,
                        .store_alpha = 0.01,
                        .method = method_make(0.2, 0.5)};
    EXPECT(runfile_join(out, dir, &ps, 3, &meta) != 0 && strstr(lr_error_msg(), "chunk 1 was not completed"),
           "join refuses a missing chunk: %s", lr_error_msg());
    EXPECT(!lr_file_exists(out), "no run file after a failed join");

    /* a shard cut off is set aside and redone */
    runfile_shard_write(dir, &c[1], 0.01, 0);
    char *s1 = lr_path_join(dir, "chunk-00000001.h5");
    truncate_file(s1, 600);
    lr_chunk tmp;
    EXPECT(runfile_shard_read(s1, &tmp) != 0, "truncated shard detected");
    int64_t *ids;
    int n;
    EXPECT(runfile_shard_scan(dir, &ids, &n) == 0 && n == 2, "scan skips the damaged shard (%d)", n);
    free(ids);
    EXPECT(!lr_file_exists(s1), "damaged shard moved aside");
    runfile_shard_write(dir, &c[1], 0.01, 0);
    /* a stale temporary of a dead writer is removed by the scan */
    char *stale = lr_path_join(dir, "chunk-00000009.h5.tmp.999");
    fclose(fopen(stale, "w"));
    EXPECT(runfile_shard_scan(dir, &ids, &n) == 0 && n == 3 && !lr_file_exists(stale), "scan: 3 shards, tmp removed");
    free(ids);

    lr_chunk back;
    EXPECT(runfile_shard_read(s1, &back) == 0, "shard round trip: %s", lr_error_msg());
    EXPECT(back.n_traces == c[1].n_traces && back.n_steps == c[1].n_steps && back.cand.n == c[1].cand.n &&
               !strcmp(back.text[0], c[1].text[0]) && back.div[1].kl == c[1].div[1].kl &&
               back.cand.logp_amateur[2] == c[1].cand.logp_amateur[2],
           "shard content");
    chunk_free(&back);

    EXPECT(runfile_join(out, dir, &ps, 3, &meta) == 0, "join: %s", lr_error_msg());
    hid_t f = (hid_t)runfile_open_read(out);
    EXPECT(f >= 0, "open joined: %s", lr_error_msg());
    int64_t nprob = 0, ntr = 0, nst = 0, nsk = 0;
    h5u_read_attr_i64(f, "n_problems", "t", &nprob);
    h5u_read_attr_i64(f, "n_traces", "t", &ntr);
    h5u_read_attr_i64(f, "n_steps", "t", &nst);
    h5u_read_attr_i64(f, "n_skipped_context", "t", &nsk);
    int64_t want_tr = c[0].n_traces + c[1].n_traces + c[2].n_traces, want_st = c[0].n_steps + c[1].n_steps + c[2].n_steps;
    EXPECT(nprob == 7 && ntr == want_tr && nst == want_st && nsk == 2, "counts %lld %lld %lld %lld", (long long)nprob,
           (long long)ntr, (long long)nst, (long long)nsk);
    int64_t n1, n2;
    int64_t *ptrace = read_i64(f, "problems/trace", &n1);
    EXPECT(n1 == 7 && ptrace[1] == -1 && ptrace[4] == -1 && ptrace[0] == 0 && ptrace[2] == 1 && ptrace[3] == 2,
           "problems/trace maps skipped problems to -1");
    int64_t *soff = read_i64(f, "traces/step_offsets", &n2);
    EXPECT(n2 == ntr + 1 && soff[n2 - 1] == nst, "step offsets close at n_steps");
    free(ptrace);
    free(soff);
    /* samples: recompute from the synthetic data */
    int64_t want_samples = 0;
    for (int k = 0; k < 3; k++)
        for (int64_t s = 0; s < c[k].n_steps; s++) want_samples += c[k].div[s].kl >= 0.5;
    hid_t gs = H5Gopen2(f, "samples", H5P_DEFAULT);
    int64_t nsm = -1;
    h5u_read_attr_i64(gs, "n_samples", "t", &nsm);
    EXPECT(nsm == want_samples && want_samples > 0 && want_samples < want_st, "samples %lld of %lld", (long long)nsm,
           (long long)want_st);
    H5Gclose(gs);
    H5Fclose(f);

    /* select with the same alpha/beta is a no-op on /samples; another beta changes the count */
    char *copy = tpath("copy.h5");
    lr_copy_file(out, copy);
    int64_t a = 0, b = 0;
    EXPECT(select_at(copy, 0.2, 0.5, "select", &a, &b) == 0 && a == want_samples && b == want_st, "select same");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/../test_sample_compare.py %s %s", test_data_dir(), out, copy);
    EXPECT(test_run(cmd, NULL) == 0, "select with the sampling alpha/beta reproduces the file: %s", cmd);
    EXPECT(select_at(copy, 0.2, -1.0, "select", &a, &b) == 0 && a == want_st, "beta -1 selects every step");
    EXPECT(select_at(copy, 0.005, 0.5, "select", &a, &b) != 0 && strstr(lr_error_msg(), "below the store-alpha"),
           "alpha below store-alpha refused: %s", lr_error_msg());
    EXPECT(select_at(copy, 1.0, 0.5, "select", &a, &b) == 0, "alpha 1");
    f = (hid_t)runfile_open_read(copy);
    int64_t nl = 0, ns2 = 0;
    int64_t *lo = read_i64(f, "samples/label_offsets", &nl);
    h5u_read_attr_i64(f, "n_steps", "t", &ns2);
    int all_one = 1;
    for (int64_t i = 0; i + 1 < nl; i++) all_one &= lo[i + 1] - lo[i] == 1;
    EXPECT(nl == want_samples + 1 && all_one, "alpha 1 keeps exactly the argmax");
    EXPECT(H5Lexists(f, "problems", H5P_DEFAULT) > 0 && H5Lexists(f, "divergence", H5P_DEFAULT) > 0 && ns2 == want_st,
           "select keeps the other groups and attributes");
    free(lo);
    H5Fclose(f);

    /* a cut-off run file is detected, not trusted */
    struct stat sb;
    stat(copy, &sb);
    truncate_file(copy, sb.st_size / 2);
    EXPECT(runfile_open_read(copy) < 0 && strstr(lr_error_msg(), copy), "truncated run file: %s", lr_error_msg());
    EXPECT(select_at(copy, 0.2, 0.5, "select", &a, &b) != 0, "select refuses a damaged file");
    stat(copy, &sb);
    EXPECT(sb.st_size > 0, "the damaged file is left as it was");
    EXPECT(runfile_open_read(probs) < 0 && strstr(lr_error_msg(), "not a readable HDF5"), "foreign file: %s",
           lr_error_msg());

    /* complete output: resume with the same key -> complete; without --resume -> refused */
    EXPECT(run_state_prepare(out, dir, key, 1, 0, &st) == 0 && st.kind == RUN_COMPLETE, "complete");
    EXPECT(run_state_prepare(out, dir, key, 0, 0, &st) != 0 && strstr(lr_error_msg(), "already exists"), "exists");
    EXPECT(run_state_prepare(out, dir, key2, 1, 0, &st) != 0 && strstr(lr_error_msg(), "another configuration"),
           "complete file from another configuration refused: %s", lr_error_msg());
    run_state_cleanup(dir);
    EXPECT(!lr_is_dir(dir), "shard directory removed");

    for (int k = 0; k < 3; k++) chunk_free(&c[k]);
    problems_free(&ps);
    remove(out), remove(copy), remove(probs);
    rmdir(tmpdir());
    free(key), free(key2), free(out), free(dir), free(probs), free(s1), free(stale), free(copy);
    return test_finish("test_sample_runfile");
}
