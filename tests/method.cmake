# The method layer (src/method/, issue 13): per-step contrast against the
# numpy/torch golden, selection, soft labels, the sample a scored step makes.
lr_add_c_test(test_method test_method.c LABELS method)
# The include rules of the method layer and the sampling stage (no MPI/HDF5
# in method/, nothing above io/ in io/, no scorer -> sampler loop).
add_test(NAME test_method_layering COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_method_layering.sh ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(test_method_layering PROPERTIES LABELS method)
lr_add_c_test(test_method_ablation test_method_ablation.c LABELS method)
