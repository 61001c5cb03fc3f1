/* CPU causal grouped-query attention over a ragged batch (backend.h).
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
