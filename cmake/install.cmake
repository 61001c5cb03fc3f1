# `cmake --install` (included from the top-level CMakeLists.txt):
#   <prefix>/bin/lightreasoner
#   <prefix>/share/lightreasoner/data/{demo,benchmarks,tokenizers}
#   <prefix>/share/lightreasoner/{jobs,docs,README.md}
# and where the binary looks for its data (src/common/fileio.c): the
# installed layout relative to the executable, then this source tree's data/
# (so a build directory anywhere finds the bundled demo and benchmarks).
include(GNUInstallDirs)
set(LR_INSTALL_SHARE ${CMAKE_INSTALL_DATADIR}/lightreasoner)
file(RELATIVE_PATH LR_DATA_REL ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${LR_INSTALL_SHARE}/data)
set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/common/fileio.c APPEND PROPERTY COMPILE_DEFINITIONS
             LR_INSTALL_DATA_REL="${LR_DATA_REL}" LR_SOURCE_DATA_DIR="${CMAKE_SOURCE_DIR}/data")

# A BLAS (or HDF5) from a module or CMAKE_PREFIX_PATH outside the loader's
# default paths stays findable by the installed binary.
set(CMAKE_INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(lightreasoner PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS lightreasoner RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/data/demo ${CMAKE_SOURCE_DIR}/data/benchmarks ${CMAKE_SOURCE_DIR}/data/tokenizers
        DESTINATION ${LR_INSTALL_SHARE}/data)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/jobs/ DESTINATION ${LR_INSTALL_SHARE}/jobs USE_SOURCE_PERMISSIONS)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${LR_INSTALL_SHARE}/docs)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${LR_INSTALL_SHARE})
