# One static library per src/ folder, named lr_<folder>, with the folders
# it may use as its only dependencies (src/layers.cmake holds the table;
# docs/architecture.md explains it). A folder's library sees the include
# root of itself and of its dependencies (transitively) and nothing else:
# the includes are written "folder/file.h", and each folder's root
# (<build>/layers/<folder>/) holds just a link to src/<folder>, so
# `#include "trainer/x.h"` in a folder below trainer fails to compile.
# tools/check_layers.sh checks the same table without a build (CI lint).

set(LR_LAYERS "")
set(LR_LAYER_ROOTS ${CMAKE_BINARY_DIR}/layers)

# lr_layer(<folder> [<dependency folder>...]): the library of src/<folder>,
# every .c below it (new files are picked up at the next build).
function(lr_layer name)
  set(dir ${CMAKE_SOURCE_DIR}/src/${name})
  if(NOT IS_DIRECTORY ${dir})
    message(FATAL_ERROR "src/layers.cmake: src/${name} is not a folder")
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.c)
  list(FILTER srcs EXCLUDE REGEX "/src/model/cpu/") # per-ISA kernels, see src/model/cpu/cpu.cmake
  file(MAKE_DIRECTORY ${LR_LAYER_ROOTS}/${name})
  if(NOT EXISTS ${LR_LAYER_ROOTS}/${name}/${name})
    file(CREATE_LINK ${dir} ${LR_LAYER_ROOTS}/${name}/${name} SYMBOLIC)
  endif()
  add_library(lr_${name} STATIC ${srcs})
  target_include_directories(lr_${name} PUBLIC ${LR_LAYER_ROOTS}/${name})
  foreach(dep ${ARGN})
    if(NOT TARGET lr_${dep})
      message(FATAL_ERROR "src/layers.cmake: ${name} uses ${dep}, which is not declared above it")
    endif()
    target_link_libraries(lr_${name} PUBLIC lr_${dep})
  endforeach()
  set(LR_LAYERS ${LR_LAYERS} ${name} PARENT_SCOPE)
endfunction()

# lr_layer_exception(<folder> <folder it may not use> "<why, who removes it>"):
# a known violation, allowed until it is fixed (the check lists it).
function(lr_layer_exception name dep why)
  target_link_libraries(lr_${name} PUBLIC lr_${dep})
endfunction()

# Every folder of src/ has a layer.
function(lr_layers_check_complete)
  file(GLOB entries LIST_DIRECTORIES true ${CMAKE_SOURCE_DIR}/src/*)
  foreach(e ${entries})
    get_filename_component(n ${e} NAME)
    if(IS_DIRECTORY ${e} AND NOT n IN_LIST LR_LAYERS)
      message(FATAL_ERROR "src/${n} has no layer: add lr_layer(${n} <folders it uses>) to src/layers.cmake "
                          "(docs/architecture.md)")
    endif()
  endforeach()
endfunction()
