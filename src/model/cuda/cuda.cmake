# Compile flags of the CUDA backend's .cu files, shared by the main build
# (CMakeLists.txt) and the stand-alone GPU check (tools/gpu_check/).
# lr_cuda_flags(target werror): C++17 device code for CMAKE_CUDA_ARCHITECTURES
# (default 90: H100/H200); werror ON turns every nvcc and host-compiler
# warning into an error (CI: LR_WERROR; the GPU check: its --dry-run build).
function(lr_cuda_flags target werror)
  set_target_properties(${target} PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  if(werror)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Werror>)
  endif()
endfunction()
