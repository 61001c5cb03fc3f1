#include "scorer/scorer.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"

/* Moves the trace description from the generated chunk to the result. */
static void take_traces(lr_gen_chunk *g, lr_chunk_result *o) {
    o->chunk = g->chunk;
    o->first_problem = g->first_problem;
    o->n_problems = g->n_problems;
    o->problem_status = g->problem_status, g->problem_status = NULL;
    o->n_traces = g->n_traces;
    o->trace_problem = g->trace_problem, g->trace_problem = NULL;
    o->prompt_len = g->prompt_len, g->prompt_len = NULL;
    o->n_generated = g->n_generated, g->n_generated = NULL;
    o->finish = g->finish, g->finish = NULL;
    o->token_offsets = g->token_offsets, g->token_offsets = NULL;
    o->tokens = g->tokens, g->tokens = NULL;
    o->text = g->text, g->text = NULL;
}

int scorer_score_chunk(const lr_scorer *s, lr_gen_chunk *g, lr_chunk_result *out) {
    memset(out, 0, sizeof *out);
    const int ve = g->vocab_expert, va = model_vocab_size(s->amateur);
    const int nt = g->n_traces;
    float **erows = g->logits; /* (nt) each (T_i, ve) */
    int32_t *ngen = g->n_generated;
    int64_t *toff = g->token_offsets;
    int32_t *plen = g->prompt_len;
    int32_t *tokens = g->tokens;

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
    float *alog = NULL; /* (rows, va) */
    size_t alog_rows = 0;
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
        if ((size_t)rows > alog_rows) {
            free(alog);
            alog_rows = (size_t)rows;
            alog = xmalloc(alog_rows * (size_t)va * sizeof(float));
        }
        /* the ids of traces a..b-1 without each trace's last token, packed */
        int32_t *packed = xmalloc((size_t)rows * sizeof *packed);
        long o = 0;
        for (int i = a; i < b; i++) {
            memcpy(packed + o, tokens + toff[i], (size_t)lens[i - a] * sizeof(int32_t));
            o += lens[i - a];
        }
        if (model_forward(s->amateur, packed, lens, b - a, 1, alog) != 0) rc = -1;
        free(packed);
        if (rc != 0) break;

        /* row of step t of trace i in alog: base_i + P_i - 1 + t */
        int64_t s_lo = step0[a], s_hi = step0[b];
        long *base = xmalloc((size_t)(b - a) * sizeof *base);
        long acc = 0;
        for (int i = a; i < b; i++) base[i - a] = acc, acc += lens[i - a];
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t r = s_lo; r < s_hi; r++) {
            const int ia = trace_of[r];
            const int t = (int)(r - step0[ia]);
            const float *le = erows[ia] + (size_t)t * ve;                                  /* (ve) */
            const float *la = alog + (size_t)(base[ia - a] + plen[ia] - 1 + t) * (size_t)va; /* (va) */
            int32_t tok = tokens[toff[ia] + plen[ia] + t];
            float *scr = scratch + (size_t)omp_get_thread_num() * contrast_scratch_size(ve, va);
            contrast_step(le, ve, la, va, tok, s->store_alpha, scr, &out->div[r], &steps_cand[r]);
        }
        free(base);
        a = b;
    }
    if (rc == 0) {
        size_t total = 0;
        for (int64_t r = 0; r < ns; r++) total += steps_cand[r].n;
        cand_buf_reserve(&out->cand, total ? total : 1);
        out->cand_offsets[0] = 0;
        for (int64_t r = 0; r < ns; r++) {
            const lr_cand_buf *c = &steps_cand[r];
            memcpy(out->cand.ids + out->cand.n, c->ids, c->n * sizeof(int32_t));
            memcpy(out->cand.logp_expert + out->cand.n, c->logp_expert, c->n * sizeof(float));
            memcpy(out->cand.logp_amateur + out->cand.n, c->logp_amateur, c->n * sizeof(float));
            out->cand.n += c->n;
            out->cand_offsets[r + 1] = (int64_t)out->cand.n;
            if (contrast_selected(out->div[r].kl, s->beta)) out->n_selected++;
            if (contrast_nonfinite(out->div[r].kl)) out->n_nonfinite++;
        }
    }
    for (int64_t r = 0; r < ns; r++) cand_buf_free(&steps_cand[r]);
    free(steps_cand), free(scratch), free(alog), free(lens), free(step0), free(trace_of);
    if (rc != 0) {
        free(out->div);
        free(out->cand_offsets);
        cand_buf_free(&out->cand);
        memset(out, 0, sizeof *out);
        return -1;
    }
    take_traces(g, out);
    return 0;
}
