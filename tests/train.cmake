# LoRA trainer (issue 5): backward ops (finite differences), goldens from
# tests/reference/make_train_goldens.py (transformers + peft), the train /
# export / merge commands, MPI data parallelism and resume.
lr_add_c_test(test_train_golden test_train_golden.c LABELS train)
lr_add_c_test(test_train_ops test_train_ops.c LABELS train)
lr_add_c_test(test_train_ops_isa test_train_ops_isa.c LABELS "train;numerics")
lr_add_c_test(test_train_bf16emu test_train_bf16emu.c LABELS "train;numerics")
lr_add_c_test(test_train_pack test_train_pack.c LABELS train)
lr_add_c_test(test_train_stream test_train_stream.c LABELS train)
lr_add_c_test(test_train_pack_stream test_train_pack_stream.c LABELS train)
lr_add_c_test(test_train_adapter test_train_adapter.c test_train_util.c LABELS train)
lr_add_c_test(test_train_e2e test_train_e2e.c test_train_util.c LABELS train)
lr_add_c_test(test_train_cli test_train_cli.c test_train_util.c LABELS train)
set_tests_properties(test_train_cli PROPERTIES TIMEOUT 600)
add_test(NAME test_train_pack_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train_pack_cli.sh)
set_tests_properties(test_train_pack_cli PROPERTIES LABELS train TIMEOUT 300
  ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
