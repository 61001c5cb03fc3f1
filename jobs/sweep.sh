#!/bin/bash
# Submits a sweep (docs/slurm.md): the job array of jobs/sweep.sbatch, one
# task per point of the spec (the array size comes from the spec), and an
# aggregation job that runs when every task succeeded (afterok):
# SWEEP_DIR/sweep.csv, SWEEP_DIR/sweep.h5 (/sweep, shown by `inspect`) and
# SWEEP_DIR/sweep.svg.
#   SPEC=sweep.json BASE=run.h5 BENCHMARK=gsm8k bash jobs/sweep.sh
#   echo '{"grid": {"beta": [0.2, 0.4, 0.8], "lr": [5e-5, 1e-4]}, "fixed": {"max_steps": 300}}' > sweep.json
# Prints the array job id and the aggregation job id; sbatch options common
# to both (partition, account, time) go in SBATCH_ARGS. Variables reach the
# tasks through the environment (sbatch --export=ALL).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LR_BIN=${LR_BIN:-$root/build/lightreasoner}
# an install: <prefix>/share/lightreasoner/jobs -> <prefix>/bin, else PATH
[ -x "$LR_BIN" ] || LR_BIN=$root/../../bin/lightreasoner
[ -x "$LR_BIN" ] || LR_BIN=$(command -v lightreasoner)
: "${SPEC:?set SPEC to the sweep spec (JSON)}" "${BASE:?set BASE to the base run file}"
SPEC=$(realpath "$SPEC") BASE=$(realpath "$BASE")
n=$("$LR_BIN" sweep count --spec "$SPEC")
SWEEP_DIR=${SWEEP_DIR:-$PWD/sweep-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$SWEEP_DIR"
SWEEP_DIR=$(realpath "$SWEEP_DIR")
export LR_BIN SPEC BASE SWEEP_DIR
# the array job's script: jobs/sweep.sbatch next to this file (repository or install prefix)
# shellcheck disable=SC2086
a=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((n - 1))${ARRAY_LIMIT:+%$ARRAY_LIMIT} \
  --output="$SWEEP_DIR/task-%a.out" --export=ALL "$root/jobs/sweep.sbatch")
a=${a%%;*}
# shellcheck disable=SC2086
g=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=lr-sweep-aggregate --dependency=afterok:"$a" \
  --kill-on-invalid-dep=yes --ntasks=1 --output="$SWEEP_DIR/aggregate.out" --export=ALL \
  --wrap "\"$LR_BIN\" sweep aggregate --spec \"$SPEC\" --dir \"$SWEEP_DIR\" --out \"$SWEEP_DIR/sweep.h5\" \
--csv \"$SWEEP_DIR/sweep.csv\" --svg \"$SWEEP_DIR/sweep.svg\" && \"$LR_BIN\" inspect \"$SWEEP_DIR/sweep.h5\" && \
{ [ ! -f \"$root/tools/analyze.py\" ] || python3 \"$root/tools/analyze.py\" --compare \"$SWEEP_DIR\"/task-*.h5 \
--out \"$SWEEP_DIR/figures\" || echo 'sweep: no comparison figure (tools/analyze.py needs python3 with h5py, numpy, \
matplotlib)' >&2; }")
echo "$a $g"
echo "sweep of $n tasks: array $a -> aggregation $g; results in $SWEEP_DIR" >&2
