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
# The device run's bundle (tools/gpu_e2e.sh: the binary with the MPI, HDF5 and
# BLAS runtime the GPU machines lack): the suite's own CUDA build packed into
# this build folder, then the bundle's stages run here on the CPU (--local),
# so that a change that breaks the bundle or its relocation fails here, not
# in a device session. Also fails when the working tree plus the bundle
# outgrow what a device call may carry.
find_program(LR_ORTED orted)
find_program(LR_XZ xz)
if(LR_HAVE_CUDA AND NOT LR_SANITIZE AND LR_ORTED AND LR_XZ)
  set(_e2e ${CMAKE_BINARY_DIR}/gpu-e2e-local)
  add_test(NAME test_gpu_e2e_local
           COMMAND bash -c "bash '${CMAKE_SOURCE_DIR}/tools/gpu_e2e.sh' --pack --binary '$<TARGET_FILE:lightreasoner>' \
--carry '${_e2e}/carry' && bash '${CMAKE_SOURCE_DIR}/tools/gpu_e2e.sh' --local --carry '${_e2e}/carry' \
--out '${_e2e}/out' --problems 4 --steps 4")
  set_tests_properties(test_gpu_e2e_local PROPERTIES LABELS cuda TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2;LR_E2E_WORK=${_e2e}/work")
endif()
