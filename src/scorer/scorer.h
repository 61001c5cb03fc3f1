/* Scorer: the amateur side of the sampling stage (SPEC §2). For a generated
 * chunk it runs ONE teacher-forced amateur forward per trace over the exact
 * ids x || y_<T-1 (traces batched into ragged forwards of at most
 * `row_budget` positions), then the contrast of every step against the
 * expert's logits row (OpenMP over steps). */
#ifndef LR_SCORER_H
#define LR_SCORER_H

#include "io/runfile.h"
#include "model/model.h"
#include "sampler/gen_chunk.h"

typedef struct {
    lr_model *amateur;
    double store_alpha;
    double beta;     /* only for the selected-steps statistic */
    long row_budget; /* amateur logits rows per forward (memory: rows * V_A * 4 bytes) */
} lr_scorer;

/* Scores *g into *out; the trace arrays move from g to out (g keeps only
 * its logits, which the caller frees). 0 ok; -1 + lr_error. */
int scorer_score_chunk(const lr_scorer *s, lr_gen_chunk *g, lr_chunk_result *out);

#endif
