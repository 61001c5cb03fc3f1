# Reliability (issue 12): full disk on a tmpfs the test mounts (root only,
# else skipped), one writer per run file (two real processes), shard
# checksums (damaged bytes redone on --resume).
function(lr_reliability_script name)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${name}.sh)
  set_tests_properties(${name} PROPERTIES LABELS reliability TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "LR_BIN=$<TARGET_FILE:lightreasoner>;LR_TEST_DATA=${LR_TEST_DATA};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
endfunction()
lr_reliability_script(test_reliability_diskfull)
lr_reliability_script(test_reliability_lock)
lr_reliability_script(test_reliability_checksum)
