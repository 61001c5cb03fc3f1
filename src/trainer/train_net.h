/* The decoder with LoRA adapters for training: forward over a packed
 * ragged micro-batch keeping the activations the backward needs, the loss
 * of SPEC §2 at each sequence's own last position (one sample per
 * sequence) or at several positions of one sequence (trace packing: all
 * selected steps of a trace share its prefix, and causal attention makes
 * the loss at position p depend only on tokens <= p, so one pass over the
 * longest prefix gives every step's loss and the sum of their gradients),
 * and the backward down to the lowest adapted layer with gradients for the
 * LoRA tensors only.
 *
 * The frozen weights are the model runtime's (model.h lr_decoder_view:
 * fused q|k|v and gate|up matrices, loaded with weights_f32). Every op,
 * forward and backward, is a backend op (backend.h), and every activation,
 * the adapter's parameters and their gradients live in backend memory
 * (be->alloc): the adapter is uploaded from lr_lora.w at each call and the
 * gradient buffer is copied in and out, so the optimizer, checkpoints and
 * the allreduce keep working on host arrays. A backend without the
 * training ops is refused. */
#ifndef LR_TRAIN_NET_H
#define LR_TRAIN_NET_H

#include <stdint.h>

#include "model/model.h"
#include "trainer/lora.h"

/* A micro-batch: n_seq sequences packed back to back (no padding), and
 * its loss positions: with loss_pos NULL one per sequence at its last
 * token (n_loss = n_seq); else n_loss positions, loss j at token
 * loss_pos[j] (< lens) of sequence loss_seq[j], each (seq, pos) at most
 * once. Labels are per loss position. */
typedef struct {
    int n_seq;
    const int32_t *tokens;  /* (sum lens) */
    const int *lens;        /* (n_seq) */
    const int64_t *key;     /* (n_seq) each sequence's index in the global batch: keys its dropout masks */
    const int64_t *lab_off; /* (n_loss + 1) label of loss j = lab_ids/lab_w[lab_off[j] .. lab_off[j+1]) */
    const int32_t *lab_ids; /* ids < vocab */
    const float *lab_w;     /* soft label weights */
    int n_loss;             /* with loss_pos: loss positions; ignored without */
    const int *loss_seq;    /* (n_loss) or NULL */
    const int *loss_pos;    /* (n_loss) or NULL */
} tr_batch;

/* Loss positions of b (n_seq without loss_pos). */
static inline int tr_batch_n_loss(const tr_batch *b) { return b->loss_pos ? b->n_loss : b->n_seq; }

typedef struct tr_net tr_net;

/* The frozen weights the trainer keeps (LR_TRAIN_WEIGHTS): fp32 by default
 * (a bf16 checkpoint widened exactly: every backend trains to fp32
 * rounding); "bf16": a bf16 checkpoint stays bf16 and its GEMMs take the
 * activations as two bf16 halves (backend.h bf16_split: about fp32
 * accuracy, two bf16 tensor-core GEMMs on a GPU, half the weight memory);
 * "bf16-round": one GEMM on activations rounded to bf16 (the fastest; an
 * experiment the GPU check measures against the contract). Another value
 * is an input error: -1 with lr_error_set (trainer.h trainer_check_env
 * lets `train` and `run` refuse it before any work). */
typedef enum { TR_WEIGHTS_F32, TR_WEIGHTS_BF16, TR_WEIGHTS_BF16_ROUND } tr_weights;
int tr_weights_from_env(tr_weights *w);
const char *tr_weights_name(tr_weights w); /* "f32", "bf16", "bf16-round": /train's frozen_weights */
/* What model_load's weights_f32 is for mode w. */
static inline int tr_weights_f32(tr_weights w) { return w == TR_WEIGHTS_F32; }
/* After model_load: the backend's bf16_split for mode w. Returns the mode
 * in effect: f32 when the checkpoint's weights were not all bf16 (they load
 * as fp32, so a bf16 mode changes nothing; warned when warn is set). */
tr_weights tr_weights_apply(lr_model *m, tr_weights w, int warn);

/* recompute = 1: keep only each layer's input and recompute the layer in
 * the backward (activation memory T·d per layer + one layer's worth). */
tr_net *tr_net_new(lr_model *m, lr_lora *a, int recompute);
void tr_net_free(tr_net *n);

/* Forward, loss, backward of one micro-batch with dropout on (masks keyed
 * by dropout_key and each sequence's key). loss[j] = KL at loss position j
 * (of sequence j without loss_pos);
 * grad (n_params, host) += grad_scale · ∂(Σ_i loss_i)/∂params; loss host.
 * 0 ok; -1 + lr_error on bad input (token or label id out of range, empty
 * or over-long sequence). */
int tr_net_step(tr_net *n, const tr_batch *b, uint64_t dropout_key, double grad_scale, float *grad, double *loss);

/* Forward without dropout; logits (host) (T, V) for every position when
 * all_positions, else (n_seq, V) at each sequence's last position. Labels
 * of b are not read. 0 ok; -1 + lr_error. */
int tr_net_logits(tr_net *n, const tr_batch *b, int all_positions, float *logits);

/* Activation floats held for T tokens (for memory reports). */
size_t tr_net_activation_floats(const tr_net *n, int T);

#endif
