# Shared by the pipeline shell tests: a small complete run file (sample +
# train + eval before/after) on the tiny test models, built in $work.
set -euo pipefail
: "${LR_BIN:?LR_BIN not set}" "${LR_TEST_DATA:?LR_TEST_DATA not set}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
S=$LR_TEST_DATA/sample

make_run() { # make_run FILE: sample + train + eval before/after into FILE
  local run=$1
  "$LR_BIN" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" \
    --out "$run" --max-new-tokens 24 --threads 1 --quiet
  "$LR_BIN" train --run "$run" --max-steps 6 --save-every 3 --threads 1 --quiet --export "$work/adapter"
  "$LR_BIN" merge --model "$S/expert" --adapter "$work/adapter" --out "$work/merged" --quiet
  "$LR_BIN" eval --model "$S/expert" --benchmark "$S/problems.jsonl" --out "$run" --name before \
    --max-new-tokens 16 --threads 1 --quiet
  "$LR_BIN" eval --model "$work/merged" --benchmark "$S/problems.jsonl" --out "$run" --name after \
    --max-new-tokens 16 --threads 1 --quiet
}
