# The CUDA backend without a GPU (label "cuda"): its host-side planning and
# the device choice (test_cuda_plan), --device on the command line
# (test_device_choice.sh), and the one-command GPU check's build and
# harness in --dry-run mode (no CUDA device: reported and skipped; the
# harness runs with the CPU bf16 emulation as the device under test).
lr_add_c_test(test_cuda_plan test_cuda_plan.c LABELS cuda)
add_test(NAME test_device_choice COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_device_choice.sh)
set_tests_properties(test_device_choice PROPERTIES LABELS cuda ENVIRONMENT
  "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};OMP_NUM_THREADS=1")
# The stand-alone build reuses its directory between runs (incremental), and
# needs cJSON's development files (tools/gpu_check.sh --pack copies them).
if(NOT LR_SANITIZE AND EXISTS /usr/include/cjson/cJSON.h)
  add_test(NAME test_gpu_check_dry_run
           COMMAND bash ${CMAKE_SOURCE_DIR}/tools/gpu_check.sh --dry-run --out ${CMAKE_BINARY_DIR}/gpu-check-dry/out
                   --build ${CMAKE_BINARY_DIR}/gpu-check-dry/build)
  set_tests_properties(test_gpu_check_dry_run PROPERTIES LABELS cuda TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2;LR_GPU_WORK=${CMAKE_BINARY_DIR}/gpu-check-dry/work")
endif()
