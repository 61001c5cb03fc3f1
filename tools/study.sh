#!/usr/bin/env bash
#SBATCH --job-name=lr-study
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --output=lr-study-%j.out
# The LightReasoner study of issue 17 (docs/STUDY.md): the base expert vs
# LightReasoner vs the paper's controls, several training seeds, on a large
# test set, with Wilson intervals and a paired McNemar test against the base.
#
#   bash tools/study.sh                 # locally (the #SBATCH lines are comments)
#   sbatch tools/study.sh               # on a cluster (set LR_BIN to an installed binary)
#
# Settings come from the environment (defaults in brackets):
#   DEMO [data/demo-paper]  EXPERT [$DEMO/expert]  TRAIN [$DEMO/train.jsonl]  TEST [$DEMO/test.jsonl]
#   AMATEUR [$DEMO/amateur]  the main amateur: every arm runs with it
#   CONTROLS ["general=$DEMO/general amateur-math=$DEMO/amateur-math"]  other amateurs, LightReasoner arm only
#   ARMS ["lr random all onehot sft"]   SEEDS ["42 1 2 3 4"]   MAX_PROBLEMS [400]  (problems sampled)
#   STEPS [150]  LR [1e-4]  EVAL_TOKENS [96]  SAMPLE_TOKENS [96]  TEST_LIMIT [0 = all]  THREADS [1]
#   OUT [study-out]  LR_BIN [build/lightreasoner]  REPORT [docs/STUDY.md] (empty: no report)
# Arms (one `sample` per amateur, then `select` + `train` per arm, `eval` per seed):
#   lr      --select kl --labels contrast      (LightReasoner, SPEC §2)
#   random  --select random --labels contrast  (as many steps as KL selects, at random)
#   all     --select all --labels contrast     (every step)
#   onehot  --select kl --labels onehot        (selected steps, the expert's own token as a hard label)
#   sft     --sft (= --select random --labels onehot) (SFT on the expert's greedy traces, same number of positions)
# Every finished piece leaves a .done marker: rerunning the script continues
# where it stopped. All outputs are run files under $OUT; the report reads them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -n "${SLURM_SUBMIT_DIR:-}" ] && [ -f "$SLURM_SUBMIT_DIR/tools/study.sh" ] && root=$SLURM_SUBMIT_DIR
cd "$root"
B=${LR_BIN:-$root/build/lightreasoner}
DEMO=${DEMO:-data/demo-paper}
EXPERT=${EXPERT:-$DEMO/expert}
TRAIN=${TRAIN:-$DEMO/train.jsonl}
TEST=${TEST:-$DEMO/test.jsonl}
AMATEUR=${AMATEUR:-$DEMO/amateur}
CONTROLS=${CONTROLS-"general=$DEMO/general amateur-math=$DEMO/amateur-math"}
ARMS=${ARMS:-"lr random all onehot sft"}
SEEDS=${SEEDS:-"42 1 2 3 4"}
MAX_PROBLEMS=${MAX_PROBLEMS:-400}
STEPS=${STEPS:-150}
LR=${LR:-1e-4}
EVAL_TOKENS=${EVAL_TOKENS:-96}
SAMPLE_TOKENS=${SAMPLE_TOKENS:-96}
TEST_LIMIT=${TEST_LIMIT:-0}
THREADS=${THREADS:-1}
OUT=${OUT:-study-out}
REPORT=${REPORT-docs/STUDY.md}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 HDF5_USE_FILE_LOCKING=FALSE
[ -x "$B" ] || { echo "study: $B not found (build first, or set LR_BIN)" >&2; exit 2; }
mkdir -p "$OUT"
log() { echo "study $(date -u +%H:%M:%S): $*" >&2; }

arm_flags() {
  case $1 in
    lr) echo "--select kl --labels contrast" ;;
    random) echo "--select random --labels contrast" ;;
    all) echo "--select all --labels contrast" ;;
    onehot) echo "--select kl --labels onehot" ;;
    sft) echo "--sft" ;;
    *) echo "study: unknown arm '$1'" >&2; exit 2 ;;
  esac
}

evaluate() { # model-args... -- out name
  local out=$1 name=$2; shift 2
  "$B" eval "$@" --benchmark "$TEST" --limit "$TEST_LIMIT" --max-new-tokens "$EVAL_TOKENS" --threads "$THREADS" \
    --name "$name" --out "$out" --quiet
}

# 1. the base expert on the test set
if [ ! -f "$OUT/base.done" ]; then
  log "base: eval $EXPERT on $TEST"
  rm -f "$OUT/base.h5"
  evaluate "$OUT/base.h5" base --model "$EXPERT"
  touch "$OUT/base.done"
fi

one_amateur() { # tag amateur-dir arms...
  local tag=$1 am=$2; shift 2
  local d=$OUT/$tag
  mkdir -p "$d"
  if [ ! -f "$d/sample.done" ]; then
    log "$tag: sample $MAX_PROBLEMS problems with amateur $am"
    rm -f "$d/sample.h5"
    "$B" sample --expert "$EXPERT" --amateur "$am" --problems "$TRAIN" --max-problems "$MAX_PROBLEMS" \
      --max-new-tokens "$SAMPLE_TOKENS" --threads "$THREADS" --out "$d/sample.h5" --quiet
    touch "$d/sample.done"
  fi
  for arm in "$@"; do
    if [ ! -f "$d/$arm.done" ]; then
      log "$tag/$arm: select $(arm_flags "$arm")"
      cp "$d/sample.h5" "$d/$arm.h5"
      # shellcheck disable=SC2046
      "$B" select --run "$d/$arm.h5" $(arm_flags "$arm")
      touch "$d/$arm.done"
    fi
    for seed in $SEEDS; do
      local f=$d/$arm-s$seed.h5
      [ -f "$f.done" ] && continue
      log "$tag/$arm seed $seed: train $STEPS steps, eval"
      cp "$d/$arm.h5" "$f"
      rm -rf "$f.adapter"
      "$B" train --run "$f" --model "$EXPERT" --max-steps "$STEPS" --lr "$LR" --seed "$seed" --threads "$THREADS" \
        --save-every 0 --export "$f.adapter" --quiet
      evaluate "$f" after --model "$EXPERT" --adapter "$f.adapter"
      touch "$f.done"
    done
  done
}

# shellcheck disable=SC2086
one_amateur main "$AMATEUR" $ARMS
for c in $CONTROLS; do
  one_amateur "${c%%=*}" "${c#*=}" lr
done

if [ -n "$REPORT" ]; then
  /usr/bin/python3 tools/study_report.py "$OUT" --out "$REPORT" --command "${STUDY_COMMAND:-bash tools/study.sh}"
fi
log "done: $OUT"
