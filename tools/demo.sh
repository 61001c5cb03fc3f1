#!/usr/bin/env bash
# The demo: install dependencies, build, run the whole LightReasoner pipeline
# on the bundled demo models and data (2 CPU cores, a few minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install-deps.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# only the program: the tests and benchmarks are tools/test.sh's business
cmake --build "$root/build" -j"$(nproc)" --target lightreasoner
# One process per stage using every core; results in ./demo-run.h5
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec "$root/build/lightreasoner" run "$@"
