# src/tokenizer + the tokenize/detokenize CLI.
# Goldens: tests/reference/make_tokenizer_goldens.py -> tests/data/tokenizer/
# and data/tokenizers/qwen2/tokenizer.json.
set(TK_UTIL ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_util.c)
lr_add_c_test(test_tokenizer_parity_json test_tokenizer_parity.c ${TK_UTIL} ARGS tokenizer.json)
add_test(NAME test_tokenizer_parity_vocab COMMAND test_tokenizer_parity_json vocab.json
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_tokenizer_parity_vocab PROPERTIES ENVIRONMENT
  "LR_TEST_DATA=${LR_TEST_DATA};LR_REPO_DATA=${LR_REPO_DATA};LR_BIN=$<TARGET_FILE:lightreasoner>")
lr_add_c_test(test_tokenizer_decode test_tokenizer_decode.c ${TK_UTIL})
lr_add_c_test(test_tokenizer_pretok test_tokenizer_pretok.c ${TK_UTIL})
lr_add_c_test(test_tokenizer_variants test_tokenizer_variants.c ${TK_UTIL})
lr_add_c_test(test_tokenizer_chat test_tokenizer_chat.c ${TK_UTIL})
lr_add_c_test(test_tokenizer_unit test_tokenizer_unit.c ${TK_UTIL})
lr_add_c_test(test_tokenizer_cli test_tokenizer_cli.c ${TK_UTIL})
