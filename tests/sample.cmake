# Sampling stage (issue 4; its math: tests/method.cmake): problems reader, run file, the
# `sample` / `select` commands with MPI roles, resume and user readability.
lr_add_c_test(test_sample_problems test_sample_problems.c LABELS sample)
lr_add_c_test(test_sample_golden test_sample_golden.c LABELS sample)
lr_add_c_test(test_sample_runfile test_sample_runfile.c LABELS sample)
# the scorer's half of --transport ids: the expert read teacher-forced == the rows it would have been sent
lr_add_c_test(test_sample_scorer_ids test_sample_scorer_ids.c LABELS sample)

# Shell/h5py tests run the binary on the tiny models (one process and mpirun).
function(lr_sample_script name)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS sample TIMEOUT 300
    ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
endfunction()
lr_sample_script(test_sample_ranks bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_ranks.sh)
lr_sample_script(test_sample_resume bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_resume.sh)
lr_sample_script(test_sample_select bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_select.sh)
lr_sample_script(test_sample_ablation bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_ablation.sh)
lr_sample_script(test_sample_badinput bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_badinput.sh)
lr_sample_script(test_sample_nonfinite bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_nonfinite.sh)
lr_sample_script(test_input_limits bash ${CMAKE_CURRENT_SOURCE_DIR}/test_input_limits.sh)
lr_sample_script(test_sample_h5py /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_h5py.py)
# --transport rows|ids|auto on the demo models: ids is rank-invariant (1 process, mpirun -np 2/3, `run`)
# and sends a fraction of rows' bytes per trace; auto on the CPU is rows; bad values exit 2.
# test_sample_transport_bits: ids == rows bit for bit in /divergence, /samples and `run`'s /train
# (the scorer's teacher-forced expert rows equal the sampler's decode rows: src/model/cpu/attention.c
# computes every query row the same way, prefill or decode).
foreach(mode wiring bits)
  set(name test_sample_transport)
  if(mode STREQUAL bits)
    set(name test_sample_transport_bits)
  endif()
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_sample_transport.sh ${mode})
  set_tests_properties(${name} PROPERTIES LABELS sample TIMEOUT 300
    ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};LR_REPO_DATA=${LR_REPO_DATA};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
endforeach()
