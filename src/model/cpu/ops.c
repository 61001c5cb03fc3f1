/* CPU element-wise and row ops: embedding, RMSNorm, RoPE, SwiGLU, residual
 * add, row gather, KV-cache store, log-softmax, and the trainer's ops of the
 * same families (backend.h "Training ops"): each backward right after its
 * forward with the forward's arguments first, dropout, the KL loss after
 * log-softmax, column copies. OpenMP over rows; every reduction is a
 * fixed-order sum (simd.h or written out), so a row's result never depends
 * on the other rows, the thread count, the data's alignment or the
 * instruction set this copy is compiled for. Numerics follow Hugging Face's
 * fp32 modules (see backend.h). Part of kernels.c. */

/* Σ x² in double, 8 fixed partial sums. */
static double sumsq_f64(const float *x, int n) {
    double p[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) p[l] += (double)x[i + l] * x[i + l];
    for (int l = 0; i + l < n; l++) p[l] += (double)x[i + l] * x[i + l];
    return dsum8_tree(p);
}

/* Rows per thread below which a parallel region costs more than it saves. */
#define PAR_MIN_WORK 65536

static int threads_for(const lr_backend *be, long work) {
    return work >= PAR_MIN_WORK ? be->n_threads : 1;
}

/* The training ops' threshold (their element-wise work per op is smaller). */
#define TRAIN_PAR_MIN_WORK 16384

static int train_threads(const lr_backend *be, long work) {
    return work >= TRAIN_PAR_MIN_WORK && be->n_threads > 1 ? be->n_threads : 1;
}

static void cpu_embed(lr_backend *be, lr_weight table, const int32_t *ids, int M, int d, float *out) {
#pragma omp parallel for num_threads(threads_for(be, (long)M * d)) schedule(static)
    for (int r = 0; r < M; r++) {
        float *o = out + (size_t)r * d; /* (d) */
        if (table.dtype == LR_BF16) {
            const uint16_t *src = (const uint16_t *)table.data + (size_t)ids[r] * d; /* (d) */
            for (int i = 0; i < d; i++) {
                const uint32_t b = (uint32_t)src[i] << 16; /* exact widening */
                memcpy(o + i, &b, 4);
            }
        } else {
            memcpy(o, (const float *)table.data + (size_t)ids[r] * d, (size_t)d * sizeof(float));
        }
    }
}

static void cpu_rmsnorm(lr_backend *be, const float *x, const float *w, float *y, int M, int d, float eps) {
#pragma omp parallel for num_threads(threads_for(be, (long)M * d)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * d; /* (d) */
        float *yr = y + (size_t)r * d;       /* (d) */
        const double ss = sumsq_f64(xr, d);
        /* HF: variance in fp32, then rsqrt(variance + eps) in fp32. */
        float var = (float)(ss / d);
        float inv = 1.0f / sqrtf(var + eps);
#pragma omp simd
        for (int i = 0; i < d; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

/* Backward of RMSNorm: y_i = w_i x_i rstd, rstd = 1 / sqrt(mean(x²) + eps),
 * so dx_i += rstd w_i dy_i − x_i rstd³ (Σ_j w_j dy_j x_j) / d. The two sums
 * run in 4 fixed fp64 lanes (lane l takes i ≡ l mod 4, the d mod 4 tail
 * goes to lane 0, then 0 + l0 + l1 + l2 + l3): the order the former
 * baseline-ISA build of this op used, so every ISA copy gives its bits. */
static void cpu_rmsnorm_backward(lr_backend *be, const float *x, const float *w, const float *dy, float *dx, int M,
                                 int d, float eps) {
#pragma omp parallel for num_threads(train_threads(be, (long)M * d)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * d, *gr = dy + (size_t)r * d; /* (d) */
        float *o = dx + (size_t)r * d;                                  /* (d) */
        double pss[4] = {0}, pdot[4] = {0};
        int i = 0;
        for (; i + 4 <= d; i += 4)
            for (int l = 0; l < 4; l++) {
                pss[l] += (double)xr[i + l] * xr[i + l];
                pdot[l] += (double)w[i + l] * gr[i + l] * xr[i + l];
            }
        for (; i < d; i++) {
            pss[0] += (double)xr[i] * xr[i];
            pdot[0] += (double)w[i] * gr[i] * xr[i];
        }
        const double ss = 0.0 + pss[0] + pss[1] + pss[2] + pss[3];
        const double dot = 0.0 + pdot[0] + pdot[1] + pdot[2] + pdot[3];
        /* the forward's rstd, in fp32 as HF computes it */
        const float rstd = 1.0f / sqrtf((float)(ss / d) + eps);
        const float c = (float)(dot * (double)rstd * rstd * rstd / d);
#pragma omp simd
        for (int j = 0; j < d; j++) o[j] += rstd * w[j] * gr[j] - xr[j] * c;
    }
}

static void cpu_rope(lr_backend *be, float *x, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
              const float *inv_freq) {
    const int half = head_dim / 2;
#pragma omp parallel for num_threads(threads_for(be, (long)M * n_heads * head_dim)) schedule(static)
    for (int r = 0; r < M; r++) {
        float c[half], s[half]; /* (hd/2) cos / sin of this row's angles */
        const float p = (float)pos[r];
        for (int i = 0; i < half; i++) {
            float a = p * inv_freq[i]; /* fp32 product, as HF */
            c[i] = cosf(a);
            s[i] = sinf(a);
        }
        float *xr = x + (size_t)r * ld; /* (n_heads * head_dim) used */
        for (int h = 0; h < n_heads; h++) {
            float *lo = xr + (size_t)h * head_dim, *hi = lo + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = lo[i], b = hi[i];
                lo[i] = a * c[i] - b * s[i];
                hi[i] = b * c[i] + a * s[i];
            }
        }
    }
}

/* Backward of RoPE, in place on dx: each (x_i, x_{i+hd/2}) pair was rotated
 * by pos · inv_freq_i, so the backward is the forward at −pos (fp32:
 * (−p)·f = −(p·f) exactly). */
static void cpu_rope_backward(lr_backend *be, float *dx, int ld, int M, int n_heads, int head_dim, const int32_t *pos,
                              const float *inv_freq) {
    if (M <= 0) return;
    int32_t *neg = xmalloc((size_t)M * sizeof *neg); /* (M) host */
    for (int r = 0; r < M; r++) neg[r] = -pos[r];
    cpu_rope(be, dx, ld, M, n_heads, head_dim, neg, inv_freq);
    free(neg);
}

static void cpu_swiglu(lr_backend *be, const float *gu, float *out, int M, int inter) {
#pragma omp parallel for num_threads(threads_for(be, (long)M * inter * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *g = gu + (size_t)r * 2 * inter; /* (inter) gate */
        const float *u = g + inter;                  /* (inter) up */
        float *o = out + (size_t)r * inter;          /* (inter) */
#pragma omp simd
        for (int i = 0; i < inter; i++) o[i] = g[i] / (1.0f + lr_expf(-g[i])) * u[i];
    }
}

/* Backward of SwiGLU: act = silu(g) · u = g σ(g) u, so
 *   ∂act/∂u = g σ(g),  ∂act/∂g = σ(g) (1 + g (1 − σ(g))) u. */
static void cpu_swiglu_backward(lr_backend *be, const float *gu, const float *dact, float *dgu, int M, int inter) {
#pragma omp parallel for num_threads(train_threads(be, (long)M * inter * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *g = gu + (size_t)r * 2 * inter, *u = g + inter; /* (I) gate, (I) up */
        const float *da = dact + (size_t)r * inter;                  /* (I) */
        float *dg = dgu + (size_t)r * 2 * inter, *du = dg + inter;   /* (I), (I) */
#pragma omp simd
        for (int i = 0; i < inter; i++) {
            const float sg = 1.0f / (1.0f + lr_expf(-g[i])); /* σ(g); lr_expf vectorises, libm's expf does not */
            du[i] = da[i] * g[i] * sg;
            dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

static void cpu_add(lr_backend *be, float *y, const float *x, int M, int d) {
    const size_t n = (size_t)M * d;
#pragma omp parallel for simd num_threads(threads_for(be, (long)n)) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* y (M, ldy)[:, :n] += x (M, ldx)[:, :n] (the trainer's residual gradients). */
static void cpu_add_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
#pragma omp parallel for num_threads(train_threads(be, (long)M * n)) schedule(static)
    for (int r = 0; r < M; r++) {
        float *yr = y + (size_t)r * ldy;       /* (n) */
        const float *xr = x + (size_t)r * ldx; /* (n) */
#pragma omp simd
        for (int c = 0; c < n; c++) yr[c] += xr[c];
    }
}

/* y (M, ldy)[:, :n] = x (M, ldx)[:, :n]. */
static void cpu_copy_cols(lr_backend *be, float *y, int ldy, const float *x, int ldx, int M, int n) {
    if (M <= 0 || n <= 0) return;
    if (ldy == n && ldx == n) {
        memcpy(y, x, (size_t)M * n * sizeof(float));
        return;
    }
#pragma omp parallel for num_threads(train_threads(be, (long)M * n)) schedule(static)
    for (int r = 0; r < M; r++) memcpy(y + (size_t)r * ldy, x + (size_t)r * ldx, (size_t)n * sizeof(float));
}

static void cpu_scale(lr_backend *be, float *x, size_t n, float s) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

static void cpu_zero(lr_backend *be, void *p, size_t bytes) {
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

/* Inverted dropout with counter-based masks: forward and backward are this
 * one call (same mask, same scale). The mask of element (r, c) is
 * lr_dropout_keep(row_key[r], c, p), a pure function of its keys, so it
 * needs no state and no storage. */
static void cpu_dropout(lr_backend *be, const float *x, int ldx, float *out, int ldo, int M, int n,
                        const uint64_t *row_key, float p) {
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(train_threads(be, (long)M * n * 4)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * ldx; /* (n) */
        float *o = out + (size_t)r * ldo;      /* (n) */
        const uint64_t k = row_key[r];
        for (int c = 0; c < n; c++) o[c] = lr_dropout_keep(k, (uint64_t)c, p) ? xr[c] * keep_scale : 0.0f;
    }
}

static void cpu_gather_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    (void)be;
    for (int r = 0; r < n; r++) memcpy(dst + (size_t)r * d, src + (size_t)rows[r] * d, (size_t)d * sizeof(float));
}

/* gather_rows' backward: dst rows rows[i] (distinct) = src row i. */
static void cpu_scatter_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    (void)be;
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)rows[i] * d, src + (size_t)i * d, (size_t)d * sizeof(float));
}

static void cpu_kv_store(lr_backend *be, void *kv_k, void *kv_v, const int64_t *dst_row, const float *k_src,
                         const float *v_src, int ld_src, int M, int width) {
    LR_CHECK(be->kv_dtype == LR_F32, "the CPU's KV cache is fp32");
    float *k_dst = kv_k, *v_dst = kv_v; /* (rows, width) */
    const size_t bytes = (size_t)width * sizeof(float);
    for (int r = 0; r < M; r++) {
        memcpy(k_dst + (size_t)dst_row[r] * width, k_src + (size_t)r * ld_src, bytes);
        memcpy(v_dst + (size_t)dst_row[r] * width, v_src + (size_t)r * ld_src, bytes);
    }
}

static void cpu_log_softmax(lr_backend *be, const float *x, float *y, int M, int N) {
#pragma omp parallel for num_threads(threads_for(be, (long)M * N)) schedule(static)
    for (int r = 0; r < M; r++) {
        const float *xr = x + (size_t)r * N; /* (N) */
        float *yr = y + (size_t)r * N;       /* (N) */
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int i = 0; i < N; i++) mx = xr[i] > mx ? xr[i] : mx;
        double p[8] = {0};
        for (int i = 0; i < N; i++) p[i & 7] += exp((double)(xr[i] - mx));
        const double sum = dsum8_tree(p);
        const float lse = mx + (float)log(sum);
#pragma omp simd
        for (int i = 0; i < N; i++) yr[i] = xr[i] - lse;
    }
}

/* The training loss of SPEC §2 and its gradient (the forward, loss, and the
 * backward, dz, in one pass over each row of logits): log-softmax as above
 * but with one sequential fp64 sum (the order of the former baseline build),
 * libm's exp / expf. */
static void cpu_kl_loss(lr_backend *be, const float *z, int n, int V, const int64_t *lab_off, const int32_t *lab_ids,
                        const float *lab_w, double grad_scale, double *loss, float *dz) {
#pragma omp parallel for num_threads(train_threads(be, (long)n * V)) schedule(static)
    for (int i = 0; i < n; i++) {
        const float *zr = z + (size_t)i * V; /* (V) */
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = zr[v] > mx ? zr[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)(zr[v] - mx));
        /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the largest logit adds exp(0) = 1 */
        const float lse = mx + (float)log(sum); /* log_softmax(z)_v = z_v − lse */
        double kl = 0.0;
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) {
            const double w = lab_w[k];
            if (w > 0.0) kl += w * (log(w) - (double)(zr[lab_ids[k]] - lse));
        }
        loss[i] = kl;
        if (!dz) continue;
        float *g = dz + (size_t)i * V; /* (V) */
        const float gs = (float)grad_scale;
        for (int v = 0; v < V; v++) g[v] = expf(zr[v] - lse) * gs;
        for (int64_t k = lab_off[i]; k < lab_off[i + 1]; k++) g[lab_ids[k]] -= (float)(lab_w[k] * grad_scale);
    }
}
