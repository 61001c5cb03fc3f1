/* Finite-difference checks of every backward op of the trainer (the
 * training ops of model/backend.h, CPU backend).
 *
 * For each op: a scalar loss L = Σ c ⊙ op(x) with random c; the op's
 * backward (fp32, the code under test) gives ∂L/∂x; a double-precision
 * reference forward written here gives central differences with h = 1e-6
 * (truncation ~1e-12, rounding ~1e-10). Agreement within 1e-4 of the
 * largest gradient entry. The fp32 forward ops (backend) are checked
 * against the same double references. Then the composite: LoRA gradients
 * of a whole tiny network vs central differences of its fp32 loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/backend.h"
#include "model/model.h"
#include "test_util.h"
#include "trainer/lora.h"
#include "trainer/rng.h"
#include "trainer/train_net.h"

static uint64_t seed_state = 12345;
static double rnd(void) { return 2.0 * rng_unit(rng_mix(seed_state++)) - 1.0; }
static void fill(float *x, size_t n, double s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(s * rnd());
}
static void to_d(const float *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i];
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const double *b, size_t n) {
    double md = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mx = fmax(mx, fabs(b[i]));
    }
    return md / (mx > 0 ? mx : 1);
}

/* Central differences of f over x (n doubles) into g. */
typedef double (*loss_fn)(const double *x, void *ctx);
static void fd(loss_fn f, double *x, size_t n, void *ctx, double *g) {
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double lp = f(x, ctx);
        x[i] = x0 - h;
        const double lm = f(x, ctx);
        x[i] = x0;
        g[i] = (lp - lm) / (2 * h);
    }
}

/* ---------------------------------------------------------------- RMSNorm */
typedef struct {
    int M, d;
    const double *w, *c;
    double eps;
} rms_ctx;

static void rms_ref(const double *x, const double *w, double *y, int M, int d, double eps) {
    for (int r = 0; r < M; r++) {
        double ss = 0;
        for (int i = 0; i < d; i++) ss += x[r * d + i] * x[r * d + i];
        const double inv = 1.0 / sqrt(ss / d + eps);
        for (int i = 0; i < d; i++) y[r * d + i] = w[i] * x[r * d + i] * inv;
    }
}

static double rms_loss(const double *x, void *p) {
    rms_ctx *c = p;
    double *y = malloc((size_t)c->M * c->d * sizeof *y), L = 0;
    rms_ref(x, c->w, y, c->M, c->d, c->eps);
    for (int i = 0; i < c->M * c->d; i++) L += c->c[i] * y[i];
    free(y);
    return L;
}

static void test_rmsnorm(lr_backend *be) {
    enum { M = 3, d = 24 };
    float x[M * d], w[d], c[M * d], y[M * d], dx[M * d];
    double xd[M * d], wd[d], cd[M * d], yd[M * d], g[M * d];
    fill(x, M * d, 2.0), fill(w, d, 1.5), fill(c, M * d, 1.0);
    to_d(x, xd, M * d), to_d(w, wd, d), to_d(c, cd, M * d);
    const float eps = 1e-5f;
    be->rmsnorm(be, x, w, y, M, d, eps);
    rms_ref(xd, wd, yd, M, d, eps);
    EXPECT(rel_err(y, yd, M * d) < 1e-6, "rmsnorm forward vs double: %g", rel_err(y, yd, M * d));
    memset(dx, 0, sizeof dx);
    be->rmsnorm_backward(be, x, w, c, dx, M, d, eps);
    rms_ctx ctx = {M, d, wd, cd, eps};
    fd(rms_loss, xd, M * d, &ctx, g);
    const double e = rel_err(dx, g, M * d);
    printf("rmsnorm backward vs finite differences: %.2g\n", e);
    EXPECT(e < 1e-4, "rmsnorm backward: %g", e);
    /* accumulation: a second call adds the same again */
    be->rmsnorm_backward(be, x, w, c, dx, M, d, eps);
    for (int i = 0; i < M * d; i++) g[i] *= 2;
    EXPECT(rel_err(dx, g, M * d) < 1e-4, "rmsnorm backward does not accumulate");
}

/* ---------------------------------------------------------------- SwiGLU */
typedef struct {
    int M, I;
    const double *c;
} sw_ctx;

static void swiglu_ref(const double *gu, double *o, int M, int I) {
    for (int r = 0; r < M; r++)
        for (int i = 0; i < I; i++) {
            const double g = gu[r * 2 * I + i], u = gu[r * 2 * I + I + i];
            o[r * I + i] = g / (1 + exp(-g)) * u;
        }
}

static double sw_loss(const double *gu, void *p) {
    sw_ctx *c = p;
    double *o = malloc((size_t)c->M * c->I * sizeof *o), L = 0;
    swiglu_ref(gu, o, c->M, c->I);
    for (int i = 0; i < c->M * c->I; i++) L += c->c[i] * o[i];
    free(o);
    return L;
}

static void test_swiglu(lr_backend *be) {
    enum { M = 4, I = 10 };
    float gu[M * 2 * I], c[M * I], o[M * I], dgu[M * 2 * I];
    double gud[M * 2 * I], cd[M * I], od[M * I], g[M * 2 * I];
    fill(gu, M * 2 * I, 4.0), fill(c, M * I, 1.0);
    to_d(gu, gud, M * 2 * I), to_d(c, cd, M * I);
    be->swiglu(be, gu, o, M, I);
    swiglu_ref(gud, od, M, I);
    EXPECT(rel_err(o, od, M * I) < 1e-6, "swiglu forward vs double: %g", rel_err(o, od, M * I));
    be->swiglu_backward(be, gu, c, dgu, M, I);
    sw_ctx ctx = {M, I, cd};
    fd(sw_loss, gud, M * 2 * I, &ctx, g);
    const double e = rel_err(dgu, g, M * 2 * I);
    printf("swiglu backward vs finite differences: %.2g\n", e);
    EXPECT(e < 1e-4, "swiglu backward: %g", e);
}

/* ---------------------------------------------------------------- RoPE */
enum { RH = 3, RD = 8, RM = 5, RLD = 28 };
typedef struct {
    const int32_t *pos;
    const float *inv_freq;
    const double *c;
} rope_ctx;

static void rope_ref(double *x, const int32_t *pos, const float *inv_freq) {
    for (int r = 0; r < RM; r++)
        for (int h = 0; h < RH; h++)
            for (int i = 0; i < RD / 2; i++) {
                const double a = (double)((float)pos[r] * inv_freq[i]);
                double *lo = x + r * RLD + h * RD + i, *hi = lo + RD / 2;
                const double l = *lo, u = *hi;
                *lo = l * cos(a) - u * sin(a);
                *hi = u * cos(a) + l * sin(a);
            }
}

static double rope_loss(const double *x, void *p) {
    rope_ctx *c = p;
    double y[RM * RLD], L = 0;
    memcpy(y, x, sizeof y);
    rope_ref(y, c->pos, c->inv_freq);
    for (int i = 0; i < RM * RLD; i++) L += c->c[i] * y[i];
    return L;
}

static void test_rope(lr_backend *be) {
    float x[RM * RLD], c[RM * RLD], inv_freq[RD / 2];
    double xd[RM * RLD], cd[RM * RLD], g[RM * RLD];
    int32_t pos[RM] = {0, 1, 7, 30, 100}, neg[RM];
    for (int r = 0; r < RM; r++) neg[r] = -pos[r];
    for (int i = 0; i < RD / 2; i++) inv_freq[i] = 1.0f / powf(10000.0f, (float)(2 * i) / RD);
    fill(x, RM * RLD, 1.0), fill(c, RM * RLD, 1.0);
    to_d(x, xd, RM * RLD), to_d(c, cd, RM * RLD);
    double yd[RM * RLD];
    memcpy(yd, xd, sizeof yd);
    rope_ref(yd, pos, inv_freq);
    float y[RM * RLD];
    memcpy(y, x, sizeof y);
    be->rope(be, y, RLD, RM, RH, RD, pos, inv_freq);
    EXPECT(rel_err(y, yd, RM * RLD) < 1e-5, "rope forward vs double: %g", rel_err(y, yd, RM * RLD));
    /* backward: the same op with negated positions, applied to the gradient */
    float dx[RM * RLD];
    memcpy(dx, c, sizeof dx);
    be->rope_backward(be, dx, RLD, RM, RH, RD, pos, inv_freq);
    rope_ctx ctx = {pos, inv_freq, cd};
    fd(rope_loss, xd, RM * RLD, &ctx, g);
    const double e = rel_err(dx, g, RM * RLD);
    printf("rope backward vs finite differences: %.2g\n", e);
    EXPECT(e < 1e-4, "rope backward: %g", e);
    /* it is the forward at -pos, bit for bit */
    float dn[RM * RLD];
    memcpy(dn, c, sizeof dn);
    be->rope(be, dn, RLD, RM, RH, RD, neg, inv_freq);
    EXPECT(!memcmp(dn, dx, sizeof dn), "rope backward == rope at -pos");
}

/* ---------------------------------------------------------------- attention */
enum { NH = 4, NKV = 2, HD = 8, QD = NH * HD, KVD = NKV * HD, LD = QD + 2 * KVD + 3 };
typedef struct {
    int n_seq;
    const int *off;
    int T;
    const double *c;
} att_ctx;

static void att_ref(const double *qkv, double *out, int n_seq, const int *off) {
    const double scale = 1.0 / sqrt((double)HD);
    for (int s = 0; s < n_seq; s++)
        for (int t = off[s]; t < off[s + 1]; t++)
            for (int h = 0; h < NH; h++) {
                const int g = h / (NH / NKV);
                const double *q = qkv + t * LD + h * HD;
                double sc[64], mx = -1e300, sum = 0;
                for (int j = off[s]; j <= t; j++) {
                    const double *k = qkv + j * LD + QD + g * HD;
                    double dot = 0;
                    for (int i = 0; i < HD; i++) dot += q[i] * k[i];
                    sc[j - off[s]] = dot * scale;
                    mx = fmax(mx, sc[j - off[s]]);
                }
                for (int j = off[s]; j <= t; j++) sum += (sc[j - off[s]] = exp(sc[j - off[s]] - mx));
                double *o = out + t * QD + h * HD;
                for (int i = 0; i < HD; i++) o[i] = 0;
                for (int j = off[s]; j <= t; j++) {
                    const double *v = qkv + j * LD + QD + KVD + g * HD;
                    for (int i = 0; i < HD; i++) o[i] += sc[j - off[s]] / sum * v[i];
                }
            }
}

static double att_loss(const double *qkv, void *p) {
    att_ctx *c = p;
    double *o = malloc((size_t)c->T * QD * sizeof *o), L = 0;
    att_ref(qkv, o, c->n_seq, c->off);
    for (int i = 0; i < c->T * QD; i++) L += c->c[i] * o[i];
    free(o);
    return L;
}

static void test_attention(lr_backend *be) {
    enum { T = 9 };
    int off[3] = {0, 4, 9}, n_past[2] = {0, 0};
    int64_t kv_row[2] = {0, 4};
    lr_attn_batch b = {2, off, n_past, kv_row, LR_F32};
    float qkv[T * LD], c[T * QD], out[T * QD], dqkv[T * LD];
    double qd[T * LD], cd[T * QD], od[T * QD], g[T * LD];
    fill(qkv, T * LD, 1.5), fill(c, T * QD, 1.0);
    to_d(qkv, qd, T * LD), to_d(c, cd, T * QD);
    const float scale = 1.0f / sqrtf((float)HD);
    be->attention(be, qkv, LD, qkv + QD, qkv + QD + KVD, LD, out, NH, NKV, HD, scale, &b);
    att_ref(qd, od, 2, off);
    EXPECT(rel_err(out, od, T * QD) < 1e-5, "attention forward vs double: %g", rel_err(out, od, T * QD));
    for (int i = 0; i < T * LD; i++) dqkv[i] = 777.0f; /* the padding columns must stay untouched */
    for (int nt = 1; nt <= 2; nt++) {
        be->set_threads(be, nt);
        be->attention_backward(be, qkv, LD, qkv + QD, qkv + QD + KVD, LD, c, dqkv, dqkv + QD, dqkv + QD + KVD, LD, NH,
                               NKV, HD, scale, &b);
        att_ctx ctx = {2, off, T, cd};
        fd(att_loss, qd, T * LD, &ctx, g);
        float gq[T * LD];
        double gd[T * LD];
        int n = 0;
        for (int t = 0; t < T; t++)
            for (int i = 0; i < QD + 2 * KVD; i++) gq[n] = dqkv[t * LD + i], gd[n++] = g[t * LD + i];
        const double e = rel_err(gq, gd, (size_t)n);
        printf("attention backward (%d threads) vs finite differences: %.2g\n", nt, e);
        EXPECT(e < 1e-4, "attention backward: %g", e);
        for (int t = 0; t < T; t++)
            for (int i = QD + 2 * KVD; i < LD; i++) EXPECT(dqkv[t * LD + i] == 777.0f, "padding column written");
    }
    be->set_threads(be, 2);
}

/* ---------------------------------------------------------------- dropout */
static void test_dropout(lr_backend *be) {
    enum { M = 6, N = 300 };
    float *x = malloc(M * N * sizeof(float)), *y = malloc(M * N * sizeof(float)), *dy = malloc(M * N * sizeof(float));
    uint64_t keys[M];
    for (int r = 0; r < M; r++) keys[r] = rng_key(99, (uint64_t)r);
    fill(x, M * N, 1.0);
    const float p = 0.3f;
    be->dropout(be, x, N, y, N, M, N, keys, p);
    int dropped = 0;
    for (int i = 0; i < M * N; i++) {
        if (y[i] == 0.0f) dropped++;
        else EXPECT(fabsf(y[i] - x[i] / (1.0f - p)) <= 1e-6f * fabsf(y[i]), "kept elements are scaled by 1/(1-p)");
    }
    EXPECT(dropped > M * N * 0.25 && dropped < M * N * 0.35, "dropped %d of %d at p = 0.3", dropped, M * N);
    /* backward = the same masked scaling of the gradient (the op is linear and diagonal) */
    for (int i = 0; i < M * N; i++) dy[i] = 1.0f;
    be->dropout(be, dy, N, dy, N, M, N, keys, p);
    for (int i = 0; i < M * N; i++) EXPECT((dy[i] == 0.0f) == (y[i] == 0.0f || x[i] == 0.0f), "same mask");
    free(x), free(y), free(dy);
}

/* ---------------------------------------------------------------- loss */
enum { KN = 2, KV = 11 };
typedef struct {
    const int64_t *off;
    const int32_t *ids;
    const float *w;
} kl_ctx;

static double kl_ref(const double *z, void *p) {
    kl_ctx *c = p;
    double L = 0;
    for (int i = 0; i < KN; i++) {
        double mx = -1e300, s = 0;
        for (int v = 0; v < KV; v++) mx = fmax(mx, z[i * KV + v]);
        for (int v = 0; v < KV; v++) s += exp(z[i * KV + v] - mx);
        const double lse = mx + log(s);
        for (int64_t k = c->off[i]; k < c->off[i + 1]; k++)
            L += c->w[k] * (log((double)c->w[k]) - (z[i * KV + c->ids[k]] - lse));
    }
    return L / KN;
}

static void test_kl(lr_backend *be) {
    float z[KN * KV], dz[KN * KV];
    double zd[KN * KV], g[KN * KV], loss[KN];
    int64_t off[KN + 1] = {0, 3, 4};
    int32_t ids[4] = {1, 4, 9, 10};
    float w[4] = {0.5f, 0.3f, 0.2f, 1.0f};
    fill(z, KN * KV, 3.0);
    to_d(z, zd, KN * KV);
    be->kl_loss(be, z, KN, KV, off, ids, w, 1.0 / KN, loss, dz);
    kl_ctx ctx = {off, ids, w};
    EXPECT_NEAR((loss[0] + loss[1]) / KN, kl_ref(zd, &ctx), 1e-6, "KL loss vs double");
    EXPECT(loss[0] >= 0 && loss[1] >= 0, "KL is non-negative");
    fd(kl_ref, zd, KN * KV, &ctx, g);
    const double e = rel_err(dz, g, KN * KV);
    printf("KL loss backward vs finite differences: %.2g\n", e);
    EXPECT(e < 1e-4, "KL backward: %g", e);
}

/* ---------------------------------------------------------------- GEMM helper */
static void test_gemm(lr_backend *be) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int shape = 0; shape < 2; shape++) {
                const int M = shape ? 3000 : 70, N = shape ? 5 : 290, K = 33; /* >= 4e5 flops: rows / columns split */
                float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)N * K * 4), *C = malloc((size_t)M * N * 4);
                fill(A, (size_t)M * K, 1), fill(B, (size_t)N * K, 1), fill(C, (size_t)M * N, 1);
                double *R = malloc((size_t)M * N * 8);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++)
                            s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                        R[i * N + j] = 0.5 * s + 2.0 * C[i * N + j];
                    }
                float *C1 = malloc((size_t)M * N * 4);
                memcpy(C1, C, (size_t)M * N * 4);
                be->gemm(be, ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C, N);
                const double e = rel_err(C, R, (size_t)M * N);
                EXPECT(e < 1e-5, "gemm ta %d tb %d shape %d: %g", ta, tb, shape, e);
                /* the split over threads (slices of C) never changes a result */
                be->set_threads(be, 1);
                be->gemm(be, ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C1, N);
                be->set_threads(be, 2);
                EXPECT(!memcmp(C, C1, (size_t)M * N * 4), "gemm ta %d tb %d shape %d: 1 thread != 2 threads", ta, tb,
                       shape);
                free(C1);
                free(A), free(B), free(C), free(R);
            }
}

/* ---------------------------------------------------------------- whole network */
static void test_network(void) {
    lr_model_opts mo = {.n_threads = 2};
    lr_model *m = model_load(test_data_path("model/qwen2_tied"), &mo);
    EXPECT(m != NULL, "%s", lr_error_msg());
    if (!m) return;
    lora_config lc = {.r = 2, .alpha = 4, .dropout = 0.2, .targets = (1u << LORA_N_MODULES) - 1};
    lr_lora *a = lora_new(&lc, model_config(m));
    for (size_t i = 0; i < a->n_params; i++) a->w[i] = (float)(0.3 * rnd());
    int32_t tok[9] = {5, 77, 301, 12, 9, 250, 3, 3, 100};
    int lens[2] = {4, 5};
    int64_t keys[2] = {3, 8}, off[3] = {0, 2, 3};
    int32_t ids[3] = {7, 200, 15};
    float w[3] = {0.6f, 0.4f, 1.0f};
    tr_batch b = {.n_seq = 2, .tokens = tok, .lens = lens, .key = keys, .lab_off = off, .lab_ids = ids, .lab_w = w};
    tr_net *n = tr_net_new(m, a, 0);
    float *grad = calloc(a->n_params, sizeof(float));
    double loss[2];
    const uint64_t dk = rng_key(5, 6);
    EXPECT(tr_net_step(n, &b, dk, 0.5, grad, loss) == 0, "%s", lr_error_msg());
    /* central differences of the fp32 network: h = 1e-2 keeps the
     * fp32 rounding of the loss (~1e-7 relative) far below the signal */
    int checked = 0, bad = 0;
    double gmax = 0;
    for (size_t i = 0; i < a->n_params; i++) gmax = fmax(gmax, fabs(grad[i]));
    float *dummy = calloc(a->n_params, sizeof(float));
    for (int s = 0; s < a->n_slots; s++)
        for (int wh = 0; wh < 2; wh++) {
            const lora_slot *sl = &a->slots[s];
            const size_t base = wh ? sl->b : sl->a, cnt = (size_t)a->cfg.r * (wh ? sl->out : sl->in);
            const size_t i = base + (size_t)(rng_mix(seed_state++) % cnt); /* one random entry per tensor */
            const float x0 = a->w[i], h = 1e-2f;
            double lp[2], lm[2];
            a->w[i] = x0 + h;
            tr_net_step(n, &b, dk, 0.5, dummy, lp);
            a->w[i] = x0 - h;
            tr_net_step(n, &b, dk, 0.5, dummy, lm);
            a->w[i] = x0;
            const double num = 0.5 * ((lp[0] + lp[1]) - (lm[0] + lm[1])) / (2.0 * h);
            checked++;
            if (fabs(num - grad[i]) > 2e-3 * gmax + 2e-2 * fabs(num)) {
                bad++;
                fprintf(stderr, "%s %s entry: analytic %g numeric %g\n", lora_module_name(sl->module), wh ? "B" : "A",
                        grad[i], num);
            }
        }
    printf("network: %d LoRA entries (every module, both layers, dropout on) vs finite differences, %d off\n",
           checked, bad);
    EXPECT(bad == 0, "%d of %d network gradient entries disagree with finite differences", bad, checked);
    free(dummy), free(grad);
    tr_net_free(n);
    lora_free(a);
    model_free(m);
}

int main(void) {
    lr_backend *be = lr_backend_cpu_new(2);
    test_rmsnorm(be);
    test_swiglu(be);
    test_rope(be);
    test_attention(be);
    test_dropout(be);
    test_kl(be);
    test_gemm(be);
    lr_backend_destroy(be);
    test_network();
    return test_finish("test_train_ops");
}
