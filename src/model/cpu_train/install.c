/* The CPU backend's training op table (cpu_train.h). */
#include "model/cpu_train/cpu_train.h"

void lr_cpu_train_install(lr_backend *be) {
    be->gemm = cpu_gemm;
    be->rmsnorm_backward = cpu_rmsnorm_backward;
    be->rope_backward = cpu_rope_backward;
    be->swiglu_backward = cpu_swiglu_backward;
    be->attention_backward = cpu_attention_backward;
    be->dropout = cpu_dropout;
    be->kl_loss = cpu_kl_loss;
    be->copy_cols = cpu_copy_cols;
    be->add_cols = cpu_add_cols;
    be->scale = cpu_scale;
    be->scatter_rows = cpu_scatter_rows;
    be->zero = cpu_zero;
}
