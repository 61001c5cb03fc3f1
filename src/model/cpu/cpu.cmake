# The CPU kernels (kernels.c) as one static library per instruction set,
# all linked into lr_model; backend_cpu.c picks one at run time. The rest of
# the project is built for the baseline ISA (LR_NATIVE=OFF), so one binary
# runs on any x86-64 and still uses AVX-512 or AVX2 where the CPU has it.
function(lr_cpu_kernels name level)
  add_library(lrisa_${name} STATIC ${CMAKE_CURRENT_LIST_DIR}/kernels.c)
  target_compile_definitions(lrisa_${name} PRIVATE LR_ISA=${level} LR_ISA_NAME=${name}
                             LR_ISA_TABLE=lr_cpu_isa_${name}
                             $<TARGET_PROPERTY:lr_model,INTERFACE_COMPILE_DEFINITIONS>)
  target_include_directories(lrisa_${name} PRIVATE $<TARGET_PROPERTY:lr_model,INTERFACE_INCLUDE_DIRECTORIES>)
  target_link_libraries(lrisa_${name} PRIVATE OpenMP::OpenMP_C)
  # no contraction of a*b+c into fma (clang does it by default): the kernels
  # must do the same fp32 operations as transformers where they say so.
  # -fno-trapping-math changes no value (nothing here enables FP traps); it
  # lets GCC if-convert the clamps of lr_expf and friends without AVX-512's
  # masks, so the AVX2 exp loops (swiglu, softmaxes) vectorise too.
  target_compile_options(lrisa_${name} PRIVATE -ffp-contract=off -fno-trapping-math ${ARGN})
  target_link_libraries(lr_model PUBLIC lrisa_${name})
endfunction()

lr_cpu_kernels(generic 0)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  lr_cpu_kernels(avx2 1 -mavx2 -mfma)
  lr_cpu_kernels(avx512 2 -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma)
endif()
