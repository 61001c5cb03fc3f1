# SLEEF (Debian: libsleef-dev), optional: PyTorch computes `base ** x` with
# SLEEF's powf in its vectorised CPU kernels, so RoPE's inv_freq matches
# transformers bit for bit only with it (src/model/rope.c). Without it the
# build uses libm's powf (some inv_freq entries 1 ulp off).
find_path(LR_SLEEF_INCLUDE_DIR sleef.h PATH_SUFFIXES x86_64-linux-gnu)
find_library(LR_SLEEF_LIBRARY sleef)
if(LR_SLEEF_INCLUDE_DIR AND LR_SLEEF_LIBRARY)
  target_include_directories(lr_model SYSTEM PUBLIC ${LR_SLEEF_INCLUDE_DIR})
  target_link_libraries(lr_model PUBLIC ${LR_SLEEF_LIBRARY})
  target_compile_definitions(lr_model PUBLIC LR_HAVE_SLEEF=1)
  message(STATUS "lightreasoner: SLEEF ${LR_SLEEF_LIBRARY} (RoPE bit-exact with transformers)")
else()
  message(WARNING "lightreasoner: SLEEF not found (apt-get install libsleef-dev): RoPE inv_freq may differ "
                  "from transformers' by 1 ulp for head_dim >= 64")
endif()
