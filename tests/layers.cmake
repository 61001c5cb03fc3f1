# The layering of src/ (docs/architecture.md): tools/check_layers.sh passes
# on the tree and fails on each kind of planted violation.
add_test(NAME test_check_layers COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_check_layers.sh ${CMAKE_SOURCE_DIR})
