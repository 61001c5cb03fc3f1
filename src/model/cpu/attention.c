/* CPU causal grouped-query attention over a ragged batch (backend.h), and
 * its backward for the trainer (at the end of this file).
 *
 * One path for every query row, prefill or decode: work item = (up to QB
 * consecutive query rows of one sequence, kv head); the n_rep = n_heads /
 * n_kv_heads query heads that share a kv head are processed together, and
 * the rows of an item share one packing of their keys. A row's scores are
 * the batch-invariant GEMM's fma chains (micro-tiles over packed key
 * panels), its softmax fixed-order (softmax_row), its output a sum over the
 * keys in order: the same operations whether the row comes in a prefill of
 * 300 tokens, in a 16-row chunk or alone in a decode step, so a KV-cache
 * decode gives the bits of a full forward (tests/test_model_invariants.c).
 * Items go to OpenMP threads with dynamic scheduling (causal rows have
 * different lengths). Scores live in a per-thread scratch owned by the
 * backend (grown outside the parallel region, never per token). Softmax in
 * fp32 with the max subtracted, as HF eager attention. */
/* Part of kernels.c. Every sum is fixed-order (simd.h): a query row's
 * output depends only on its own queries and keys. */

/* Row softmax of s[0, n) in place. */
static void softmax_row(float *s, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] = lr_expf(s[j] - mx);
    float p[8] = {0}; /* p[l] = Σ s[j] over j ≡ l (mod 8), in order of j: a vector of 8 lanes */
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) p[l] += s[j + l];
    for (; j < n; j++) p[j & 7] += s[j];
    const float inv = 1.0f / fsum8_tree(p);
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] *= inv;
}

static void ensure_scratch(lr_backend *be, int T, size_t per_thread) {
    lr_cpu_ctx *cx = be->ctx;
    if (per_thread > cx->scratch_per_thread) {
        free(cx->scratch);
        cx->scratch = xmalloc(per_thread * (size_t)be->n_threads * sizeof(float));
        cx->scratch_per_thread = per_thread;
    }
    cx->attn_blocks = lr_cpu_grow(cx->attn_blocks, &cx->attn_blocks_cap, (size_t)2 * T, sizeof(int));
}

/* o_r (hd) = Σ_j p_r[j] · v_j over the keys in order for nr = 1 or 2 heads
 * sharing the v loads; each element is one chain of fma whatever nr, the
 * chunking or the row (the register-blocked chunks and the scalar tail give
 * every element the same operations). */
static void pv_rows(const float *p0, const float *p1, const float *v, int ldkv, int n_keys, int hd, float *o0,
                    float *o1) {
    int c = 0;
    for (; c + 4 * LANES <= hd; c += 4 * LANES) {
        vf a[2][4];
        for (int u = 0; u < 4; u++) a[0][u] = a[1][u] = vf_zero();
        for (int j = 0; j < n_keys; j++) {
            const float *vj = v + (size_t)j * ldkv + c; /* (4 LANES) */
            const vf x0 = vf_load(vj), x1 = vf_load(vj + LANES), x2 = vf_load(vj + 2 * LANES),
                     x3 = vf_load(vj + 3 * LANES);
            const vf q = vf_set1(p0[j]);
            a[0][0] = vf_fma(q, x0, a[0][0]);
            a[0][1] = vf_fma(q, x1, a[0][1]);
            a[0][2] = vf_fma(q, x2, a[0][2]);
            a[0][3] = vf_fma(q, x3, a[0][3]);
            if (p1) {
                const vf r = vf_set1(p1[j]);
                a[1][0] = vf_fma(r, x0, a[1][0]);
                a[1][1] = vf_fma(r, x1, a[1][1]);
                a[1][2] = vf_fma(r, x2, a[1][2]);
                a[1][3] = vf_fma(r, x3, a[1][3]);
            }
        }
        for (int u = 0; u < 4; u++) {
            vf_store(o0 + c + u * LANES, a[0][u]);
            if (p1) vf_store(o1 + c + u * LANES, a[1][u]);
        }
    }
    for (; c < hd; c++) {
        float a0 = 0.0f, a1 = 0.0f;
        for (int j = 0; j < n_keys; j++) {
            const float x = v[(size_t)j * ldkv + c];
            a0 = LR_FMAF(p0[j], x, a0);
            if (p1) a1 = LR_FMAF(p1[j], x, a1);
        }
        o0[c] = a0;
        if (p1) o1[c] = a1;
    }
}

/* One work item: `rows` consecutive query rows of a sequence (row r sees
 * n_keys0 + r keys) and one kv head, its n_rep query heads per row.
 *   S (n_rep, n_keys) = scale · Q Kᵀ   (the batch-invariant GEMM's chains: one fma chain per score)
 *   P = row softmax of S,  O (n_rep, hd) = P V
 * The keys of the last row (a superset of every row's) are packed once into
 * panels, as the GEMM packs weights, and every row's micro-tiles run over the
 * panels its causal prefix touches: a row's scores are the same chains
 * whichever block it is in (alone in a decode step, or among QB rows). */
#define QB 16                                     /* query rows per work item: they share one packing of their keys */
static void attend_block(const float *q, int ldq, /* row r's group heads (n_rep * hd) at q + r·ldq */
                         const float *k,          /* (n_keys0 + rows - 1, ldkv) at this kv head's column */
                         const float *v,          /* (n_keys0 + rows - 1, ldkv) at this kv head's column */
                         int ldkv, int n_keys0, int rows, int n_rep, int hd, float scale,
                         float *kp,           /* (panels, hd, NP) scratch, 32-byte aligned: the packed keys */
                         float *sc,           /* (n_rep, n_keys0 + rows - 1) scratch */
                         float *out, int ldo) /* row r's group heads (n_rep * hd) at out + r·ldo */
{
    const int nk_max = n_keys0 + rows - 1;
    const size_t panel = (size_t)hd * NP; /* floats of one packed panel */
    for (int n = 0; n < nk_max; n += NP)
        pack_panel(lr_weight_f32(k), (size_t)ldkv, n, nk_max - n < NP ? nk_max - n : NP, 0, hd, 0,
                   kp + (size_t)(n / NP) * panel);
    for (int r = 0; r < rows; r++) {
        const int n_keys = n_keys0 + r;
        const float *qr = q + (size_t)r * ldq; /* (n_rep, hd) */
        for (int n = 0; n < n_keys; n += NP) {
            const int nr = n_keys - n < NP ? n_keys - n : NP;
            for (int m = 0, mr; m < n_rep; m += mr) {
                _Alignas(64) float t[MR * NP]; /* (mr, NP) one micro-tile's scores */
                mr = tile_rows(n_rep - m);
                micro(mr, hd, qr + (size_t)m * hd, (size_t)hd, kp + (size_t)(n / NP) * panel, t, 1);
                for (int j = 0; j < mr; j++)
                    memcpy(sc + (size_t)(m + j) * n_keys + n, t + (size_t)j * NP, (size_t)nr * sizeof(float));
            }
        }
        for (int h = 0; h < n_rep; h++) {
            float *s = sc + (size_t)h * n_keys; /* (n_keys) */
#pragma omp simd
            for (int j = 0; j < n_keys; j++) s[j] *= scale;
            softmax_row(s, n_keys);
        }
        float *o = out + (size_t)r * ldo; /* (n_rep, hd) */
        for (int h = 0; h < n_rep; h += 2) {
            const int two = h + 1 < n_rep;
            pv_rows(sc + (size_t)h * n_keys, two ? sc + (size_t)(h + 1) * n_keys : NULL, v, ldkv, n_keys, hd,
                    o + (size_t)h * hd, two ? o + (size_t)(h + 1) * hd : NULL);
        }
    }
}

static void cpu_attention(lr_backend *be, const float *q, int ldq, const void *kv_k, const void *kv_v, int ldkv,
                          float *out, int n_heads, int n_kv_heads, int head_dim, float scale, const lr_attn_batch *b) {
    LR_CHECK(b->kv_dtype == LR_F32, "the CPU's keys and values are fp32");
    const float *k = kv_k, *v = kv_v; /* (rows, ldkv) */
    const int T = b->q_off[b->n_seq];
    if (T == 0) return;
    const int n_rep = n_heads / n_kv_heads;
    int max_keys = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const int nk = b->n_past[s] + b->q_off[s + 1] - b->q_off[s];
        if (nk > max_keys) max_keys = nk;
    }
    /* per thread: scores (n_rep, max_keys), then the packed keys, 64-byte aligned */
    const size_t sc_floats = ((size_t)max_keys * n_rep + 15) / 16 * 16;
    const size_t kp_floats = (size_t)((max_keys + NP - 1) / NP) * NP * head_dim;
    ensure_scratch(be, T, sc_floats + kp_floats + 16);
    lr_cpu_ctx *cx = be->ctx;
    /* blocks[2i], blocks[2i+1]: first packed query row and sequence of block i (QB rows
     * of one sequence at most) */
    int *blocks = cx->attn_blocks; /* (2 T) */
    int n_blocks = 0;
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->q_off[s]; t < b->q_off[s + 1]; t += QB) {
            blocks[2 * n_blocks] = t;
            blocks[2 * n_blocks + 1] = s;
            n_blocks++;
        }

    const long n_items = (long)n_blocks * n_kv_heads;
    const long work = (long)T * max_keys * n_heads * head_dim;
    const int nt = work >= 65536 && n_items > 1 ? be->n_threads : 1;
    const int q_dim = n_heads * head_dim;
#pragma omp parallel num_threads(nt)
    {
        float *sc = cx->scratch + (size_t)omp_get_thread_num() * cx->scratch_per_thread;
        float *kp = (float *)(((uintptr_t)(sc + sc_floats) + 63) & ~(uintptr_t)63);
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < n_items; it++) {
            const int i = (int)(it / n_kv_heads), g = (int)(it % n_kv_heads);
            const int t = blocks[2 * i], s = blocks[2 * i + 1];
            const int rows = b->q_off[s + 1] - t < QB ? b->q_off[s + 1] - t : QB;
            const int n_keys0 = b->n_past[s] + (t - b->q_off[s]) + 1; /* causal: row t sees positions 0..p */
            const size_t col = (size_t)g * head_dim;
            attend_block(q + (size_t)t * ldq + (size_t)g * n_rep * head_dim, ldq, k + (size_t)b->kv_row[s] * ldkv + col,
                         v + (size_t)b->kv_row[s] * ldkv + col, ldkv, n_keys0, rows, n_rep, head_dim, scale, kp, sc,
                         out + (size_t)t * q_dim + (size_t)g * n_rep * head_dim, q_dim);
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
                          int L, int hd, float scale, int first, /* first head of its group */
                          float *P, float *dS)                   /* (L, L) scratch */
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
                head_backward(q + (size_t)o * ldq + (size_t)h * hd, ldq, K, V, ldkv,
                              dout + (size_t)o * q_dim + (size_t)h * hd, q_dim, dq + (size_t)o * ldd + (size_t)h * hd,
                              dK, dV, ldd, L, hd, scale, r == 0, P, dS);
            }
        }
    }
    free(scratch);
}
