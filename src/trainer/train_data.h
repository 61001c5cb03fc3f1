/* The trainer's data: the samples of a run file (/samples: trace, step,
 * soft label) turned into (input ids, label) pairs, and the order in which
 * optimizer steps consume them.
 *
 * Sample i's input is the trace's prompt followed by its generated ids
 * before step t: /traces/tokens[token_offsets[tr] : + prompt_len[tr] + t].
 * Inputs longer than max_length are skipped and counted (never truncated).
 *
 * Order: a stream of epochs, each a permutation of the kept samples drawn
 * from (seed, epoch) (identity with shuffle off). Optimizer step k consumes
 * stream positions [k·B, (k+1)·B) for global batch B. The stream does not
 * depend on the number of ranks; the data cursor of a checkpoint is k·B. */
#ifndef LR_TRAIN_DATA_H
#define LR_TRAIN_DATA_H

#include <stdint.h>

typedef struct {
    int64_t n;              /* kept samples */
    int64_t n_file;         /* samples in /samples */
    int64_t n_skipped_long; /* inputs over max_length */
    int64_t max_len;        /* longest kept input */
    uint64_t digest;        /* of every kept input and label: what --resume checks the data by */
    int32_t *tokens;        /* all trace ids (/traces/tokens) */
    int64_t *in_off;        /* (n) input of kept sample i = tokens[in_off[i] .. + in_len[i]) */
    int32_t *in_len;        /* (n) */
    int64_t *row;           /* (n) its row in /samples */
    int64_t *lab_off;       /* (n + 1) into lab_ids / lab_w */
    int32_t *lab_ids;
    float *lab_w;
    /* order */
    uint64_t seed;
    int shuffle;
    int64_t perm_epoch;     /* epoch whose permutation perm holds, -1 none */
    int64_t *perm;          /* (n) */
} tr_data;

/* Reads /samples and /traces of a complete run file. vocab: the model's
 * vocabulary (label and input ids are checked against it). 0 ok; -1 +
 * lr_error for a missing group, no samples, inconsistent offsets or ids
 * out of range. */
int tr_data_load(const char *run_path, int vocab, int64_t max_length, tr_data *d);
void tr_data_free(tr_data *d);

void tr_data_set_order(tr_data *d, uint64_t seed, int shuffle);
/* Kept-sample index at stream position pos. */
int64_t tr_data_at(tr_data *d, int64_t pos);

#endif
