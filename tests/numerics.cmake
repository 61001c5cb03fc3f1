# Batch/thread/alignment invariance of the CPU kernels on every ISA path this CPU runs.
lr_add_c_test(test_cpu_invariance test_cpu_invariance.c LABELS numerics)
# Sampling on the demo models: threads, ranks, --score-rows and batch sizes give the same bits.
add_test(NAME test_sample_invariance COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_invariance.sh)
set_tests_properties(test_sample_invariance PROPERTIES LABELS numerics TIMEOUT 600
  ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};LR_REPO_DATA=${LR_REPO_DATA}")
# bf16 checkpoints stay bf16 in memory with the bits of their fp32 widening.
lr_add_c_test(test_model_bf16 test_model_bf16.c LABELS numerics)
# SPEC §5 GPU numerics contract held with the CPU bf16 emulation on the demo pair.
lr_add_c_test(test_bf16_contract test_bf16_contract.c LABELS numerics)
