/* The LightReasoner method (SPEC §2) in one place: which generated steps
 * become training samples (selection, beta) and what each sample's label is
 * (the plausible set at alpha, contrast soft labels). Pure C: no MPI, no
 * HDF5, no model; the per-step divergence itself is method/contrast.h.
 *
 * Who calls it (every path through the program makes a sample the same way):
 *   io/runfile_samples.c    /samples of the join (`sample`, `run`) and of `select`
 *   trainer/train_data.c    the samples `run`'s trainer ranks build from shards
 *   scorer/scorer.c         the selected-steps statistic of the progress line
 *
 * Everything works from a step AS STORED (lr_scored_step: its KL and its
 * store-alpha candidates with both fp32 log-probs), never from logits, so
 * `select` on a run file reproduces what sampling wrote bit for bit.
 *
 * Adding a rule (ablations: another selection or label rule): add its
 * field(s) to lr_method, set them in method_init's callers, and branch in
 * method_select / method_label; lr_scored_step already carries what such a
 * rule keys on (the step's problem and index, stable across ranks, resumes
 * and `select`; the generated token). method_describe names the rule in the
 * run file. Keep every rule a pure function of (lr_method, lr_scored_step):
 * the invariance tests rely on it. */
#ifndef LR_METHOD_H
#define LR_METHOD_H

#include <stddef.h>
#include <stdint.h>

/* Which steps become samples (`--select`; the paper's Table 6 ablations). */
typedef enum {
    METHOD_SELECT_KL = 0,     /* KL_t >= beta (SPEC §2) */
    METHOD_SELECT_RANDOM = 1, /* per trace, as many steps as KL selects there, uniform among its finite steps */
    METHOD_SELECT_ALL = 2     /* every finite step */
} lr_select_rule;

/* What a sample's label is (`--labels`). */
typedef enum {
    METHOD_LABELS_CONTRAST = 0, /* softmax over the plausible set of log p_E - log p_A (SPEC §2) */
    METHOD_LABELS_ONEHOT = 1    /* the expert's own token y_t, weight 1 ("selection without contrast") */
} lr_label_rule;

/* The method's parameters. */
typedef struct {
    double alpha; /* plausible set: p_E(v) >= alpha * max p_E, in (0, 1] */
    double beta;  /* selection: KL_t >= beta (nats) */
    lr_select_rule select;
    lr_label_rule labels;
    uint64_t select_seed; /* the random rule's draw: a function of (select_seed, problem) only */
} lr_method;

/* One scored step, as a run file (/divergence) or a shard stores it. */
typedef struct {
    int64_t problem;    /* global problem index (row of /problems) */
    int32_t step;       /* t: 0 = the first generated token */
    int32_t token;      /* y_t, the id the expert generated at this step (-1: a file without /divergence/token) */
    double kl;          /* KL_t in nats; NaN: a non-finite step (never selected) */
    int n;              /* candidates (>= 1 as stored) */
    const int32_t *ids; /* (n) candidate ids, ascending, < the shared vocabulary */
    const float *lpe;   /* (n) log p_E of each candidate */
    const float *lpa;   /* (n) log p_A of each candidate */
} lr_scored_step;

/* The default method: alpha, beta; KL selection, contrast labels, select_seed 42. */
lr_method method_make(double alpha, double beta);

/* Sets m's rules from the flags `--select kl|random|all`, `--labels
 * contrast|onehot` (NULL = keep) and `--sft` (sft != 0: random selection
 * with one-hot labels, the SFT control; refused with an explicit other
 * --select/--labels). 0, or -1 + lr_error_set(who, ...) naming the flag. */
int method_set_rules(lr_method *m, const char *select, const char *labels, int sft, uint64_t select_seed,
                     const char *who);
/* "kl" | "random" | "all" and "contrast" | "onehot": the flag values, as
 * the run file records them. */
const char *method_select_name(const lr_method *m);
const char *method_labels_name(const lr_method *m);

/* 0 when m is usable; else -1 + lr_error_set(who, ...) naming the flag. */
int method_check(const lr_method *m, const char *who);

/* The step-level test of the rule: KL_t >= beta (kl, and random, whose
 * COUNT per trace it gives) or a finite KL (all). Which steps the random
 * rule keeps needs the whole trace: method_select_trace. */
int method_select(const lr_method *m, const lr_scored_step *s);

/* Selection over one whole trace: kl[0..n) are its steps' KL in step order
 * (NaN = non-finite), problem its problem index. Writes mask[i] = 1 when
 * step i becomes a sample and returns how many. kl and all: method_select
 * per step. random: as many steps as kl would select in this trace, a
 * uniform subset of its finite steps drawn from (select_seed, problem) —
 * the same for any rank count, chunking, resume or `select` rerun.
 * scratch: room for n ints. */
int method_select_trace(const lr_method *m, int64_t problem, const double *kl, int n, uint8_t *mask,
                        int32_t *scratch);

/* Labels written by method_label for s: at most this many (out_ids/out_w
 * need room for it). */
static inline int method_label_room(const lr_scored_step *s) { return s->n > 0 ? s->n : 1; }

/* s's soft label: writes k ids and weights (summing to 1) to out_ids /
 * out_w and returns k; 0 = no label (no finite candidate: a damaged row;
 * one-hot: no recorded token), then s makes no sample. Does not look at
 * selection. One-hot: k = 1, {s->token: 1}. */
int method_label(const lr_method *m, const lr_scored_step *s, int32_t *out_ids, float *out_w);

/* Building a training sample from a scored step: the step-level
 * selection (method_select; a random rule needs method_select_trace), then
 * the label. Returns the label size k >= 1 when s is a sample (ids/weights in
 * out_ids/out_w, room method_label_room(s)), else 0. The sample's input is
 * the trace's prompt followed by its generated ids before step t
 * (x || y_<t): that part belongs to the caller, which holds the tokens. */
int method_sample(const lr_method *m, const lr_scored_step *s, int32_t *out_ids, float *out_w);

/* The contrast soft label from a step's candidates (n of them, as stored):
 * M = { i : lpe[i] - max lpe >= log(alpha) } (finite log-probs only; the
 * test is done in log space on the stored fp32 values, in fp64), weights
 * softmax_M(lpe - lpa) in fp64, stored fp32; +inf scores (p_A = 0) share
 * the mass equally. Writes |M| ids and weights in candidate order (room
 * for n) and returns |M| (>= 1 for n >= 1, alpha <= 1 and a finite
 * candidate; 0 otherwise). */
int method_contrast_label(const int32_t *ids, const float *lpe, const float *lpa, int n, double alpha,
                          int32_t *out_ids, float *out_w);

/* What /samples holds under m, for its `description` attribute. */
const char *method_describe(const lr_method *m);

#endif
