# Quick developer timing of the CPU model runtime (not a test, not the
# side-by-side harness): build/bench/bench_model_quick --threads 2
add_executable(bench_model_quick ${CMAKE_CURRENT_SOURCE_DIR}/bench_model_quick.c)
target_link_libraries(bench_model_quick PRIVATE lrcore)
