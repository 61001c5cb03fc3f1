# Bench programs (bench/README.md): built with the project, never run by
# ctest. tools/bench.sh builds them in build-bench/ and runs them side by
# side with PyTorch / HF transformers.
add_library(lrbench_util STATIC ${CMAKE_CURRENT_LIST_DIR}/bench_util.c)
target_include_directories(lrbench_util PUBLIC ${CMAKE_CURRENT_LIST_DIR})

# machine benches: OpenBLAS + OpenMP only, so they build and run whatever
# state the rest of the tree is in
foreach(b sgemm stream)
  add_executable(bench_${b} ${CMAKE_CURRENT_LIST_DIR}/bench_${b}.c)
  target_include_directories(bench_${b} PRIVATE ${LR_BLAS_INCLUDE_DIR})
  target_link_libraries(bench_${b} PRIVATE lrbench_util OpenMP::OpenMP_C ${LR_BLAS_LIBRARIES} m)
endforeach()

# the model runtime (src/model/model.h) under the bench scenarios; weak
# references, so it links before the runtime exists and says so when run
add_executable(bench_runtime ${CMAKE_CURRENT_LIST_DIR}/bench_runtime.c)
target_link_libraries(bench_runtime PRIVATE lrbench_util lrcore)

# bench_runtime with per-op timers (bench/opprof.c wraps the backend's
# function pointers). It reads src/model/model_internal.h, so it is left out
# of the default build: `cmake --build build-bench --target bench_opprof`,
# or `bash tools/bench.sh --profile`.
add_executable(bench_opprof EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/bench_runtime.c ${CMAKE_CURRENT_LIST_DIR}/opprof.c)
target_compile_definitions(bench_opprof PRIVATE LR_BENCH_OPPROF=1)
target_link_libraries(bench_opprof PRIVATE lrbench_util lrcore)

# the CPU backend's batch-invariant matmul vs OpenBLAS (one ISA path per run: LR_CPU_ISA),
# and with fp32 vs bf16 weights over a decode step's matmuls
foreach(b gemm bf16)
  add_executable(bench_${b} ${CMAKE_CURRENT_LIST_DIR}/bench_${b}.c)
  target_include_directories(bench_${b} PRIVATE ${LR_BLAS_INCLUDE_DIR})
  target_link_libraries(bench_${b} PRIVATE lrbench_util lrcore OpenMP::OpenMP_C ${LR_BLAS_LIBRARIES} m)
endforeach()
