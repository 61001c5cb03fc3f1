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
# The pipeline as one MPI job of 3 ranks working at once: a scorer, a
# sampler and a trainer (one thread each), then all three evaluate; results
# in ./demo-run.h5. LR_DEMO_RANKS=1 runs it as one process on every core.
ranks=${LR_DEMO_RANKS:-3}
if [ "$ranks" -gt 1 ] && command -v mpirun >/dev/null; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  exec mpirun --oversubscribe -np "$ranks" "$root/build/lightreasoner" run "$@"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec "$root/build/lightreasoner" run "$@"
