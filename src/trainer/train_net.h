/* The decoder with LoRA adapters for training: forward over a packed
 * ragged micro-batch keeping the activations the backward needs, the loss
 * of SPEC §2 at each sequence's own last position, and the backward down to
 * the lowest adapted layer with gradients for the LoRA tensors only.
 *
 * The frozen weights are the model runtime's (model_internal.h: fused
 * q|k|v and gate|up matrices); every forward op is a backend op. Only the
 * CPU backend is supported for training. */
#ifndef LR_TRAIN_NET_H
#define LR_TRAIN_NET_H

#include <stdint.h>

#include "model/model.h"
#include "trainer/lora.h"

/* A micro-batch: n_seq sequences packed back to back (no padding). */
typedef struct {
    int n_seq;
    const int32_t *tokens;  /* (sum lens) */
    const int *lens;        /* (n_seq) */
    const int64_t *key;     /* (n_seq) each sequence's index in the global batch: keys its dropout masks */
    const int64_t *lab_off; /* (n_seq + 1) label of sequence i = lab_ids/lab_w[lab_off[i] .. lab_off[i+1]) */
    const int32_t *lab_ids; /* ids < vocab */
    const float *lab_w;     /* soft label weights */
} tr_batch;

typedef struct tr_net tr_net;

/* recompute = 1: keep only each layer's input and recompute the layer in
 * the backward (activation memory T·d per layer + one layer's worth). */
tr_net *tr_net_new(lr_model *m, lr_lora *a, int recompute);
void tr_net_free(tr_net *n);

/* Forward, loss, backward of one micro-batch with dropout on (masks keyed
 * by dropout_key and each sequence's key). loss[i] = KL of sequence i;
 * grad (n_params) += grad_scale · ∂(Σ_i loss_i)/∂params.
 * 0 ok; -1 + lr_error on bad input (token or label id out of range, empty
 * or over-long sequence). */
int tr_net_step(tr_net *n, const tr_batch *b, uint64_t dropout_key, double grad_scale, float *grad, double *loss);

/* Forward without dropout; logits (T, V) for every position when
 * all_positions, else (n_seq, V) at each sequence's last position. Labels
 * of b are not read. 0 ok; -1 + lr_error. */
int tr_net_logits(tr_net *n, const tr_batch *b, int all_positions, float *logits);

/* Activation floats held for T tokens (for memory reports). */
size_t tr_net_activation_floats(const tr_net *n, int T);

#endif
