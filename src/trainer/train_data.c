/* Reading the trainer's samples from a run file (train_data.h). */
#include "trainer/train_data.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"
#include "trainer/rng.h"

void tr_data_free(tr_data *d) {
    free(d->tokens), free(d->in_off), free(d->in_len), free(d->row), free(d->lab_off), free(d->lab_ids);
    free(d->lab_w), free(d->perm);
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
        if (t < 0 || t >= n_tr || step[i] < 0 || loff[i + 1] < loff[i] || loff[i + 1] == loff[i]) {
            lr_error_set(path, "/samples row %lld: trace %lld, step %d or its label offsets are invalid", (long long)i,
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
    uint64_t h = 1469598103934665603ull;
#define FNV(p, nb)                                                             \
    for (size_t b_ = 0; b_ < (size_t)(nb); b_++) h = (h ^ ((const unsigned char *)(p))[b_]) * 1099511628211ull;
    for (int64_t i = 0; i < n; i++) {
        FNV(d->tokens + d->in_off[i], (size_t)d->in_len[i] * sizeof(int32_t));
        FNV(&d->in_len[i], sizeof d->in_len[i]);
    }
    FNV(d->lab_off, (size_t)(n + 1) * sizeof *d->lab_off);
    FNV(d->lab_ids, (size_t)nl * sizeof *d->lab_ids);
    FNV(d->lab_w, (size_t)nl * sizeof *d->lab_w);
#undef FNV
    d->digest = h;
    if (n == 0) {
        lr_error_set(path, "all %lld samples are longer than --max-length %lld (none left to train on)",
                     (long long)n_s, (long long)max_length);
        goto out;
    }
    d->perm = xmalloc((size_t)n * sizeof *d->perm);
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

int64_t tr_data_at(tr_data *d, int64_t pos) {
    const int64_t e = pos / d->n, i = pos % d->n;
    if (!d->shuffle) return i;
    if (e != d->perm_epoch) {
        rng_permutation(rng_key(rng_key(d->seed, RNG_TAG_SHUFFLE), (uint64_t)e), d->n, d->perm);
        d->perm_epoch = e;
    }
    return d->perm[i];
}
