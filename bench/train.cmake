# LoRA training step, ours (bench/bench_train.c) vs PyTorch + peft
# (bench/train_bench.py); run by bench/train_bench.sh, never by ctest.
add_executable(bench_train ${CMAKE_CURRENT_LIST_DIR}/bench_train.c)
target_link_libraries(bench_train PRIVATE lrbench_util lrcore)
