# src/model: the decoder runtime (CPU backend), generation, logprobs/generate CLI.
# Goldens: tests/reference/make_model_goldens.py -> tests/data/model/.
lr_add_c_test(test_model_golden test_model_golden.c test_model_util.c)
lr_add_c_test(test_model_invariants test_model_invariants.c test_model_util.c)
lr_add_c_test(test_model_ops test_model_ops.c)
lr_add_c_test(test_model_cli test_model_cli.c test_model_util.c)
