# Shared by the sampling-stage shell tests (sourced). Environment from ctest:
# LR_BIN, LR_TEST_DATA. Runs the tiny models of tests/data/sample.
set -u
BIN=${LR_BIN:?LR_BIN not set}
DATA=${LR_TEST_DATA:?LR_TEST_DATA not set}/sample
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lr_sample_test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 LR_PROGRESS_INTERVAL=0
# Open MPI keeps allocations for the process lifetime: no leak check under
# mpirun in sanitizer builds (single-process runs keep it)
MPIRUN="env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe"
# the golden's beta: some but not all steps are selected
BETA=$($PY -c "import json;print(json.load(open('$DATA/golden.json'))['beta'])")
COMMON=(--expert "$DATA/expert" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --max-new-tokens 40
        --beta "$BETA" --batch 3 --quiet)
FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*"; }
expect() { # expect "what" command...
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
same_runs() { $PY "$HERE/test_sample_compare.py" "$@"; }
finish() {
    echo "$(basename "$0"): $((CHECKS - FAILS)) passed, $FAILS failed"
    [ "$FAILS" -eq 0 ] && [ "$CHECKS" -gt 0 ]
}
