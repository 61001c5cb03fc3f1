#include "scorer/scorer.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

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
        if (n_steps > alog_rows) {
            free(alog);
            alog_rows = n_steps;
            alog = xmalloc(alog_rows * (size_t)va * sizeof(float));
        }
        /* the ids of traces a..b-1 without each trace's last token, packed */
        int32_t *packed = xmalloc((size_t)rows * sizeof *packed);
        long o = 0;
        for (int i = a; i < b; i++) {
            memcpy(packed + o, tokens + toff[i], (size_t)lens[i - a] * sizeof(int32_t));
            o += lens[i - a];
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
            int32_t tok = tokens[toff[ia] + plen[ia] + t];
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
