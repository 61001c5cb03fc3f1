/* Backward of causal grouped-query attention (backend.h
 * attention_backward). The forward is src/model/cpu/attention.c.
 *
 * Nothing but q, k, v and the incoming gradient is kept from the forward:
 * the probabilities of one (sequence, head) are recomputed here with one
 * GEMM, which costs what the forward cost and saves heads × L² floats per
 * sequence and layer. With P = softmax(scale · Q Kᵀ) (causal):
 *   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),
 *   dQ = scale · dS K,  dK = scale · dSᵀ Q.
 * Work item = (sequence, kv head): the n_rep query heads of a group write
 * the same dK / dV rows, so a group stays on one thread and items never
 * race. The upper (masked) triangle is computed by the GEMMs and zeroed:
 * BLAS on full L×L blocks is faster than triangular loops at these sizes. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "common/check.h"
#include "model/cpu_train/cpu_train.h"

static void softmax_causal(float *S, int L) {
    for (int i = 0; i < L; i++) {
        float *s = S + (size_t)i * L; /* (L) row i: keys 0..i */
        float mx = -INFINITY;
        for (int j = 0; j <= i; j++) mx = s[j] > mx ? s[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j <= i; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) s[j] *= inv;
        for (int j = i + 1; j < L; j++) s[j] = 0.0f;
    }
}

/* One query head of a sequence of L rows. */
static void head_backward(const float *Q, int ldq, const float *K, const float *V, int ldkv, /* (L, ld) views */
                          const float *dO, int ldo,                                          /* (L, ldo) view */
                          float *dQ, float *dK, float *dV, int ldd,                          /* (L, ldd) views */
                          int L, int hd, float scale, int first,                             /* first head of its group */
                          float *P, float *dS)                                               /* (L, L) scratch */
{
    /* P (L, L) = softmax(scale · Q Kᵀ) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, scale, Q, ldq, K, ldkv, 0.0f, P, L);
    softmax_causal(P, L);
    /* dS (L, L) = dO Vᵀ  (dP for now) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, 1.0f, dO, ldo, V, ldkv, 0.0f, dS, L);
    for (int i = 0; i < L; i++) {
        const float *p = P + (size_t)i * L;
        float *g = dS + (size_t)i * L;
        double D = 0.0;
        for (int j = 0; j <= i; j++) D += (double)p[j] * g[j];
        const float Df = (float)D;
        for (int j = 0; j <= i; j++) g[j] = p[j] * (g[j] - Df);
        for (int j = i + 1; j < L; j++) g[j] = 0.0f;
    }
    const float b = first ? 0.0f : 1.0f; /* dK, dV: the group's heads accumulate */
    /* dQ (L, hd) = scale · dS K */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, scale, dS, L, K, ldkv, 0.0f, dQ, ldd);
    /* dK (L, hd) (+)= scale · dSᵀ Q */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, scale, dS, L, Q, ldq, b, dK, ldd);
    /* dV (L, hd) (+)= Pᵀ dO */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, 1.0f, P, L, dO, ldo, b, dV, ldd);
}

void cpu_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                            const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads, int n_kv_heads,
                            int hd, float scale, const lr_attn_batch *b) {
    const int q_dim = n_heads * hd, n_rep = n_heads / n_kv_heads;
    int max_len = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int L = b->q_off[s + 1] - b->q_off[s];
        LR_CHECK(b->n_past[s] == 0, "attention backward supports sequences without a KV cache only");
        if (L > max_len) max_len = L;
    }
    const long n_items = (long)b->n_seq * n_kv_heads;
    if (n_items == 0) return;
    int nt = be->n_threads;
    if (openblas_get_num_threads() > 1) nt = 1; /* OpenBLAS threads itself (LR_GEMM_THREADS=blas) */
    if (nt > n_items) nt = (int)n_items;
    if (nt < 1) nt = 1;
    const size_t per = (size_t)max_len * max_len;
    float *scratch = xmalloc(2 * per * (size_t)nt * sizeof(float)); /* (nt, 2, L, L) */
#pragma omp parallel num_threads(nt)
    {
        float *P = scratch + 2 * per * (size_t)omp_get_thread_num(), *dS = P + per;
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < n_items; it++) {
            const int s = (int)(it / n_kv_heads), g = (int)(it % n_kv_heads);
            const int o = b->q_off[s], L = b->q_off[s + 1] - o;
            const size_t kr = (size_t)b->kv_row[s]; /* the sequence's first key row */
            const float *K = k + kr * ldkv + (size_t)g * hd, *V = v + kr * ldkv + (size_t)g * hd;
            float *dK = dk + kr * ldd + (size_t)g * hd, *dV = dv + kr * ldd + (size_t)g * hd;
            for (int r = 0; r < n_rep; r++) {
                const int h = g * n_rep + r;
                head_backward(q + (size_t)o * ldq + (size_t)h * hd, ldq, K, V, ldkv, dout + (size_t)o * q_dim + (size_t)h * hd,
                              q_dim, dq + (size_t)o * ldd + (size_t)h * hd, dK, dV, ldd, L, hd, scale, r == 0, P, dS);
            }
        }
    }
    free(scratch);
}
