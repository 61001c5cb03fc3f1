/* CPU causal grouped-query attention over a ragged batch (backend.h), and
 * its backward for the trainer (at the end of this file).
 *
 * Two paths, chosen per sequence:
 *   - prefill (>= ATT_GEMM_MIN new tokens): per (head, block of BQ query
 *     rows) two single-threaded sgemm calls, S = Q·Kᵀ·scale over the keys
 *     the block can see, a masked row softmax, O = P·V. The causal waste is
 *     the upper half of the diagonal block only.
 *   - decode (few new tokens): work item = (query row, kv head); the n_rep =
 *     n_heads / n_kv_heads query heads that share a kv head are processed
 *     together, so each cached K and V row is read once per group.
 * Items of both kinds go to OpenMP threads with dynamic scheduling (causal
 * rows have different lengths). Scores live in a per-thread scratch owned
 * by the backend (grown outside the parallel region, never per token).
 * Softmax in fp32 with the max subtracted, as HF eager attention. */
/* Part of kernels.c. Every sum is fixed-order (simd.h): a query row's
 * output depends only on its own queries and keys. */

#define ATT_GEMM_MIN 16 /* new tokens of a sequence from which the GEMM path pays */
#define BQ 64           /* query rows per GEMM block */

/* Row softmax of s[0, lim) in place, s[lim, n) = 0. */
static void softmax_row(float *s, int lim, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < lim; j++) mx = s[j] > mx ? s[j] : mx;
    float p[8] = {0};
    for (int j = 0; j < lim; j++) {
        s[j] = lr_expf(s[j] - mx);
        p[j & 7] += s[j];
    }
    const float inv = 1.0f / fsum8_tree(p);
#pragma omp simd
    for (int j = 0; j < lim; j++) s[j] *= inv;
    for (int j = lim; j < n; j++) s[j] = 0.0f;
}

/* GEMM path: query rows [t0, t0+nq) of one head, first at position p0. */
static void attend_block(const float *q, int ldq, /* (nq, ldq) this head's queries */
                         const float *k, const float *v, int ldkv, /* (p0+nq, ldkv) at this kv head */
                         float *out, int ldo,                      /* (nq, ldo) this head's output */
                         int nq, int p0, int hd, float scale, float *S) {
    const int nk = p0 + nq;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, scale, q, ldq, k, ldkv, 0.0f, S, nk);
    for (int i = 0; i < nq; i++) softmax_row(S + (size_t)i * nk, p0 + i + 1, nk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, 1.0f, S, nk, v, ldkv, 0.0f, out, ldo);
}

static void ensure_scratch(lr_backend *be, int T, size_t per_thread) {
    lr_cpu_ctx *cx = be->ctx;
    if (per_thread > cx->scratch_per_thread) {
        free(cx->scratch);
        cx->scratch = xmalloc(per_thread * (size_t)be->n_threads * sizeof(float));
        cx->scratch_per_thread = per_thread;
    }
    if (T > cx->row_seq_cap) {
        free(cx->row_seq);
        cx->row_seq = xmalloc((size_t)T * sizeof(int));
        cx->row_seq_cap = T;
    }
}

/* One (query row, kv head) item: n_rep heads starting at head h0. */
static void attend_group(const float *q, /* (n_rep * hd) the group's query heads */
                         const float *k, /* (n_keys, ldkv) at this kv head's column */
                         const float *v, /* (n_keys, ldkv) at this kv head's column */
                         int ldkv, int n_keys, int n_rep, int hd, float scale,
                         float *sc,      /* (n_rep, n_keys) scratch */
                         float *out)     /* (n_rep * hd) */
{
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ldkv; /* (hd) */
        for (int r = 0; r < n_rep; r++) {
            sc[(size_t)r * n_keys + j] = dot_f32(q + (size_t)r * hd, kj, hd) * scale;
        }
    }
    for (int r = 0; r < n_rep; r++) {
        softmax_row(sc + (size_t)r * n_keys, n_keys, n_keys);
        memset(out + (size_t)r * hd, 0, (size_t)hd * sizeof(float));
    }
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ldkv; /* (hd) */
        for (int r = 0; r < n_rep; r++) {
            const float p = sc[(size_t)r * n_keys + j];
            float *o = out + (size_t)r * hd;
#pragma omp simd
            for (int i = 0; i < hd; i++) o[i] += p * vj[i];
        }
    }
}

static void cpu_attention(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv, float *out,
                   int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    const int T = b->q_off[b->n_seq];
    if (T == 0) return;
    const int n_rep = n_heads / n_kv_heads;
    int max_keys = 0;
    long n_gemm_items = 0, n_loop_rows = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int nn = b->q_off[s + 1] - b->q_off[s], nk = b->n_past[s] + nn;
        if (nk > max_keys) max_keys = nk;
        if (nn >= ATT_GEMM_MIN) n_gemm_items += (long)n_heads * ((nn + BQ - 1) / BQ);
        else n_loop_rows += nn;
    }
    const size_t per_thread = (size_t)max_keys * (n_gemm_items ? (BQ > n_rep ? BQ : n_rep) : n_rep);
    ensure_scratch(be, T, per_thread);
    lr_cpu_ctx *cx = be->ctx;
    /* row_seq[t]: the sequence of packed query row t (decode items). */
    int *row_seq = cx->row_seq; /* (T) */
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->q_off[s]; t < b->q_off[s + 1]; t++) row_seq[t] = s;

    const long n_loop_items = n_loop_rows * n_kv_heads;
    const long work = (long)T * max_keys * n_heads * head_dim;
    const int nt = work >= 65536 && n_gemm_items + n_loop_items > 1 ? be->n_threads : 1;
    const int q_dim = n_heads * head_dim;
#pragma omp parallel num_threads(nt)
    {
        float *sc = cx->scratch + (size_t)omp_get_thread_num() * cx->scratch_per_thread;
        /* prefill: item = (sequence, head, query block); the block index is
         * found by walking the sequences (n_seq is small) */
#pragma omp for schedule(dynamic, 1) nowait
        for (long it = 0; it < n_gemm_items; it++) {
            long rem = it;
            int s = 0, nb = 0;
            for (;; s++) {
                const int nn = b->q_off[s + 1] - b->q_off[s];
                if (nn < ATT_GEMM_MIN) continue;
                nb = (nn + BQ - 1) / BQ;
                if (rem < (long)n_heads * nb) break;
                rem -= (long)n_heads * nb;
            }
            const int h = (int)(rem / nb), blk = (int)(rem % nb), g = h / n_rep;
            const int t0 = b->q_off[s] + blk * BQ, nq = b->q_off[s + 1] - t0 < BQ ? b->q_off[s + 1] - t0 : BQ;
            const size_t col = (size_t)g * head_dim;
            attend_block(q + (size_t)t0 * ldq + (size_t)h * head_dim, ldq, k + (size_t)b->kv_row[s] * ldkv + col,
                         v + (size_t)b->kv_row[s] * ldkv + col, ldkv, out + (size_t)t0 * q_dim + (size_t)h * head_dim,
                         q_dim, nq, b->n_past[s] + blk * BQ, head_dim, scale, sc);
        }
        /* decode: item = (query row of a short sequence, kv head) */
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < (long)T * n_kv_heads; it++) {
            const int t = (int)(it / n_kv_heads), g = (int)(it % n_kv_heads);
            const int s = row_seq[t];
            if (b->q_off[s + 1] - b->q_off[s] >= ATT_GEMM_MIN) continue; /* done by the GEMM path */
            const int n_keys = b->n_past[s] + (t - b->q_off[s]) + 1; /* causal: positions 0..p */
            const size_t col = (size_t)g * head_dim;
            attend_group(q + (size_t)t * ldq + (size_t)g * n_rep * head_dim,
                         k + (size_t)b->kv_row[s] * ldkv + col, v + (size_t)b->kv_row[s] * ldkv + col, ldkv, n_keys,
                         n_rep, head_dim, scale, sc, out + (size_t)t * q_dim + (size_t)g * n_rep * head_dim);
        }
    }
}

/* ---- Backward (backend.h attention_backward), for sequences without a
 * cache. Nothing but q, k, v and the incoming gradient is kept from the
 * forward: the probabilities of one (sequence, head) are recomputed here
 * with one GEMM, which costs what the forward cost and saves heads × L²
 * floats per sequence and layer. With P = softmax(scale · Q Kᵀ) (causal):
 *   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),
 *   dQ = scale · dS K,  dK = scale · dSᵀ Q.
 * Work item = (sequence, kv head): the n_rep query heads of a group write
 * the same dK / dV rows, so a group stays on one thread and items never
 * race. The upper (masked) triangle is computed by the GEMMs and zeroed:
 * BLAS on full L×L blocks is faster than triangular loops at these sizes.
 * Its sums are sequential and its exp is libm's (not softmax_row's lanes
 * and lr_expf): the numerics the trainer's goldens were made with. */

/* Causal row softmax of the (L, L) scores, upper triangle zeroed. */
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

static void cpu_attention_backward(lr_backend *be, const float *q, int ldq, const float *k, const float *v, int ldkv,
                                   const float *dout, float *dq, float *dk, float *dv, int ldd, int n_heads,
                                   int n_kv_heads, int hd, float scale, const lr_attn_batch *b) {
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
