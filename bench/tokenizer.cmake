# Tokenizer encode throughput (not a test): build-*/bench/bench_tokenizer,
# and bench/bench_tokenizer.py for HF `tokenizers` on the same texts.
add_executable(bench_tokenizer ${CMAKE_CURRENT_LIST_DIR}/bench_tokenizer.c)
target_compile_definitions(bench_tokenizer PRIVATE LR_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_link_libraries(bench_tokenizer PRIVATE lrcore)
