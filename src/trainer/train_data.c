/* Reading the trainer's samples from a run file (train_data.h). */
#include "trainer/train_data.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "common/hash.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "trainer/rng.h"

void tr_data_free(tr_data *d) {
    free(d->tokens), free(d->in_off), free(d->in_len), free(d->row), free(d->lab_off), free(d->lab_ids);
    free(d->lab_w), free(d->perm), free(d->order0), free(d->buf);
    memset(d, 0, sizeof *d);
}

int tr_data_load(const char *path, int vocab, int64_t max_length, tr_data *d) {
    memset(d, 0, sizeof *d);
    d->perm_epoch = -1;
    hid_t f = (hid_t)runfile_open_read(path);
    if (f < 0) return -1;
    int rc = -1;
    hid_t gt = -1, gs = -1;
    int64_t *tok_off = NULL, *trace = NULL, *loff = NULL;
    int32_t *plen = NULL, *ngen = NULL, *step = NULL, *ids = NULL;
    float *w = NULL;
    int64_t n_tr = 0, n_tok = 0, n_s = 0, n_lab = 0;
    if (H5Lexists(f, "samples", H5P_DEFAULT) <= 0) {
        lr_error_set(path, "the run file has no /samples group (run `sample` first, or `select` to rebuild it)");
        goto out;
    }
    if (H5Lexists(f, "traces", H5P_DEFAULT) <= 0) {
        lr_error_set(path, "the run file has no /traces group");
        goto out;
    }
    gt = H5Gopen2(f, "traces", H5P_DEFAULT);
    gs = H5Gopen2(f, "samples", H5P_DEFAULT);
    if (gt < 0 || gs < 0) {
        lr_error_set(path, "cannot open /traces or /samples");
        goto out;
    }
    if (!(tok_off = h5u_read_all(gt, "token_offsets", path, H5T_NATIVE_INT64, -1, &n_tr))) goto out;
    n_tr--;
    if (n_tr < 0) {
        lr_error_set(path, "/traces/token_offsets is empty");
        goto out;
    }
    if (!(d->tokens = h5u_read_all(gt, "tokens", path, H5T_NATIVE_INT32, -1, &n_tok)) ||
        !(plen = h5u_read_all(gt, "prompt_len", path, H5T_NATIVE_INT32, n_tr, NULL)))
        goto out;
    if (H5Lexists(gt, "n_generated", H5P_DEFAULT) > 0 &&
        !(ngen = h5u_read_all(gt, "n_generated", path, H5T_NATIVE_INT32, n_tr, NULL)))
        goto out;
    for (int64_t i = 0; i < n_tr; i++)
        if (tok_off[i] < 0 || tok_off[i + 1] < tok_off[i] || tok_off[i + 1] > n_tok || plen[i] < 0 ||
            plen[i] > tok_off[i + 1] - tok_off[i]) {
            lr_error_set(path, "/traces offsets or prompt_len are inconsistent at trace %lld", (long long)i);
            goto out;
        }
    if (!(trace = h5u_read_all(gs, "trace", path, H5T_NATIVE_INT64, -1, &n_s)) ||
        !(step = h5u_read_all(gs, "step", path, H5T_NATIVE_INT32, n_s, NULL)) ||
        !(loff = h5u_read_all(gs, "label_offsets", path, H5T_NATIVE_INT64, n_s + 1, NULL)) ||
        !(ids = h5u_read_all(gs, "label_ids", path, H5T_NATIVE_INT32, -1, &n_lab)) ||
        !(w = h5u_read_all(gs, "label_weights", path, H5T_NATIVE_FLOAT, n_lab, NULL)))
        goto out;
    d->n_file = n_s;
    if (n_s == 0) {
        lr_error_set(path, "/samples is empty: no step reached the KL threshold beta (lower it with `select --beta`)");
        goto out;
    }
    if (loff[0] != 0 || loff[n_s] != n_lab) {
        lr_error_set(path, "/samples/label_offsets do not span label_ids");
        goto out;
    }
    /* every row's label range must lie inside label_ids before any is copied */
    for (int64_t i = 0; i < n_s; i++)
        if (loff[i + 1] <= loff[i] || loff[i] < 0 || loff[i + 1] > n_lab) {
            lr_error_set(path, "/samples/label_offsets are not strictly increasing at row %lld (%lld then %lld)",
                         (long long)i, (long long)loff[i], (long long)loff[i + 1]);
            goto out;
        }
    for (int64_t k = 0; k < n_lab; k++)
        if (ids[k] < 0 || ids[k] >= vocab || !isfinite(w[k]) || w[k] < 0.0f) {
            lr_error_set(path, "/samples label entry %lld (id %d, weight %g) is outside the model's vocabulary "
                               "[0, %d) or not a finite non-negative weight", (long long)k, (int)ids[k], (double)w[k],
                         vocab);
            goto out;
        }
    for (int64_t k = 0; k < n_tok; k++)
        if (d->tokens[k] < 0 || d->tokens[k] >= vocab) {
            lr_error_set(path, "/traces/tokens[%lld] = %d is outside the model's vocabulary [0, %d) (a run file "
                               "for another model?)", (long long)k, (int)d->tokens[k], vocab);
            goto out;
        }
    d->in_off = xmalloc((size_t)n_s * sizeof *d->in_off);
    d->in_len = xmalloc((size_t)n_s * sizeof *d->in_len);
    d->row = xmalloc((size_t)n_s * sizeof *d->row);
    d->lab_off = xmalloc((size_t)(n_s + 1) * sizeof *d->lab_off);
    d->lab_ids = xmalloc((size_t)(n_lab ? n_lab : 1) * sizeof *d->lab_ids);
    d->lab_w = xmalloc((size_t)(n_lab ? n_lab : 1) * sizeof *d->lab_w);
    int64_t n = 0, nl = 0;
    d->lab_off[0] = 0;
    for (int64_t i = 0; i < n_s; i++) {
        const int64_t t = trace[i];
        if (t < 0 || t >= n_tr || step[i] < 0) {
            lr_error_set(path, "/samples row %lld: trace %lld or step %d is invalid", (long long)i,
                         (long long)t, (int)step[i]);
            goto out;
        }
        const int64_t len = (int64_t)plen[t] + step[i];
        if ((ngen && step[i] >= ngen[t]) || len > tok_off[t + 1] - tok_off[t] || len < 1) {
            lr_error_set(path, "/samples row %lld: step %d is outside trace %lld", (long long)i, (int)step[i],
                         (long long)t);
            goto out;
        }
        if (len > max_length) {
            d->n_skipped_long++;
            continue;
        }
        d->in_off[n] = tok_off[t];
        d->in_len[n] = (int32_t)len;
        d->row[n] = i;
        const int64_t k = loff[i + 1] - loff[i];
        memcpy(d->lab_ids + nl, ids + loff[i], (size_t)k * sizeof *ids);
        memcpy(d->lab_w + nl, w + loff[i], (size_t)k * sizeof *w);
        nl += k;
        d->lab_off[++n] = nl;
        if (len > d->max_len) d->max_len = len;
    }
    d->n = n;
    /* FNV-1a over inputs and labels: a `select` or a re-sample between a
     * kill and --resume must not let the run continue on other data */
    uint64_t h = LR_FNV1A64_INIT_RESUME;
    for (int64_t i = 0; i < n; i++) {
        h = lr_fnv1a64(h, d->tokens + d->in_off[i], (size_t)d->in_len[i] * sizeof(int32_t));
        h = lr_fnv1a64(h, &d->in_len[i], sizeof d->in_len[i]);
    }
    h = lr_fnv1a64(h, d->lab_off, (size_t)(n + 1) * sizeof *d->lab_off);
    h = lr_fnv1a64(h, d->lab_ids, (size_t)nl * sizeof *d->lab_ids);
    h = lr_fnv1a64(h, d->lab_w, (size_t)nl * sizeof *d->lab_w);
    d->digest = h;
    if (n == 0) {
        lr_error_set(path, "all %lld samples are longer than --max-length %lld (none left to train on)",
                     (long long)n_s, (long long)max_length);
        goto out;
    }
    d->perm = xmalloc((size_t)n * sizeof *d->perm);
    d->complete = 1;
    d->n_tokens = n_tok;
    tr_data_set_order(d, 0, 0);
    rc = 0;
out:
    free(tok_off), free(trace), free(loff), free(plen), free(ngen), free(step), free(ids), free(w);
    if (gt >= 0) H5Gclose(gt);
    if (gs >= 0) H5Gclose(gs);
    H5Fclose(f);
    if (rc != 0) tr_data_free(d);
    return rc;
}

void tr_data_set_order(tr_data *d, uint64_t seed, int shuffle) {
    d->seed = seed;
    d->shuffle = shuffle;
    d->perm_epoch = -1;
}

void tr_data_set_buffer(tr_data *d, int64_t capacity, int64_t start) {
    d->buf_cap = capacity > 0 ? capacity : 0;
    d->buf_start = start < 1 || start > d->buf_cap ? d->buf_cap : start; /* 0: start when full */
    /* grown as samples are admitted: M may exceed the data by far
     * (--shuffle-buffer 1e12 means "the whole first epoch") */
    free(d->buf);
    d->buf = NULL;
    d->buf_alloc = 0;
    d->buf_n = d->admitted = d->n_order0 = 0;
}

int tr_data_feed(tr_data *d) {
    if (d->complete) return 1;
    const int r = d->feed ? d->feed(d->feed_ctx, d) : 1;
    if (r == 1) d->complete = 1;
    return r < 0 ? -1 : r;
}

/* Feeds until at least `want` samples are in or the stream has ended. */
static int ensure_loaded(tr_data *d, int64_t want) {
    while (!d->complete && d->n < want)
        if (tr_data_feed(d) < 0) return -1;
    if (d->complete && d->n == 0) {
        lr_error_set("train", "no samples to train on: no generated step reached the KL threshold beta (or every "
                              "sample is longer than --max-length)");
        return -1;
    }
    return 0;
}

/* Draw n_order0 of the first epoch through the buffer (train_data.h).
 * 0 drawn, 1 the first epoch is over, -1 error. */
static int draw_first_epoch(tr_data *d) {
    const int64_t k = d->n_order0;
    int64_t target = d->buf_cap + k < d->buf_start + 2 * k ? d->buf_cap + k : d->buf_start + 2 * k;
    if (ensure_loaded(d, target) != 0) return -1;
    if (target > d->n) target = d->n; /* the stream has ended */
    if (d->buf_n + (target - d->admitted) > d->buf_alloc) {
        int64_t want = d->buf_n + (target - d->admitted);
        d->buf_alloc = want > 2 * d->buf_alloc ? want : 2 * d->buf_alloc;
        d->buf = xrealloc(d->buf, (size_t)d->buf_alloc * sizeof *d->buf);
    }
    while (d->admitted < target) d->buf[d->buf_n++] = d->admitted++;
    if (d->buf_n == 0) return 1;
    if (d->n_order0 == d->cap_order0) {
        d->cap_order0 = d->cap_order0 ? 2 * d->cap_order0 : 1024;
        d->order0 = xrealloc(d->order0, (size_t)d->cap_order0 * sizeof *d->order0);
    }
    const int64_t j = (int64_t)(rng_key(rng_key(d->seed, RNG_TAG_BUFFER), (uint64_t)k) % (uint64_t)d->buf_n);
    d->order0[d->n_order0++] = d->buf[j];
    d->buf[j] = d->buf[--d->buf_n];
    return 0;
}

int64_t tr_data_at(tr_data *d, int64_t pos) {
    int64_t p = pos, first_epoch = 0;
    if (d->shuffle && d->buf_cap > 0) {
        while (pos >= d->n_order0) {
            int r = draw_first_epoch(d);
            if (r < 0) return -1;
            if (r == 1) break;
        }
        if (pos < d->n_order0) return d->order0[pos];
        p = pos - d->n, first_epoch = 1; /* later epochs: permutations as below */
    } else if (ensure_loaded(d, d->shuffle ? INT64_MAX : pos + 1) != 0) {
        return -1;
    }
    if (!d->shuffle && pos < d->n) return pos;
    if (ensure_loaded(d, INT64_MAX) != 0) return -1;
    const int64_t e = p / d->n + first_epoch, i = p % d->n;
    if (!d->shuffle) return i;
    if (e != d->perm_epoch) {
        d->perm = xrealloc(d->perm, (size_t)d->n * sizeof *d->perm);
        rng_permutation(rng_key(rng_key(d->seed, RNG_TAG_SHUFFLE), (uint64_t)e), d->n, d->perm);
        d->perm_epoch = e;
    }
    return d->perm[i];
}

int tr_data_finish(tr_data *d) { return ensure_loaded(d, INT64_MAX); }

void tr_data_stream_init(tr_data *d, int vocab, int64_t max_length, tr_feed_fn feed, void *ctx) {
    memset(d, 0, sizeof *d);
    d->perm_epoch = -1;
    d->vocab = vocab;
    d->max_length = max_length;
    d->feed = feed;
    d->feed_ctx = ctx;
    d->lab_off = xmalloc(sizeof *d->lab_off);
    d->lab_off[0] = 0;
}

#define GROW(ptr, cap, need)                                                   \
    do {                                                                       \
        if ((need) > (cap)) {                                                  \
            (cap) = (need) > 2 * (cap) ? (need) : 2 * (cap);                   \
            (ptr) = xrealloc((ptr), (size_t)(cap) * sizeof *(ptr));            \
        }                                                                      \
    } while (0)

int tr_data_append_chunk(tr_data *d, const lr_chunk *c, const lr_method *m) {
    const int64_t nt = c->token_offsets[c->n_traces];
    for (int64_t k = 0; k < nt; k++)
        if (c->tokens[k] < 0 || c->tokens[k] >= d->vocab) {
            lr_error_set("train", "chunk %lld: token id %d is outside the model's vocabulary [0, %d)",
                         (long long)c->chunk, (int)c->tokens[k], d->vocab);
            return -1;
        }
    GROW(d->tokens, d->cap_tokens, d->n_tokens + nt);
    memcpy(d->tokens + d->n_tokens, c->tokens, (size_t)nt * sizeof *d->tokens);
    int64_t row = 0; /* chunk-local step row, as in the join */
    /* the rule decides per trace (method_select_trace: --select random
     * needs all of a trace's steps), as the join's /samples writer does */
    int32_t most = 0;
    for (int i = 0; i < c->n_traces; i++)
        if (c->n_generated[i] > most) most = c->n_generated[i];
    double *kl = xmalloc((size_t)(most > 0 ? most : 1) * sizeof *kl);
    uint8_t *mask = xmalloc((size_t)(most > 0 ? most : 1));
    int32_t *scratch = xmalloc((size_t)(most > 0 ? most : 1) * sizeof *scratch);
    for (int i = 0; i < c->n_traces; i++) {
        const int64_t toff = d->n_tokens + c->token_offsets[i];
        for (int32_t s = 0; s < c->n_generated[i]; s++) kl[s] = c->div[row + s].kl;
        method_select_trace(m, c->trace_problem[i], kl, c->n_generated[i], mask, scratch);
        for (int32_t s = 0; s < c->n_generated[i]; s++, row++) {
            const int64_t global_row = d->n_steps++;
            const lr_scored_step st = chunk_scored_step(c, i, s, row);
            if (!mask[s]) continue;
            d->n_file++;
            const int64_t len = (int64_t)c->prompt_len[i] + s; /* the input x || y_<t */
            if (len > d->max_length) {
                d->n_skipped_long++;
                continue;
            }
            const int64_t room = method_label_room(&st);
            const int64_t cap_n = d->cap_n;
            GROW(d->in_off, d->cap_n, d->n + 1);
            if (d->cap_n != cap_n) {
                d->in_len = xrealloc(d->in_len, (size_t)d->cap_n * sizeof *d->in_len);
                d->row = xrealloc(d->row, (size_t)d->cap_n * sizeof *d->row);
                d->lab_off = xrealloc(d->lab_off, (size_t)(d->cap_n + 1) * sizeof *d->lab_off);
            }
            const int64_t nl = d->lab_off[d->n];
            const int64_t cap_lab = d->cap_lab;
            GROW(d->lab_ids, d->cap_lab, nl + room);
            if (d->cap_lab != cap_lab) d->lab_w = xrealloc(d->lab_w, (size_t)d->cap_lab * sizeof *d->lab_w);
            const int k = method_label(m, &st, d->lab_ids + nl, d->lab_w + nl);
            if (k == 0) continue; /* no finite candidate: no label (as samples_writer_step) */
            d->in_off[d->n] = toff;
            d->in_len[d->n] = (int32_t)len;
            d->row[d->n] = global_row;
            d->lab_off[d->n + 1] = nl + k;
            d->n++;
            if (len > d->max_len) d->max_len = len;
        }
    }
    free(kl), free(mask), free(scratch);
    d->n_tokens += nt;
    return 0;
}
