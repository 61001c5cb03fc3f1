#!/usr/bin/env bash
# The demo: install dependencies, build, run the whole LightReasoner pipeline
# on the bundled demo models and data (2 CPU cores, a few minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install-deps.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/lightreasoner" run "$@"
