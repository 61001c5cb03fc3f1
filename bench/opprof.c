/* Per-op timers for the model runtime, without touching src/model/: the
 * backend is a table of function pointers (model/backend.h), so after
 * model_load the profiler swaps every op for a wrapper that times the
 * original call and keys it by op and shape. Ops are synchronous on the CPU
 * backend; on a device backend (host_memory = 0) each wrapper waits for the
 * op's queued work (a 0-byte download synchronises the stream), so an op's
 * time includes its launch and its kernels, and the sum is slower than an
 * unprofiled pass by the lost overlap (tools/gpu_check: gpu_test perf
 * --profile). opprof_report() prints where the time went: op, shape,
 * calls, total ms, ms per call, GFLOP/s for matmuls, share of the op time.
 *
 * Built only into bench_opprof (EXCLUDE_FROM_ALL: it reads the runtime's
 * internal struct, so it is not part of the default build). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/backend.h"
#include "model/model.h"

/* used by bench_runtime.c (LR_BENCH_OPPROF) */
void opprof_install(lr_model *m);
void opprof_uninstall(lr_model *m);
void opprof_reset(void);
void opprof_report(FILE *f, const char *title, double passes);

typedef struct {
    const char *op;
    int m, n, k; /* matmul shape; m = rows (tokens) for the other ops, -1 when not keyed */
    long calls;
    double s, flops;
} op_entry;

#define MAX_ENTRIES 512
static op_entry tab[MAX_ENTRIES];
static int n_tab;
static lr_backend orig;
static double wall0;

static op_entry *entry(const char *op, int m, int n, int k) {
    for (int i = 0; i < n_tab; i++)
        if (tab[i].op == op && tab[i].m == m && tab[i].n == n && tab[i].k == k) return &tab[i];
    if (n_tab == MAX_ENTRIES) return &tab[MAX_ENTRIES - 1];
    op_entry *e = &tab[n_tab++];
    memset(e, 0, sizeof *e);
    e->op = op, e->m = m, e->n = n, e->k = k;
    return e;
}

/* Ops that call other ops of the table (the CPU's matmul_dx is a gemm) count
 * once, at the outer call: depth = wrapped calls under way. */
static int depth;
static double enter(void) {
    depth++;
    return bench_now();
}

static void add(const char *op, int m, int n, int k, double s, double flops) {
    if (depth-- > 1) return; /* inside another op's wrapper: its time is that op's */
    op_entry *e = entry(op, m, n, k);
    e->calls++;
    e->s += s;
    e->flops += flops;
}

/* rows key the per-token ops, so prefill chunks and decode steps stay apart */
static int bucket(int m) { return m; }

/* the time since t, after the op's queued device work has finished */
static double since(lr_backend *be, double t) {
    if (!be->host_memory) orig.download(be, NULL, NULL, 0);
    return bench_now() - t;
}

static void w_embed(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out) {
    double t = enter();
    orig.embed(be, table, ids, M, d, out);
    add("embed", bucket(M), d, 0, since(be, t), 0);
}
static void w_matmul(lr_backend *be, const float *x, int ldx, lr_weight w, const float *bias, float *y, int ldy,
                     int M, int N, int K, int acc) {
    double t = enter();
    orig.matmul(be, x, ldx, w, bias, y, ldy, M, N, K, acc);
    add("matmul", M, N, K, since(be, t), 2.0 * M * N * K);
}
static void w_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps) {
    double t = enter();
    orig.rmsnorm(be, x, w, y, M, d, eps);
    add("rmsnorm", bucket(M), d, 0, since(be, t), 0);
}
static void w_rope(lr_backend *be, float *x, int ld, int M, int nh, int hd, const int32_t *pos, const float *f) {
    double t = enter();
    orig.rope(be, x, ld, M, nh, hd, pos, f);
    add("rope", bucket(M), nh, hd, since(be, t), 0);
}
static void w_rope_kv_store(lr_backend *be, float *qkv, int ld, int M, int nh, int nkv, int hd, const int32_t *pos,
                            const float *f, void *kd, void *vd, const int64_t *dr) {
    double t = enter();
    orig.rope_kv_store(be, qkv, ld, M, nh, nkv, hd, pos, f, kd, vd, dr);
    add("rope_kv_store", bucket(M), nh + nkv, hd, since(be, t), 0);
}
static void w_swiglu(lr_backend *be, const float *gu, float *out, int M, int inter) {
    double t = enter();
    orig.swiglu(be, gu, out, M, inter);
    add("swiglu", bucket(M), inter, 0, since(be, t), 0);
}
static void w_add(lr_backend *be, float *y, const float *x, int M, int d) {
    double t = enter();
    orig.add(be, y, x, M, d);
    add("add", bucket(M), d, 0, since(be, t), 0);
}
static void w_gather(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    double t = enter();
    orig.gather_rows(be, src, d, rows, n, dst);
    add("gather_rows", bucket(n), d, 0, since(be, t), 0);
}
static void w_kv_store(lr_backend *be, void *kd, void *vd, const int64_t *dr, const float *ks, const float *vs, int ld,
                       int M, int width) {
    double t = enter();
    orig.kv_store(be, kd, vd, dr, ks, vs, ld, M, width);
    add("kv_store", bucket(M), width, 0, since(be, t), 0);
}
static void w_attention(lr_backend *be, const float *q, int ldq, const void *k, const void *v, int ldkv, float *out,
                        int nh, int nkv, int hd, float scale, const lr_attn_batch *b) {
    double t = enter();
    orig.attention(be, q, ldq, k, v, ldkv, out, nh, nkv, hd, scale, b);
    double fl = 0;
    int T = b->q_off[b->n_seq];
    for (int s = 0; s < b->n_seq; s++)
        for (int r = b->q_off[s]; r < b->q_off[s + 1]; r++) fl += 4.0 * nh * hd * (b->n_past[s] + (r - b->q_off[s]) + 1);
    add("attention", T, b->n_seq, 0, since(be, t), fl);
}
static void w_log_softmax(lr_backend *be, const float *x, float *y, int M, int N) {
    double t = enter();
    orig.log_softmax(be, x, y, M, N);
    add("log_softmax", bucket(M), N, 0, since(be, t), 0);
}

/* ---- the training ops (the LoRA trainer's step: gpu_test train --profile) */
static void w_gemm(lr_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    double t = enter();
    orig.gemm(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    add(ta ? (tb ? "gemm TT" : "gemm TN") : (tb ? "gemm NT" : "gemm NN"), M, N, K, since(be, t), 2.0 * M * N * K);
}
static void w_matmul_dx(lr_backend *be, const float *dy, lr_weight w, float *dx, int M, int N, int K) {
    double t = enter();
    orig.matmul_dx(be, dy, w, dx, M, N, K);
    add("matmul_dx", M, K, N, since(be, t), 2.0 * M * N * K);
}
static void w_rmsnorm_bw(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M, int d,
                         float eps) {
    double t = enter();
    orig.rmsnorm_backward(be, x, w, dy, dx, M, d, eps);
    add("rmsnorm_backward", bucket(M), d, 0, since(be, t), 0);
}
static void w_rope_bw(lr_backend *be, float *dx, int ld, int M, int nh, int hd, const int32_t *pos, const float *f) {
    double t = enter();
    orig.rope_backward(be, dx, ld, M, nh, hd, pos, f);
    add("rope_backward", bucket(M), nh, hd, since(be, t), 0);
}
static void w_swiglu_bw(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter) {
    double t = enter();
    orig.swiglu_backward(be, gu, dact, dgu, M, inter);
    add("swiglu_backward", bucket(M), inter, 0, since(be, t), 0);
}
static void w_attention_bw(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                           const float *dout, float *dq, float *dk, float *dv, int ldd, int nh, int nkv, int hd,
                           float scale, const lr_attn_batch *b) {
    double t = enter();
    orig.attention_backward(be, q, ldq, k, v, ldkv, dout, dq, dk, dv, ldd, nh, nkv, hd, scale, b);
    double fl = 0; /* scores recomputed, dP = dO·Vᵀ, dV, dQ, dK: 5 products of the forward's 2 */
    for (int s = 0; s < b->n_seq; s++)
        for (int r = b->q_off[s]; r < b->q_off[s + 1]; r++) fl += 10.0 * nh * hd * (b->n_past[s] + (r - b->q_off[s]) + 1);
    add("attention_backward", b->q_off[b->n_seq], b->n_seq, 0, since(be, t), fl);
}
static void w_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n, const uint64_t *rk,
                      float p) {
    double t = enter();
    orig.dropout(be, x, ldx, out, ldo, M, n, rk, p);
    add("dropout", bucket(M), n, 0, since(be, t), 0);
}
static void w_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lo, const int32_t *li,
                      const float *lw, double gs, double *loss, float *dz) {
    double t = enter();
    orig.kl_loss(be, z, n, V, lo, li, lw, gs, loss, dz);
    add("kl_loss", n, V, 0, since(be, t), 0);
}
static void w_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    double t = enter();
    orig.copy_cols(be, y, ldy, x, ldx, M, n);
    add("copy_cols", bucket(M), n, 0, since(be, t), 0);
}
static void w_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    double t = enter();
    orig.add_cols(be, y, ldy, x, ldx, M, n);
    add("add_cols", bucket(M), n, 0, since(be, t), 0);
}
static void w_scale(lr_backend *be, float *x, size_t n, float sc) {
    double t = enter();
    orig.scale(be, x, n, sc);
    add("scale", 1, (int)(n > 0x7fffffff ? 0x7fffffff : n), 0, since(be, t), 0);
}
static void w_scatter(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    double t = enter();
    orig.scatter_rows(be, src, d, rows, n, dst);
    add("scatter_rows", bucket(n), d, 0, since(be, t), 0);
}
static void w_zero(lr_backend *be, void *p, size_t bytes) {
    double t = enter();
    orig.zero(be, p, bytes);
    add("zero", 1, 0, 0, since(be, t), 0);
}

void opprof_install(lr_model *m) {
    lr_backend *be = model_backend(m);
    orig = *be;
    be->embed = w_embed;
    be->matmul = w_matmul;
    be->rmsnorm = w_rmsnorm;
    be->rope = w_rope;
    be->swiglu = w_swiglu;
    be->add = w_add;
    be->gather_rows = w_gather;
    be->kv_store = w_kv_store;
    if (be->rope_kv_store) be->rope_kv_store = w_rope_kv_store;
    be->attention = w_attention;
    be->log_softmax = w_log_softmax;
    /* NULL where the backend has no trainer */
    if (be->gemm) be->gemm = w_gemm;
    if (be->matmul_dx) be->matmul_dx = w_matmul_dx;
    if (be->rmsnorm_backward) be->rmsnorm_backward = w_rmsnorm_bw;
    if (be->rope_backward) be->rope_backward = w_rope_bw;
    if (be->swiglu_backward) be->swiglu_backward = w_swiglu_bw;
    if (be->attention_backward) be->attention_backward = w_attention_bw;
    if (be->dropout) be->dropout = w_dropout;
    if (be->kl_loss) be->kl_loss = w_kl_loss;
    if (be->copy_cols) be->copy_cols = w_copy_cols;
    if (be->add_cols) be->add_cols = w_add_cols;
    if (be->scale) be->scale = w_scale;
    if (be->scatter_rows) be->scatter_rows = w_scatter;
    if (be->zero) be->zero = w_zero;
    be->graph_begin = NULL; /* op by op: each op waits for its kernels, which a replayed step graph cannot */
    be->graph_end = NULL;
    n_tab = 0, depth = 0;
    wall0 = bench_now();
}

/* the model's backend gets its own ops back */
void opprof_uninstall(lr_model *m) { *model_backend(m) = orig; }

void opprof_reset(void) {
    n_tab = 0, depth = 0;
    wall0 = bench_now();
}

static int by_time(const void *a, const void *b) {
    double x = ((const op_entry *)a)->s, y = ((const op_entry *)b)->s;
    return (x < y) - (x > y);
}

/* Prints the table (markdown) to f; `passes` divides the totals (e.g. the
 * number of timed forwards / steps) for the "ms per pass" column. */
void opprof_report(FILE *f, const char *title, double passes) {
    double wall = bench_now() - wall0, tot = 0;
    for (int i = 0; i < n_tab; i++) tot += tab[i].s;
    qsort(tab, (size_t)n_tab, sizeof tab[0], by_time);
    fprintf(f, "\n### op profile: %s\n\nwall %.3f s, in backend ops %.3f s (%.1f%%), outside ops (model glue, sampling, "
               "allocation) %.3f s; per pass = / %.0f\n\n",
            title, wall, tot, wall > 0 ? 100 * tot / wall : 0, wall - tot, passes);
    fprintf(f, "| op | shape | calls | total ms | ms/call | ms per pass | GFLOP/s | %% of wall |\n|---|---|---|---|---|---|---|---|\n");
    double other = 0;
    for (int i = 0; i < n_tab; i++) {
        op_entry *e = &tab[i];
        if (e->s / wall < 0.002) {
            other += e->s;
            continue;
        }
        char shape[64];
        if (strcmp(e->op, "matmul") == 0 || strncmp(e->op, "gemm", 4) == 0 || strcmp(e->op, "matmul_dx") == 0)
            snprintf(shape, sizeof shape, "M=%d N=%d K=%d", e->m, e->n, e->k);
        else if (strcmp(e->op, "attention") == 0)
            snprintf(shape, sizeof shape, "T=%d seqs=%d", e->m, e->n);
        else
            snprintf(shape, sizeof shape, "M=%d x %d", e->m, e->n);
        char gf[32] = "";
        if (e->flops > 0) snprintf(gf, sizeof gf, "%.1f", e->flops / e->s * 1e-9);
        fprintf(f, "| %s | %s | %ld | %.1f | %.3f | %.1f | %s | %.1f%% |\n", e->op, shape, e->calls, 1e3 * e->s,
                1e3 * e->s / e->calls, 1e3 * e->s / passes, gf, 100 * e->s / wall);
    }
    if (other > 0) fprintf(f, "| (ops under 0.2%% each) | | | %.1f | | %.1f | | %.1f%% |\n", 1e3 * other, 1e3 * other / passes, 100 * other / wall);
    fprintf(f, "| (outside backend ops) | | | %.1f | | %.1f | | %.1f%% |\n", 1e3 * (wall - tot), 1e3 * (wall - tot) / passes,
            100 * (wall - tot) / wall);
}
