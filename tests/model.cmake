# src/model: the decoder runtime (CPU backend), generation, logprobs/generate CLI.
# Goldens: tests/reference/make_model_goldens.py -> tests/data/model/.
lr_add_c_test(test_model_golden test_model_golden.c test_model_util.c)
lr_add_c_test(test_rope test_rope.c)
lr_add_c_test(test_model_invariants test_model_invariants.c test_model_util.c)
lr_add_c_test(test_model_ops test_model_ops.c)
# the model's side of a backend's step graphs (decode steps bracketed, misses rerun), with a CPU stand-in
lr_add_c_test(test_model_graphs test_model_graphs.c)
lr_add_c_test(test_model_cli test_model_cli.c test_model_util.c)
# Which device computes: the note of CUDA builds, --version.
add_test(NAME test_device_note COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_device_note.sh)
set_tests_properties(test_device_note PROPERTIES ENVIRONMENT
  "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA}")
# GPU discovery itself, in CUDA builds (also runs by hand with nvcc alone on a GPU machine).
if(LR_HAVE_CUDA)
  add_executable(test_cuda_device test_cuda_device.c)
  target_link_libraries(test_cuda_device PRIVATE lrcuda)
  target_include_directories(test_cuda_device PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(test_cuda_device PRIVATE LR_HAVE_CUDA=1)
  add_test(NAME test_cuda_device COMMAND test_cuda_device)
endif()
