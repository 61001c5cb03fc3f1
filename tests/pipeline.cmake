# Whole pipeline (issue 7): `inspect`, `run`, tools/analyze.py, Slurm jobs.
function(lr_pipeline_script name)
  cmake_parse_arguments(P "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT P_TIMEOUT)
    set(P_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${P_UNPARSED_ARGUMENTS})
  set_tests_properties(${name} PROPERTIES LABELS "pipeline;${P_LABELS}" TIMEOUT ${P_TIMEOUT}
    ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};LR_REPO_DATA=${LR_REPO_DATA};LR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
endfunction()
lr_pipeline_script(test_pipeline_inspect bash ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline_inspect.sh)
lr_pipeline_script(test_analyze bash ${CMAKE_CURRENT_SOURCE_DIR}/test_analyze.sh)
set_tests_properties(test_analyze PROPERTIES SKIP_RETURN_CODE 77)
lr_pipeline_script(test_pipeline_run bash ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline_run.sh)
lr_pipeline_script(test_slurm bash ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.sh LABELS slurm TIMEOUT 900)
set_tests_properties(test_slurm PROPERTIES SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
lr_pipeline_script(test_install bash ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh)
set_tests_properties(test_install PROPERTIES ENVIRONMENT
  "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_BUILD_DIR=${CMAKE_BINARY_DIR};LR_SOURCE_DIR=${CMAKE_SOURCE_DIR};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
