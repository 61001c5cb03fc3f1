/* Batched generation with slot refilling (model.h: model_generate).
 *
 * p->batch KV-cache slots run concurrently. Every step makes ONE
 * model_extend call that decodes the last token of every running sequence
 * and, in the same packed batch, prefills the prompts of newly started
 * sequences in slots freed by sequences that finished (EOS, length,
 * context or a non-finite logits row). Tokens are chosen per sequence from its own RNG stream
 * (sampling.h), so results do not depend on the batch size. A sequence
 * never holds more than max_position_embeddings tokens (prompt + output).
 *
 * Without logits for the caller (no_step_logits) the ids are chosen where
 * the logits are: greedy by argmax_rows, sampling by sample_rows with each
 * sequence's draw taken here from its own stream, one per token as
 * lr_sample takes it (same ids, bit for bit on the CPU).
 *
 * On a backend with step graphs (backend.h: a GPU replays a recorded
 * decode step per batch size), such a step that only decodes is padded
 * to a bucket size with idle slots (each cleared and fed token 0 at
 * position 0, its id dropped), so a batch that shrinks as sequences finish
 * replays a few recorded sizes instead of recording every size it passes
 * through. Real rows are computed as before; the CPU has no graphs and no
 * padding. */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/error.h"
#include "model/eos.h"
#include "model/model_internal.h"
#include "model/sampling.h"

/* The batch size a decode step of t rows is padded to (at most B): powers
 * of two up to 8, then steps of 8 up to 64, of 32 up to 256, of 64 beyond;
 * padding is at most 7 of 16 rows (9 real), under a third past 16, and a
 * batch of 256 passes through 17 sizes. */
static int step_bucket(int t, int B) {
    int b;
    if (t <= 8) {
        b = 1;
        while (b < t) b *= 2;
    } else {
        const int q = t <= 64 ? 8 : t <= 256 ? 32 : 64;
        b = (t + q - 1) / q * q;
    }
    return b < B ? b : B;
}

typedef struct {
    int32_t *out;  /* (max_new) generated ids */
    int len;
    lr_rng rng;
} seq_state;

int model_generate(lr_model *m, const int32_t *const *prompts, const int *prompt_lens, int n, const lr_gen_params *p,
                   lr_step_fn on_step, void *ctx, int32_t **out_tokens, int *out_lens, lr_finish_reason *finish) {
    const int max_pos = m->cfg.max_position_embeddings, V = m->vocab;
    const int max_new = p->max_new_tokens > 0 ? p->max_new_tokens : 0;
    int max_len = 1;
    for (int i = 0; i < n; i++) {
        if (prompt_lens[i] < 1) {
            lr_error_set(m->dir, "prompt %d is empty", i);
            return -1;
        }
        if (max_new > 0 && prompt_lens[i] >= max_pos) {
            lr_error_set(m->dir,
                         "context overflow: prompt %d has %d tokens, leaving no room to generate in the model's "
                         "context of %d (max_position_embeddings)",
                         i, prompt_lens[i], max_pos);
            return -1;
        }
        int need = prompt_lens[i] + max_new - 1;
        if (need > max_pos - 1) need = max_pos - 1;
        if (need > max_len) max_len = need;
        for (int j = 0; j < prompt_lens[i]; j++)
            if (prompts[i][j] < 0 || prompts[i][j] >= V) {
                lr_error_set(m->dir, "prompt %d: token id %d is outside the vocabulary [0, %d)", i, (int)prompts[i][j], V);
                return -1;
            }
    }
    for (int i = 0; i < n; i++) {
        out_tokens[i] = xmalloc((size_t)(max_new ? max_new : 1) * sizeof(int32_t));
        out_lens[i] = 0;
        finish[i] = FINISH_LENGTH;
    }
    if (n == 0 || max_new == 0) return 0;

    const int B = p->batch < 1 ? 1 : (p->batch < n ? p->batch : n);
    lr_kv_cache *c = kv_cache_new(m, B, max_len);
    if (!c) return -1;
    seq_state *st = xcalloc((size_t)n, sizeof *st);
    int *slot_seq = xmalloc((size_t)B * sizeof *slot_seq); /* -1: free */
    int32_t *pending = xmalloc((size_t)B * sizeof *pending); /* token to feed next, per slot */
    int *e_slot = xmalloc((size_t)B * sizeof *e_slot), *e_n = xmalloc((size_t)B * sizeof *e_n);
    /* no logits for the caller: the ids are chosen where the logits are
     * (argmax_rows, or sample_rows with each sequence's draw taken from its
     * own stream here), and no logits row reaches the host */
    const int greedy = !(p->temperature > 0.0);
    const int pick_ids = p->no_step_logits && (greedy || model_can_sample_rows(m));
    float *logits = pick_ids ? NULL : xmalloc((size_t)B * V * sizeof(float)); /* (B, V) */
    int32_t *next_ids = xmalloc((size_t)B * sizeof *next_ids);                /* (B) pick_ids */
    uint8_t *next_finite = xmalloc((size_t)B);                                /* (B) pick_ids */
    double *draws = pick_ids && !greedy ? xmalloc((size_t)B * sizeof *draws) : NULL; /* (B) the entries' draws */
    /* decode-only steps the backend may replay as graphs: greedy, or sampling
     * without top-p (whose host-side nucleus cannot be recorded) */
    const int graphed = m->be->graph_begin != NULL && (greedy || !(p->top_p < 1.0));
    size_t packed_cap = (size_t)B;
    int32_t *packed = xmalloc(packed_cap * sizeof *packed);
    lr_sampler_scratch scratch = {0};
    for (int s = 0; s < B; s++) slot_seq[s] = -1;
    int next = 0, rc = 0;

    for (;;) {
        /* Entries in slot order: running slots decode one token, free slots
         * take the next prompts. */
        int ne = 0;
        size_t nt = 0;
        for (int s = 0; s < B; s++) {
            if (slot_seq[s] < 0) {
                if (next >= n) continue;
                const int q = next++;
                slot_seq[s] = q;
                kv_cache_clear_slot(c, s);
                lr_rng_seed(&st[q].rng, p->seed, (uint64_t)q);
                st[q].out = out_tokens[q];
                const size_t L = (size_t)prompt_lens[q];
                if (nt + L > packed_cap) {
                    packed_cap = (nt + L) * 2;
                    packed = xrealloc(packed, packed_cap * sizeof *packed);
                }
                memcpy(packed + nt, prompts[q], L * sizeof *packed);
                e_slot[ne] = s, e_n[ne++] = (int)L;
                nt += L;
            } else {
                if (nt + 1 > packed_cap) {
                    packed_cap = (nt + 1) * 2;
                    packed = xrealloc(packed, packed_cap * sizeof *packed);
                }
                packed[nt++] = pending[s];
                e_slot[ne] = s, e_n[ne++] = 1;
            }
        }
        if (ne == 0) break;
        const int n_real = ne; /* entries after these are padding */
        if (pick_ids && graphed && (size_t)ne == nt) { /* only decodes: pad to a bucket */
            const int want = step_bucket(ne, B);
            if (want > ne && nt + (size_t)(want - ne) > packed_cap) {
                packed_cap = nt + (size_t)(want - ne);
                packed = xrealloc(packed, packed_cap * sizeof *packed);
            }
            for (int s = 0; s < B && ne < want; s++)
                if (slot_seq[s] < 0) { /* idle: nothing left to start (a decode-only step) */
                    kv_cache_clear_slot(c, s);
                    packed[nt++] = 0;
                    e_slot[ne] = s, e_n[ne++] = 1;
                }
        }
        if (draws) /* one draw per sequence and token, as lr_sample takes on a finite row; padding: 0 */
            for (int e = 0; e < ne; e++) draws[e] = e < n_real ? lr_rng_uniform(&st[slot_seq[e_slot[e]]].rng) : 0.0;
        const int rc_ext = !pick_ids ? model_extend(m, c, e_slot, packed, e_n, ne, logits, NULL)
                           : greedy  ? model_extend_greedy(m, c, e_slot, packed, e_n, ne, next_ids, next_finite)
                                     : model_extend_sample(m, c, e_slot, packed, e_n, ne, p->temperature, p->top_p,
                                                           draws, next_ids, next_finite);
        if (rc_ext != 0) {
            rc = -1;
            break;
        }
        for (int e = 0; e < n_real; e++) {
            const int s = e_slot[e], q = slot_seq[s];
            seq_state *sq = &st[q];
            const float *row = pick_ids ? NULL : logits + (size_t)e * V; /* (V) */
            /* NaN/Inf logits (broken weights, overflow): nothing sensible
             * can follow, so the sequence stops here and says why; greedy
             * (lr_sample at temperature 0) is lr_argmax either way */
            const int finite = pick_ids ? next_finite[e] : lr_row_finite(row, V);
            const int32_t t = pick_ids ? next_ids[e]
                              : finite ? lr_sample(row, V, p->temperature, p->top_p, &sq->rng, &scratch)
                                       : lr_argmax(row, V);
            if (on_step) on_step(ctx, q, sq->len, t, p->no_step_logits ? NULL : row);
            sq->out[sq->len++] = t;
            int done = 1;
            if (!finite) finish[q] = FINISH_NONFINITE;
            else if (lr_is_eos(p->eos_ids, p->n_eos, t)) finish[q] = FINISH_EOS;
            else if (sq->len >= max_new) finish[q] = FINISH_LENGTH;
            else if (prompt_lens[q] + sq->len >= max_pos) finish[q] = FINISH_CONTEXT;
            else done = 0;
            if (done) {
                out_lens[q] = sq->len;
                slot_seq[s] = -1;
            } else {
                pending[s] = t;
            }
        }
    }
    if (rc != 0) /* -1: no outputs to free for the caller */
        for (int i = 0; i < n; i++) {
            free(out_tokens[i]);
            out_tokens[i] = NULL;
            out_lens[i] = 0;
        }
    lr_sampler_scratch_free(&scratch);
    free(packed);
    free(logits);
    free(next_ids);
    free(next_finite);
    free(draws);
    free(e_slot);
    free(e_n);
    free(pending);
    free(slot_seq);
    free(st);
    kv_cache_free(c);
    return rc;
}
