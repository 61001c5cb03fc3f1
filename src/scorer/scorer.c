#include "scorer/scorer.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

/* The id trace i generated at step t. */
static int32_t step_token(const lr_chunk *c, int i, int64_t t) {
    return c->tokens[c->token_offsets[i] + c->prompt_len[i] + t];
}

/* Candidates kept per step by a backend's contrast op; a step with more
 * (a flat expert row, or a tiny store_alpha) is recomputed from its rows. */
#define OP_CAND_CAP 64

/* The contrast of steps s_lo .. s_lo+n-1 on the amateur's backend from the
 * two models' rows in backend memory (le, la): only per-step results cross
 * to the host. A step the op could not finish (a non-finite row or KL,
 * more than OP_CAND_CAP candidates) is recomputed by contrast_step from
 * its two rows, copied to the host. */
static void contrast_on_backend(const lr_scorer *s, const float *le, int ve, const float *la, int va, int64_t s_lo,
                                int n, const int32_t *tok, float *scratch, lr_step_div *div, lr_cand_buf *cand) {
    lr_backend *ba = model_backend(s->amateur), *be = model_backend(s->expert);
    const int cap = OP_CAND_CAP;
    lr_contrast_row *rows = xmalloc((size_t)(n ? n : 1) * sizeof *rows);
    int32_t *cid = xmalloc((size_t)(n ? n : 1) * cap * sizeof *cid);
    float *clpe = xmalloc((size_t)(n ? n : 1) * cap * sizeof *clpe);
    float *clpa = xmalloc((size_t)(n ? n : 1) * cap * sizeof *clpa);
    ba->contrast(ba, le, ve, la, va, n, tok, log(s->store_alpha), cap, rows, cid, clpe, clpa);
    float *he = NULL, *ha = NULL; /* host copies of a recomputed step's rows */
    for (int i = 0; i < n; i++) {
        const int64_t r = s_lo + i;
        const lr_contrast_row *cr = &rows[i];
        if (!cr->finite || cr->n_cand > cap || cr->n_cand < 1) {
            if (!he) he = xmalloc((size_t)ve * sizeof *he), ha = xmalloc((size_t)va * sizeof *ha);
            be->download(be, he, le + (size_t)i * ve, (size_t)ve * sizeof *he);
            ba->download(ba, ha, la + (size_t)i * va, (size_t)va * sizeof *ha);
            contrast_step(he, ve, ha, va, tok[i], s->store_alpha, scratch, &div[r], &cand[r]);
            continue;
        }
        div[r] = (lr_step_div){.kl = cr->kl,
                               .entropy_expert = cr->entropy_expert,
                               .entropy_amateur = cr->entropy_amateur,
                               .logp_expert = cr->logp_expert,
                               .logp_amateur = cr->logp_amateur,
                               .top1_expert = cr->top1_expert,
                               .top1_amateur = cr->top1_amateur};
        lr_cand_buf *cb = &cand[r];
        cand_buf_reserve(cb, (size_t)cr->n_cand);
        memcpy(cb->ids + cb->n, cid + (size_t)i * cap, (size_t)cr->n_cand * sizeof(int32_t));
        memcpy(cb->logp_expert + cb->n, clpe + (size_t)i * cap, (size_t)cr->n_cand * sizeof(float));
        memcpy(cb->logp_amateur + cb->n, clpa + (size_t)i * cap, (size_t)cr->n_cand * sizeof(float));
        cb->n += (size_t)cr->n_cand;
    }
    free(he), free(ha), free(rows), free(cid), free(clpe), free(clpa);
}

int scorer_score_chunk(const lr_scorer *s, lr_chunk *c) {
    lr_chunk *out = c; /* the contrast part is filled in place */
    const int ve = c->vocab_expert, va = model_vocab_size(s->amateur);
    const int nt = c->n_traces;
    float **erows = c->logits; /* (nt) each (T_i, ve); NULL: the expert pass below */
    const int32_t *ngen = c->n_generated;
    const int64_t *toff = c->token_offsets;
    const int32_t *plen = c->prompt_len;
    const int32_t *tokens = c->tokens;

    if (!erows && nt > 0) {
        if (!s->expert) {
            lr_error_set("scorer", "chunk %lld came without the expert's logits rows and this scorer holds no expert",
                         (long long)c->chunk);
            return -1;
        }
        if (model_vocab_size(s->expert) != ve) {
            lr_error_set(model_dir(s->expert), "vocab size %d, the sampler's expert has %d",
                         model_vocab_size(s->expert), ve);
            return -1;
        }
    }

    int64_t ns = 0;
    int64_t *step0 = xmalloc((size_t)(nt + 1) * sizeof *step0); /* first step row of each trace */
    for (int i = 0; i < nt; i++) step0[i] = ns, ns += ngen[i];
    step0[nt] = ns;
    int *trace_of = xmalloc((size_t)(ns ? ns : 1) * sizeof *trace_of); /* (ns) trace of each step row */
    for (int i = 0; i < nt; i++)
        for (int64_t r = step0[i]; r < step0[i + 1]; r++) trace_of[r] = i;
    out->n_steps = ns;
    out->div = xmalloc((size_t)(ns ? ns : 1) * sizeof *out->div);
    out->cand_offsets = xmalloc((size_t)(ns + 1) * sizeof *out->cand_offsets);

    /* per-step candidate lists, concatenated in step order at the end */
    lr_cand_buf *steps_cand = xcalloc((size_t)(ns ? ns : 1), sizeof *steps_cand);
    const int nthreads = omp_get_max_threads();
    float *scratch = xmalloc((size_t)nthreads * contrast_scratch_size(ve, va) * sizeof(float));
    long budget = s->row_budget > 0 ? s->row_budget : 1024;
    float *alog = NULL; /* (steps of the batch, va): the amateur's rows */
    size_t alog_rows = 0;
    float *elog = NULL; /* (steps of the batch, ve): the expert's rows when erows is NULL */
    size_t elog_rows = 0;
    int *lens = xmalloc((size_t)(nt ? nt : 1) * sizeof *lens);
    int rc = 0;
    /* --transport ids with models whose backend has a contrast op (a GPU):
     * no logits row leaves the device */
    const int on_backend = !erows && model_backend(s->amateur)->contrast != NULL;

    for (int a = 0; a < nt && rc == 0;) {
        /* traces [a, b): x || y_<T-1 each, at most `budget` rows (at least one trace) */
        int b = a;
        long rows = 0;
        while (b < nt) {
            long L = (long)plen[b] + ngen[b] - 1;
            if (b > a && rows + L > budget) break;
            lens[b - a] = (int)L;
            rows += L;
            b++;
        }
        /* both models' logits only at the generated positions P_i - 1 .. P_i + T_i - 2,
         * the last T_i of x || y_<T-1: row r - s_lo of the batch is step r */
        const int64_t s_lo = step0[a], s_hi = step0[b];
        const size_t n_steps = (size_t)(s_hi - s_lo);
        /* the ids of traces a..b-1 without each trace's last token, packed */
        int32_t *packed = xmalloc((size_t)rows * sizeof *packed);
        long o = 0;
        for (int i = a; i < b; i++) {
            memcpy(packed + o, tokens + toff[i], (size_t)lens[i - a] * sizeof(int32_t));
            o += lens[i - a];
        }
        if (on_backend) { /* both models' rows stay in backend memory; the contrast runs there */
            const float *le = NULL, *la = NULL;
            if (model_forward_last_dev(s->expert, packed, lens, ngen + a, b - a, &le) != 0) rc = -1;
            if (rc == 0) model_sync(s->expert); /* the amateur's backend reads its rows */
            if (rc == 0 && model_forward_last_dev(s->amateur, packed, lens, ngen + a, b - a, &la) != 0) rc = -1;
            free(packed);
            if (rc != 0) break;
            int32_t *tok = xmalloc((n_steps ? n_steps : 1) * sizeof *tok); /* (n_steps) generated ids */
            for (int64_t r = s_lo; r < s_hi; r++) tok[r - s_lo] = step_token(c, trace_of[r], r - step0[trace_of[r]]);
            contrast_on_backend(s, le, ve, la, va, s_lo, (int)n_steps, tok, scratch, out->div, steps_cand);
            free(tok);
            a = b;
            continue;
        }
        if (n_steps > alog_rows) { /* host rows: only this path brings them back */
            free(alog);
            alog_rows = n_steps;
            alog = xmalloc(alog_rows * (size_t)va * sizeof(float));
        }
        if (model_forward_last(s->amateur, packed, lens, ngen + a, b - a, alog) != 0) rc = -1;
        if (rc == 0 && !erows) { /* no rows from the sampler: the expert over the same ids */
            if (n_steps > elog_rows) {
                free(elog);
                elog_rows = n_steps;
                elog = xmalloc(elog_rows * (size_t)ve * sizeof(float));
            }
            if (model_forward_last(s->expert, packed, lens, ngen + a, b - a, elog) != 0) rc = -1;
        }
        free(packed);
        if (rc != 0) break;

#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t r = s_lo; r < s_hi; r++) {
            const int ia = trace_of[r];
            const int t = (int)(r - step0[ia]);
            const float *le = erows ? erows[ia] + (size_t)t * ve : elog + (size_t)(r - s_lo) * ve; /* (ve) */
            const float *la = alog + (size_t)(r - s_lo) * va;                                      /* (va) */
            const int32_t tok = step_token(c, ia, t);
            float *scr = scratch + (size_t)omp_get_thread_num() * contrast_scratch_size(ve, va);
            contrast_step(le, ve, la, va, tok, s->store_alpha, scr, &out->div[r], &steps_cand[r]);
        }
        a = b;
    }
    out->n_selected = out->n_nonfinite = 0;
    if (rc == 0) {
        size_t total = 0;
        for (int64_t r = 0; r < ns; r++) total += steps_cand[r].n;
        cand_buf_reserve(&out->cand, total ? total : 1);
        out->cand_offsets[0] = 0;
        for (int64_t r = 0; r < ns; r++) {
            const lr_cand_buf *sc = &steps_cand[r];
            memcpy(out->cand.ids + out->cand.n, sc->ids, sc->n * sizeof(int32_t));
            memcpy(out->cand.logp_expert + out->cand.n, sc->logp_expert, sc->n * sizeof(float));
            memcpy(out->cand.logp_amateur + out->cand.n, sc->logp_amateur, sc->n * sizeof(float));
            out->cand.n += sc->n;
            out->cand_offsets[r + 1] = (int64_t)out->cand.n;
        }
        for (int64_t r = 0; r < ns; r++) {
            const int i = trace_of[r];
            const lr_scored_step st = chunk_scored_step(out, i, (int32_t)(r - step0[i]), r);
            if (method_select(&s->method, &st)) out->n_selected++;
            if (contrast_nonfinite(st.kl)) out->n_nonfinite++;
        }
    }
    for (int64_t r = 0; r < ns; r++) cand_buf_free(&steps_cand[r]);
    free(steps_cand), free(scratch), free(alog), free(elog), free(lens), free(step0), free(trace_of);
    if (rc != 0) {
        free(out->div);
        free(out->cand_offsets);
        cand_buf_free(&out->cand);
        out->div = NULL;
        out->cand_offsets = NULL;
        out->n_steps = 0;
        return -1;
    }
    chunk_free_logits(c); /* the largest part of a chunk: not needed past this point */
    return 0;
}
