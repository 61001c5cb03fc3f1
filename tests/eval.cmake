# Evaluation (issue 6): answer extraction/verdicts, benchmark loading, and
# end-to-end `lightreasoner eval` runs on the tiny model of tests/data/sample.
lr_add_c_test(test_eval_answer test_eval_answer.c LABELS eval)
lr_add_c_test(test_eval_bench test_eval_bench.c LABELS eval)
foreach(t e2e mpi resume cli paper)
  lr_add_c_test(test_eval_${t} test_eval_${t}.c test_eval_util.c LABELS eval)
  add_dependencies(test_eval_${t} lightreasoner)
  set_tests_properties(test_eval_${t} PROPERTIES TIMEOUT 300)
endforeach()
# Issue 20: the Qwen2.5-Math toolkit's protocol (goldens from its own code).
lr_add_c_test(test_eval_toolkit test_eval_toolkit.c LABELS eval)
