/* Scorer: the amateur side of the sampling stage (SPEC §2). For a generated
 * chunk it runs ONE teacher-forced amateur forward per trace over the exact
 * ids x || y_<T-1 (traces batched into ragged forwards of at most
 * `row_budget` positions, logits at the generated positions only), then
 * the contrast of every step against the expert's logits row (OpenMP over
 * steps). A chunk that came without the expert's rows (--transport ids)
 * gets them from one teacher-forced expert forward over the same ids and
 * batches, logits at the generated positions only. When the amateur's
 * backend has a contrast op (a GPU) such a chunk never brings its logits
 * rows to the host: both passes leave them on the device
 * (model_forward_last_dev), the op returns each step's divergence and up to
 * 64 candidates, and only a step it could not finish (non-finite rows, more
 * candidates) is recomputed here from its two rows. */
#ifndef LR_SCORER_H
#define LR_SCORER_H

#include "io/chunk.h"
#include "method/method.h"
#include "model/model.h"

typedef struct {
    lr_model *amateur;
    lr_model *expert; /* NULL unless chunks may come without the expert's logits rows (ids) */
    double store_alpha;
    lr_method method; /* only for the selected-steps statistic */
    long row_budget; /* positions per amateur forward (memory: up to rows * V_A * 4 bytes of
                      * logits at the generated positions; with ids as much again * V_E / V_A) */
} lr_scorer;

/* Scores the generated chunk *c in place: adds every step's divergence and
 * candidates (c->div, cand_offsets, cand, n_selected, n_nonfinite) and frees
 * its expert logits. c->logits NULL: the expert's rows come from s->expert
 * (an error without one). 0 ok; -1 + lr_error (c then keeps its traces and
 * logits, without a contrast part). */
int scorer_score_chunk(const lr_scorer *s, lr_chunk *c);

#endif
