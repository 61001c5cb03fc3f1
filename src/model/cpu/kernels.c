/* The CPU backend's compute kernels as one translation unit, compiled once
 * per instruction set (cpu.cmake: generic, avx2, avx512) with LR_ISA and
 * LR_ISA_TABLE set; backend_cpu.c picks a table at run time (cpuid, or
 * LR_CPU_ISA). Everything but the table is static, so the three copies
 * never clash. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "model/cpu_ops.h"
#include "model/fast_exp.h"
#include "model/cpu/simd.h"

#include "model/cpu/gemm.c" /* NOLINT(bugprone-suspicious-include): one translation unit per ISA */
#include "model/cpu/ops.c" /* NOLINT(bugprone-suspicious-include): one translation unit per ISA */
#include "model/cpu/attention.c" /* NOLINT(bugprone-suspicious-include): one translation unit per ISA */
#include "model/cpu/gemm_blas.c" /* NOLINT(bugprone-suspicious-include): one translation unit per ISA */

#define LR_STR2(x) #x
#define LR_STR(x) LR_STR2(x)

const lr_cpu_isa LR_ISA_TABLE = {
    .name = LR_STR(LR_ISA_NAME),
    .embed = cpu_embed,
    .matmul = cpu_matmul,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .gather_rows = cpu_gather_rows,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .log_softmax = cpu_log_softmax,
    /* training ops (backend.h), each family's backward beside its forward */
    .gemm = cpu_gemm,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .rope_backward = cpu_rope_backward,
    .swiglu_backward = cpu_swiglu_backward,
    .attention_backward = cpu_attention_backward,
    .dropout = cpu_dropout,
    .kl_loss = cpu_kl_loss,
    .copy_cols = cpu_copy_cols,
    .add_cols = cpu_add_cols,
    .scale = cpu_scale,
    .scatter_rows = cpu_scatter_rows,
    .zero = cpu_zero,
};
