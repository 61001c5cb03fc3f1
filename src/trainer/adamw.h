/* AdamW, the linear learning-rate schedule and global-norm clipping with
 * PyTorch's semantics (torch.optim.AdamW, transformers'
 * get_linear_schedule_with_warmup with 0 warm-up steps,
 * torch.nn.utils.clip_grad_norm_), in fp32 like PyTorch's CPU kernels. */
#ifndef LR_ADAMW_H
#define LR_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double beta1, beta2, eps, weight_decay;
} adamw_hparams;

typedef struct {
    size_t n;
    float *m;   /* (n) exp_avg */
    float *v;   /* (n) exp_avg_sq */
    int64_t t;  /* updates applied (torch's state "step") */
} adamw_state;

void adamw_init(adamw_state *s, size_t n);
void adamw_free(adamw_state *s);

/* One update of w (n) with gradient g (n) at learning rate lr. */
void adamw_update(adamw_state *s, const adamw_hparams *h, double lr, float *w, const float *g);

/* lr of optimizer step `step` (0-based): lr0 · max(0, max_steps − step) / max(1, max_steps). */
double lr_linear(double lr0, int64_t step, int64_t max_steps);

/* ‖g‖₂ over all n entries (fp64 sums). */
double grad_norm(const float *g, size_t n);

/* clip_grad_norm_: g *= min(1, max_norm / (norm + 1e-6)). */
void grad_clip(float *g, size_t n, double norm, double max_norm);

#endif
