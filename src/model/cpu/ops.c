/* CPU element-wise and row ops: embedding, RMSNorm, RoPE, SwiGLU, residual
 * add, row gather, KV-cache store, log-softmax. OpenMP over rows; every
 * reduction is a fixed-order sum (simd.h), so a row's result never depends
 * on the other rows, the thread count or the data's alignment. Numerics
 * follow Hugging Face's fp32 modules (see backend.h). Part of kernels.c. */

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

static void cpu_add(lr_backend *be, float *y, const float *x, int M, int d) {
    const size_t n = (size_t)M * d;
#pragma omp parallel for simd num_threads(threads_for(be, (long)n)) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static void cpu_gather_rows(lr_backend *be, const float *src, int d, const int *rows, int n, float *dst) {
    (void)be;
    for (int r = 0; r < n; r++) memcpy(dst + (size_t)r * d, src + (size_t)rows[r] * d, (size_t)d * sizeof(float));
}

static void cpu_kv_store(lr_backend *be, float *k_dst, float *v_dst, const int64_t *dst_row, const float *k_src,
                  const float *v_src, int ld_src, int M, int width) {
    (void)be;
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
