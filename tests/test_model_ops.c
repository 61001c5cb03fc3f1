/* Unit tests of the CPU backend ops against naive fp64 references, and of
 * token choice (argmax ties, nucleus selection vs a full sort, RNG streams)
 * and log-softmax row statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/logits_stats.h"
#include "model/sampling.h"
#include "test_util.h"

static double urand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static float *rnd(int n, uint64_t *s) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) x[i] = (float)urand(s);
    return x;
}

static void test_matmul(lr_backend *be) {
    uint64_t s = 1;
    const int Ms[] = {1, 3, 12, 20, 37}, N = 301, K = 70, ldx = 75, ldy = 310;
    for (int mi = 0; mi < 5; mi++)
        for (int acc = 0; acc <= 1; acc++)
            for (int hb = 0; hb <= 1; hb++) {
                const int M = Ms[mi];
                float *x = rnd(M * ldx, &s), *w = rnd(N * K, &s), *b = rnd(N, &s), *y = rnd(M * ldy, &s);
                float *y0 = malloc((size_t)M * ldy * sizeof(float));
                memcpy(y0, y, (size_t)M * ldy * sizeof(float));
                be->matmul(be, x, ldx, lr_weight_f32(w), hb ? b : NULL, y, ldy, M, N, K, acc);
                double worst = 0;
                int untouched = 1;
                for (int r = 0; r < M; r++) {
                    for (int n = 0; n < N; n++) {
                        double ref = (acc ? y0[r * ldy + n] : 0) + (hb ? b[n] : 0);
                        for (int k = 0; k < K; k++) ref += (double)x[r * ldx + k] * w[n * K + k];
                        worst = fmax(worst, fabs(ref - y[r * ldy + n]));
                    }
                    for (int n = N; n < ldy; n++) untouched &= y[r * ldy + n] == y0[r * ldy + n];
                }
                EXPECT(worst < 1e-4, "matmul M=%d acc=%d bias=%d: max |diff| %.3g", M, acc, hb, worst);
                EXPECT(untouched, "matmul M=%d wrote outside its column slice", M);
                free(x), free(w), free(b), free(y), free(y0);
            }
}

/* matmul_dx (the trainer's input gradient through a frozen weight): fp32
 * weights and bf16 weights (widened exactly, 256 rows at a time) against
 * an fp64 reference of dy (M, N) . w (N, K), N over several row blocks. */
static void test_matmul_dx(lr_backend *be) {
    uint64_t s = 7;
    const int M = 5, N = 600, K = 19;
    float *dy = rnd(M * N, &s), *w = rnd(N * K, &s), *dx = malloc((size_t)M * K * sizeof(float));
    uint16_t *wb = malloc((size_t)N * K * sizeof *wb);
    for (int i = 0; i < N * K; i++) { /* w rounded to bf16 values, and their bit patterns */
        w[i] = lr_round_bf16(w[i]);
        uint32_t u;
        memcpy(&u, &w[i], 4);
        wb[i] = (uint16_t)(u >> 16);
    }
    for (int dt = 0; dt < 2; dt++) {
        for (int i = 0; i < M * K; i++) dx[i] = 1e30f; /* assigned, not accumulated */
        lr_weight wt = {dt ? (const void *)wb : (const void *)w, dt ? LR_BF16 : LR_F32};
        be->matmul_dx(be, dy, wt, dx, M, N, K);
        double worst = 0;
        for (int m = 0; m < M; m++)
            for (int k = 0; k < K; k++) {
                double ref = 0;
                for (int n = 0; n < N; n++) ref += (double)dy[m * N + n] * w[n * K + k];
                worst = fmax(worst, fabs(ref - dx[m * K + k]));
            }
        EXPECT(worst < 1e-4, "matmul_dx %s: max |diff| %.3g", dt ? "bf16" : "f32", worst);
    }
    free(dy), free(w), free(dx), free(wb);
}

static void test_rows(lr_backend *be) {
    uint64_t s = 2;
    const int M = 5, d = 48;
    float *x = rnd(M * d, &s), *w = rnd(d, &s), *y = malloc(M * d * sizeof(float));
    be->rmsnorm(be, x, w, y, M, d, 1e-6f);
    double worst = 0;
    for (int r = 0; r < M; r++) {
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[r * d + i] * x[r * d + i];
        double inv = 1 / sqrt(ss / d + 1e-6);
        for (int i = 0; i < d; i++) worst = fmax(worst, fabs(w[i] * x[r * d + i] * inv - y[r * d + i]));
    }
    EXPECT(worst < 1e-6, "rmsnorm max |diff| %.3g", worst);

    /* rope: 3 heads of 16 in rows of 50 */
    const int hd = 16, nh = 3, ld = 50;
    float *q = rnd(M * ld, &s), *q0 = malloc(M * ld * sizeof(float)), inv_freq[8];
    memcpy(q0, q, M * ld * sizeof(float));
    for (int i = 0; i < 8; i++) inv_freq[i] = (float)pow(10000.0, -2.0 * i / hd);
    int32_t pos[5] = {0, 1, 7, 100, 3};
    be->rope(be, q, ld, M, nh, hd, pos, inv_freq);
    worst = 0;
    for (int r = 0; r < M; r++) {
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < 8; i++) {
                double a = (double)pos[r] * inv_freq[i], c = cos(a), sn = sin(a);
                const float *o = q0 + r * ld + h * hd;
                worst = fmax(worst, fabs(o[i] * c - o[i + 8] * sn - q[r * ld + h * hd + i]));
                worst = fmax(worst, fabs(o[i + 8] * c + o[i] * sn - q[r * ld + h * hd + i + 8]));
            }
        for (int i = nh * hd; i < ld; i++) EXPECT(q[r * ld + i] == q0[r * ld + i], "rope touched column %d", i);
    }
    EXPECT(worst < 1e-5, "rope max |diff| %.3g", worst);

    /* swiglu */
    const int I = 20;
    float *gu = rnd(M * 2 * I, &s), *act = malloc(M * I * sizeof(float));
    be->swiglu(be, gu, act, M, I);
    worst = 0;
    for (int r = 0; r < M; r++)
        for (int i = 0; i < I; i++) {
            double g = gu[r * 2 * I + i], u = gu[r * 2 * I + I + i];
            worst = fmax(worst, fabs(g / (1 + exp(-g)) * u - act[r * I + i]));
        }
    EXPECT(worst < 1e-6, "swiglu max |diff| %.3g", worst);

    /* log-softmax */
    float *ls = malloc(M * d * sizeof(float));
    be->log_softmax(be, x, ls, M, d);
    worst = 0;
    for (int r = 0; r < M; r++) {
        double z = 0;
        for (int i = 0; i < d; i++) z += exp(x[r * d + i]);
        for (int i = 0; i < d; i++) worst = fmax(worst, fabs(x[r * d + i] - log(z) - ls[r * d + i]));
    }
    EXPECT(worst < 1e-6, "log_softmax max |diff| %.3g", worst);
    free(x), free(w), free(y), free(q), free(q0), free(gu), free(act), free(ls);
}

/* Attention of two sequences whose keys live at arbitrary rows of k/v. */
static void test_attention(lr_backend *be) {
    uint64_t s = 3;
    const int nh = 6, nkv = 2, hd = 8, ldq = nh * hd + 5, ldkv = nkv * hd + 3, rows = 40;
    const int q_off[3] = {0, 3, 4}, n_past[2] = {5, 9};
    const int64_t kv_row[2] = {20, 2};
    lr_attn_batch b = {.n_seq = 2, .q_off = q_off, .n_past = n_past, .kv_row = kv_row};
    float *q = rnd(4 * ldq, &s), *k = rnd(rows * ldkv, &s), *v = rnd(rows * ldkv, &s);
    float *out = malloc(4 * nh * hd * sizeof(float));
    const float scale = 0.3f;
    be->attention(be, q, ldq, k, v, ldkv, out, nh, nkv, hd, scale, &b);
    double worst = 0;
    for (int sq = 0; sq < 2; sq++)
        for (int t = q_off[sq]; t < q_off[sq + 1]; t++) {
            const int p = n_past[sq] + t - q_off[sq];
            for (int h = 0; h < nh; h++) {
                const int g = h / (nh / nkv);
                double sc[64], mx = -1e300, z = 0;
                for (int j = 0; j <= p; j++) {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += (double)q[t * ldq + h * hd + i] * k[(kv_row[sq] + j) * ldkv + g * hd + i];
                    sc[j] = dot * scale;
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j <= p; j++) z += (sc[j] = exp(sc[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int j = 0; j <= p; j++) o += sc[j] / z * v[(kv_row[sq] + j) * ldkv + g * hd + i];
                    worst = fmax(worst, fabs(o - out[t * nh * hd + h * hd + i]));
                }
            }
        }
    EXPECT(worst < 1e-5, "attention max |diff| %.3g", worst);
    free(q), free(k), free(v), free(out);
}

static int cmp_desc(const void *a, const void *b) {
    const double *x = a, *y = b; /* pairs (p, id) */
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Reference nucleus draw: full sort by (p desc, id asc). */
static int32_t ref_sample(const float *lg, int n, double T, double top_p, double u) {
    double *pr = malloc(2 * n * sizeof(double)), mx = -INFINITY, z = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, lg[i]);
    for (int i = 0; i < n; i++) z += exp((lg[i] - mx) / T);
    for (int i = 0; i < n; i++) pr[2 * i] = exp((lg[i] - mx) / T) / z, pr[2 * i + 1] = i;
    qsort(pr, n, 2 * sizeof(double), cmp_desc);
    int k = 0;
    double acc = 0;
    while (k < n && acc < top_p) acc += pr[2 * k++];
    double mass = 0, cum = 0;
    for (int i = 0; i < k; i++) mass += pr[2 * i];
    int32_t tok = (int32_t)pr[2 * (k - 1) + 1];
    for (int i = 0; i < k; i++)
        if (u * mass < (cum += pr[2 * i])) {
            tok = (int32_t)pr[2 * i + 1];
            break;
        }
    free(pr);
    return tok;
}

static void test_sampling(void) {
    float ties[6] = {1, 3, -2, 3, 0, 3};
    EXPECT(lr_argmax(ties, 6) == 1, "argmax of ties picked %d, want the lowest id 1", lr_argmax(ties, 6));
    lr_rng a, b;
    lr_rng_seed(&a, 42, 0);
    lr_rng_seed(&b, 42, 0);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= lr_rng_next(&a) == lr_rng_next(&b);
    EXPECT(same, "same (seed, stream) gave different streams");
    lr_rng_seed(&b, 42, 1);
    EXPECT(lr_rng_next(&a) != lr_rng_next(&b), "streams 0 and 1 coincide");

    uint64_t s = 9;
    const int n = 500;
    float *lg = rnd(n, &s);
    for (int i = 0; i < n; i++) lg[i] *= 4;
    lg[10] = lg[20] = 4.5f; /* a tie at the top */
    lr_sampler_scratch sc = {0};
    const double tps[] = {0.05, 0.3, 0.9, 0.999, 1.0};
    int mism = 0;
    for (int ti = 0; ti < 5; ti++)
        for (int it = 0; it < 200; it++) {
            lr_rng r1;
            lr_rng_seed(&r1, (uint64_t)it, (uint64_t)ti);
            lr_rng r2 = r1;
            int32_t got = lr_sample(lg, n, 0.7, tps[ti], &r1, &sc);
            double u = lr_rng_uniform(&r2);
            int32_t want = tps[ti] < 1.0 ? ref_sample(lg, n, 0.7, tps[ti], u) : -1;
            if (want >= 0 && got != want) mism++;
        }
    EXPECT(mism == 0, "%d nucleus draws differ from the full-sort reference", mism);
    lr_rng r;
    lr_rng_seed(&r, 1, 1);
    EXPECT(lr_sample(lg, n, 0.0, 1.0, &r, &sc) == 10, "temperature 0 is not argmax (lowest id of a tie)");
    EXPECT(lr_sample(lg, n, 0.7, 1e-9, &r, &sc) == 10, "top_p -> 0 is not the most probable lowest id");

    /* lr_sample_u = lr_sample with the draw given; lr_sample_pick on the row's most probable
     * candidates only (what a GPU sends back: the top C by logit, ties by lower id, and the
     * row's total) = the whole row's choice, or -1 when the nucleus is not all in them */
    int *order = malloc((size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: logit desc, id asc */
        for (int j = i; j > 0 && (lg[order[j]] > lg[order[j - 1]] ||
                                  (lg[order[j]] == lg[order[j - 1]] && order[j] < order[j - 1]));
             j--) {
            const int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    float mx = lg[order[0]];
    double total = 0;
    for (int i = 0; i < n; i++) total += exp(((double)lg[i] - mx) / 0.7);
    lr_candidate *cand = malloc((size_t)n * sizeof *cand);
    int pick_mism = 0, u_mism = 0, refused = 0, picked = 0;
    const int caps[3] = {4, 40, n};
    for (int ti = 0; ti < 4; ti++)
        for (int ci = 0; ci < 3; ci++)
            for (int it = 0; it < 100; it++) {
                lr_rng r1;
                lr_rng_seed(&r1, (uint64_t)it, (uint64_t)(ti + 10));
                lr_rng r2 = r1;
                const int32_t want = lr_sample(lg, n, 0.7, tps[ti], &r1, &sc);
                const double u = lr_rng_uniform(&r2);
                u_mism += lr_sample_u(lg, n, 0.7, tps[ti], u, &sc) != want;
                for (int k = 0; k < caps[ci]; k++)
                    cand[k] = (lr_candidate){exp(((double)lg[order[caps[ci] - 1 - k]] - mx) / 0.7), order[caps[ci] - 1 - k]};
                const int32_t got = lr_sample_pick(cand, caps[ci], total, tps[ti], u, 0);
                if (got < 0) refused++;
                else picked++, pick_mism += got != want;
            }
    EXPECT(u_mism == 0, "%d draws of lr_sample_u differ from lr_sample's", u_mism);
    EXPECT(pick_mism == 0 && picked > 0 && refused > 0,
           "top-C candidates: %d of %d choices differ from the whole row's (%d refused: nucleus not in them)", pick_mism,
           picked, refused);
    free(order), free(cand);
    lr_sampler_scratch_free(&sc);
    free(lg);
}

static void test_stats(void) {
    float lg[7] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, -INFINITY, 0.0f};
    int32_t ids[3];
    float lps[3], lp, ent, full[7];
    double lse;
    logits_row_stats(lg, 7, 4, 3, &lse, &lp, &ent, ids, lps, full);
    double z = 0, h = 0;
    for (int i = 0; i < 7; i++) z += exp(lg[i]);
    for (int i = 0; i < 7; i++)
        if (lg[i] > -INFINITY) h -= exp(lg[i]) / z * (lg[i] - log(z));
    EXPECT(fabs(lse - log(z)) < 1e-6, "lse %.9g vs %.9g", lse, log(z));
    EXPECT(fabs(lp - (1.0 - log(z))) < 1e-6, "target log-prob %.7g", lp);
    EXPECT(fabs(ent - h) < 1e-6, "entropy %.7g vs %.7g", ent, h);
    EXPECT(ids[0] == 1 && ids[1] == 3 && ids[2] == 4, "top-3 ids %d %d %d, want 1 3 4", ids[0], ids[1], ids[2]);
    EXPECT(fabs(lps[2] - (1.0 - log(z))) < 1e-6 && full[5] == -INFINITY, "top log-probs / full row wrong");
    int32_t ids9[9];
    logits_row_stats(lg, 7, -1, 9, NULL, &lp, NULL, ids9, NULL, NULL);
    EXPECT(isnan(lp) && ids9[5] == 2 && ids9[6] == 5 && ids9[7] == -1, "top-k beyond V: %d %d %d", ids9[5], ids9[6], ids9[7]);
}

int main(void) {
    lr_backend *be = lr_backend_cpu_new(2);
    test_matmul(be);
    test_matmul_dx(be);
    test_rows(be);
    test_attention(be);
    be->set_threads(be, 1);
    test_matmul(be);
    test_attention(be);
    lr_backend_destroy(be);
    test_sampling();
    test_stats();
    return test_finish("test_model_ops");
}
