# LoRA training step, ours (bench/bench_train.c, its sample sets in
# bench/train_samples.c) vs PyTorch + peft (bench/train_bench.py); run by
# bench/train_bench.sh, never by ctest.
add_executable(bench_train ${CMAKE_CURRENT_LIST_DIR}/bench_train.c ${CMAKE_CURRENT_LIST_DIR}/train_samples.c)
target_link_libraries(bench_train PRIVATE lrbench_util lrcore)
