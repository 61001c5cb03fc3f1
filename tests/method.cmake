# The method layer (src/method/, issue 13): per-step contrast against the
# numpy/torch golden, selection, soft labels, the sample a scored step makes.
lr_add_c_test(test_method test_method.c LABELS method)
