/* bench_train's sample sets (train_samples.h); bench/train_bench.py mirrors
 * every id, label and order here. */
#include "train_samples.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define N_LAB 4 /* soft-label entries per sample */

static void *xmalloc_or_exit(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_train: out of memory\n");
        exit(1);
    }
    return p;
}

/* Room for one micro-batch: seq_cap sequences, tok_cap tokens, loss_cap
 * loss positions (loss_pos arrays only when packed). */
static void mb_alloc(tr_batch *b, int seq_cap, long tok_cap, int loss_cap, int packed) {
    *b = (tr_batch){0};
    b->tokens = xmalloc_or_exit((size_t)tok_cap * sizeof *b->tokens);
    b->lens = xmalloc_or_exit((size_t)seq_cap * sizeof *b->lens);
    b->key = xmalloc_or_exit((size_t)seq_cap * sizeof *b->key);
    b->lab_off = xmalloc_or_exit((size_t)(loss_cap + 1) * sizeof *b->lab_off);
    b->lab_ids = xmalloc_or_exit((size_t)loss_cap * N_LAB * sizeof *b->lab_ids);
    b->lab_w = xmalloc_or_exit((size_t)loss_cap * N_LAB * sizeof *b->lab_w);
    if (packed) {
        b->loss_seq = xmalloc_or_exit((size_t)loss_cap * sizeof *b->loss_seq);
        b->loss_pos = xmalloc_or_exit((size_t)loss_cap * sizeof *b->loss_pos);
    }
}

/* Sample s's soft label as loss entry j of b. */
static void put_label(const bench_sample_opts *o, int64_t s, int j, tr_batch *b) {
    static const float wv[N_LAB] = {0.4f, 0.3f, 0.2f, 0.1f};
    int32_t *ids = (int32_t *)b->lab_ids;
    float *w = (float *)b->lab_w;
    int64_t *off = (int64_t *)b->lab_off;
    for (int e = 0; e < N_LAB; e++) {
        ids[N_LAB * j + e] = (int32_t)((bench_token(o->seed + 100, (uint64_t)s, o->vocab) + 977 * e) % o->vocab);
        w[N_LAB * j + e] = wv[e];
    }
    off[j] = (int64_t)N_LAB * j;
    off[j + 1] = (int64_t)N_LAB * (j + 1);
}

/* Appends the first len tokens of the bench stream at `start` as sequence
 * b->n_seq (key `key`); returns its index. */
static int push_seq(const bench_sample_opts *o, tr_batch *b, long *nt, uint64_t start, int len, int64_t key) {
    int32_t *tok = (int32_t *)b->tokens + *nt;
    for (int p = 0; p < len; p++) tok[p] = bench_token(o->seed, start + (uint64_t)p, o->vocab);
    ((int *)b->lens)[b->n_seq] = len;
    ((int64_t *)b->key)[b->n_seq] = key;
    *nt += len;
    return b->n_seq++;
}

/* Steps of trace i and the reply position t of its step j. */
static int trace_steps(const bench_sample_opts *o, int i) {
    return o->n_samples / o->n_traces + (i < o->n_samples % o->n_traces);
}
static int step_t(const bench_sample_opts *o, int k, int j) { return (2 * j + 1) * o->gen_len / (2 * k); }

static void finish_mb(bench_step *st, const tr_batch *b, long nt) {
    for (int i = 0; i < b->n_seq; i++) st->attn_pairs += 0.5 * b->lens[i] * (b->lens[i] + 1.0);
    st->tokens += nt;
    if (nt > st->max_tokens) st->max_tokens = (int)nt;
    st->n_samples += tr_batch_n_loss(b);
}

int bench_step_build(const bench_sample_opts *o, bench_step *st) {
    *st = (bench_step){0};
    if (o->micro_batch < 1 || o->vocab < 1) goto bad;
    if (o->stream) {
        if (o->seq_len < 1) goto bad;
        st->n_mb = 1;
        st->mb = xmalloc_or_exit(sizeof *st->mb);
        tr_batch *b = &st->mb[0];
        mb_alloc(b, o->micro_batch, (long)o->micro_batch * o->seq_len, o->micro_batch, 0);
        long nt = 0;
        for (int s = 0; s < o->micro_batch; s++) {
            push_seq(o, b, &nt, (uint64_t)s * o->seq_len, o->seq_len, s);
            put_label(o, s, s, b);
        }
        st->tokens_per_sample = nt;
        finish_mb(st, b, nt);
        return 0;
    }
    const int S = o->n_samples, Tn = o->n_traces, P = o->prompt_len, G = o->gen_len;
    if (Tn < 1 || S < Tn || P < 1 || G < 1 || (S + Tn - 1) / Tn > G) goto bad;
    const uint64_t trace_len = (uint64_t)P + (uint64_t)G;
    /* sample s (trace order) → trace and reply position */
    int *s_trace = xmalloc_or_exit((size_t)S * sizeof *s_trace), *s_t = xmalloc_or_exit((size_t)S * sizeof *s_t);
    for (int i = 0, s = 0; i < Tn; i++)
        for (int j = 0, k = trace_steps(o, i); j < k; j++, s++) s_trace[s] = i, s_t[s] = step_t(o, k, j);
    for (int s = 0; s < S; s++) st->tokens_per_sample += P + s_t[s];
    const long tok_cap = (long)S * (long)trace_len;
    if (!o->pack) {
        int *order = xmalloc_or_exit((size_t)S * sizeof *order);
        for (int s = 0; s < S; s++) order[s] = s;
        for (int i = S - 1; i > 0; i--) { /* Fisher-Yates, as the reference shuffles samples */
            const int j = bench_token(o->seed + 300, (uint64_t)i, i + 1), x = order[i];
            order[i] = order[j], order[j] = x;
        }
        st->n_mb = (S + o->micro_batch - 1) / o->micro_batch;
        st->mb = xmalloc_or_exit((size_t)st->n_mb * sizeof *st->mb);
        for (int m = 0; m < st->n_mb; m++) {
            tr_batch *b = &st->mb[m];
            mb_alloc(b, o->micro_batch, tok_cap, o->micro_batch, 0);
            long nt = 0;
            for (int q = m * o->micro_batch; q < S && q < (m + 1) * o->micro_batch; q++) {
                const int s = order[q];
                /* its place in the step keys its dropout masks, as in the trainer */
                const int i = push_seq(o, b, &nt, (uint64_t)s_trace[s] * trace_len, P + s_t[s], q);
                put_label(o, s, i, b);
            }
            finish_mb(st, b, nt);
        }
        free(order);
    } else {
        st->mb = xmalloc_or_exit((size_t)Tn * sizeof *st->mb);
        for (int i = 0, s0 = 0; i < Tn; st->n_mb++) {
            tr_batch *b = &st->mb[st->n_mb];
            mb_alloc(b, Tn, tok_cap, S, 1);
            long nt = 0;
            do { /* whole traces while their steps fit (always at least one) */
                const int k = trace_steps(o, i);
                if (b->n_seq > 0 && b->n_loss + k > o->micro_batch) break;
                const int q = push_seq(o, b, &nt, (uint64_t)i * trace_len, P + s_t[s0 + k - 1], i);
                for (int j = 0; j < k; j++, b->n_loss++) {
                    ((int *)b->loss_seq)[b->n_loss] = q;
                    ((int *)b->loss_pos)[b->n_loss] = P + s_t[s0 + j] - 1;
                    put_label(o, s0 + j, b->n_loss, b);
                }
                s0 += k, i++;
            } while (i < Tn);
            finish_mb(st, b, nt);
        }
    }
    free(s_trace), free(s_t);
    return 0;
bad:
    fprintf(stderr,
            "bench_train: sample set out of range (micro-batch %d, seq-len %d, traces %d, samples %d, "
            "prompt-len %d, gen-len %d: needs traces <= samples <= traces * gen-len)\n",
            o->micro_batch, o->seq_len, o->n_traces, o->n_samples, o->prompt_len, o->gen_len);
    return -1;
}

void bench_step_free(bench_step *st) {
    for (int m = 0; m < st->n_mb; m++) {
        tr_batch *b = &st->mb[m];
        free((void *)b->tokens), free((void *)b->lens), free((void *)b->key), free((void *)b->lab_off);
        free((void *)b->lab_ids), free((void *)b->lab_w), free((void *)b->loss_seq), free((void *)b->loss_pos);
    }
    free(st->mb);
    *st = (bench_step){0};
}
