#!/usr/bin/env bash
# The test command: install dependencies, configure, build, run every test.
#   bash tools/test.sh            # release build in build/
#   LR_SANITIZE=1 bash tools/test.sh   # ASan+UBSan build in build-asan/
# With CI=true (set by .ci/run) compiler warnings are errors (-DLR_WERROR=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install-deps.sh"

# Open MPI refuses root unless told; tests oversubscribe the 2-core CI box.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

werror=OFF
[ "${CI:-}" = true ] && werror=ON

if [ "${LR_SANITIZE:-0}" = 1 ]; then
  build="$root/build-asan"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DLR_SANITIZE=ON -DLR_WERROR=$werror
  # Open MPI's own process-lifetime allocations are suppressed (tests/lsan.supp).
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
else
  build="$root/build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLR_WERROR=$werror
fi
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
