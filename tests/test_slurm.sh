#!/usr/bin/env bash
# The job scripts on a real Slurm: a single-node cluster from Debian's
# slurmctld/slurmd/munge on loopback (tests/slurm_cluster.sh) runs
#   1. jobs/lightreasoner.sbatch (the demo as one srun --mpi=pmix step of 3
#      tasks: 1 scorer, 1 sampler and 1 trainer at once, then 3 eval ranks),
#   2. jobs/sweep.sh: a 3 x 2 sweep spec (beta x lr) as an array of
#      jobs/sweep.sbatch sharing that run file, then the aggregation job
#      (table: CSV + /sweep shown by inspect, figure: SVG),
#   3. jobs/pipeline.sh (sample -> train -> eval chained with afterok),
# each with `sbatch --wait`; exit codes and run files are checked.
# Skipped (exit 77) only when slurmctld is not installed (apt: slurmctld
# slurmd slurm-client munge).
set -euo pipefail
: "${LR_BIN:?}" "${LR_SOURCE_DIR:?}"
if ! command -v slurmctld >/dev/null && [ ! -x /usr/sbin/slurmctld ]; then
  echo "SKIP: slurmctld is not installed (apt-get install slurmctld slurmd slurm-client munge)"; exit 77
fi
export PATH=$PATH:/usr/sbin
# The jobs' stages run as MPI ranks under srun; Open MPI keeps process-lifetime
# allocations in dlopen'ed components: no leak check there (sanitizer builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fail() { echo "FAIL: $*" >&2; [ -n "${work:-}" ] && tail -n 30 "$work"/*.out "$work"/cluster/log/*.log >&2 2>/dev/null; exit 1; }
work=$(mktemp -d)
. "$LR_SOURCE_DIR/tests/slurm_cluster.sh"
trap 'slurm_stop; rm -rf "$work"' EXIT
slurm_start "$work/cluster" || fail "cluster did not start"
echo "cluster up: MpiDefault=$SLURM_MPI_DEFAULT"
demo=$LR_SOURCE_DIR/data/demo
[ -d "$demo/expert" ] || fail "no bundled demo in $demo"
cd "$work"
small="--max-problems 8 --max-new-tokens 40 --eval-limit 8 --eval-max-new-tokens 40 --max-steps 3"
jobs=$LR_SOURCE_DIR/jobs

# 1. the demo job: 3 tasks = 1 scorer + 1 sampler + 1 trainer at once, 3 eval ranks
#    working in node-local scratch (SLURM_TMPDIR), the run file copied back
mkdir -p "$work/scratch"
sbatch --wait --ntasks-per-node=3 -o "$work/demo.out" \
  --export=ALL,LR_BIN="$LR_BIN",OUT="$work/demo.h5",SRUN_MPI="$SLURM_MPI_DEFAULT",RUN_ARGS="$small",SLURM_TMPDIR="$work/scratch" \
  "$jobs/lightreasoner.sbatch" || fail "lightreasoner.sbatch: exit $?"
grep -q "working in $work/scratch/lightreasoner-" "$work/demo.out" || fail "the demo job did not use the scratch directory"
[ -z "$(ls -A "$work/scratch")" ] || fail "scratch left behind: $(ls -A "$work/scratch")"
[ ! -e "$work/demo.h5.shards" ] || fail "shards copied back from a finished run"
grep -q "expert accuracy after" "$work/demo.out" || fail "demo job printed no accuracy"
grep -q "3 ranks: \[0, 2) sample (1 scorer, 1 sampler), \[2, 3) train" "$work/demo.out" || fail "demo job: roles"
"$LR_BIN" inspect "$work/demo.h5" >demo.txt || fail "inspect demo.h5"
for want in "problems   8 (8 sampled" "train      complete: 3 of 3" "eval before" "eval after"; do
  grep -qF "$want" demo.txt || fail "demo.h5 lacks '$want'"
done

# 2. a 3 x 2 sweep (beta x lr) over that run file: jobs/sweep.sh derives the
#    array size from the spec, shares the base run through external links and
#    adds the aggregation job (afterok) -> table (CSV + /sweep) and figure
cat >"$work/spec.json" <<'JSON'
{"grid": {"beta": [0.2, 0.4, 0.8], "lr": [5e-5, 2e-4]}, "fixed": {"max_steps": 2, "alpha": 0.2}}
JSON
ids=$(LR_BIN="$LR_BIN" SPEC="$work/spec.json" BASE="$work/demo.h5" SWEEP_DIR="$work/sweep" EVAL_LIMIT=4 \
  EVAL_MAX_NEW_TOKENS=40 BENCHMARK="$demo/test.jsonl" SRUN_MPI="$SLURM_MPI_DEFAULT" bash "$jobs/sweep.sh") \
  || fail "sweep.sh: exit $?"
agg=${ids##* }
sbatch --wait --dependency=afterok:"$agg" --kill-on-invalid-dep=yes -o /dev/null --wrap true || { tail -n 20 "$work"/sweep/*.out; fail "sweep failed (jobs $ids)"; }
[ "$(grep -c . "$work/sweep/sweep.csv")" = 7 ] || fail "sweep.csv: $(cat "$work/sweep/sweep.csv")"
head -1 "$work/sweep/sweep.csv" | grep -q "^task,beta,lr,max_steps,alpha,n_samples,n_steps,train_steps,final_loss,accuracy,accuracy_ci95_low,accuracy_ci95_high" \
  || fail "sweep.csv header: $(head -1 "$work/sweep/sweep.csv")"
awk -F, 'NR > 1 && ($10 == "" || $9 == "" || $6 == "") {bad++} END {exit bad > 0}' "$work/sweep/sweep.csv" \
  || fail "sweep.csv has empty results: $(cat "$work/sweep/sweep.csv")"
[ "$(awk -F, 'NR > 1 {print $2}' "$work/sweep/sweep.csv" | tr '\n' ' ')" = "0.2 0.2 0.4 0.4 0.8 0.8 " ] || fail "sweep.csv: betas"
[ "$(awk -F, 'NR > 1 {print $6}' "$work/sweep/sweep.csv" | sort -u | wc -l)" = 3 ] || fail "sweep: beta did not change the samples"
grep -q "<svg" "$work/sweep/sweep.svg" && [ "$(grep -o "<circle" "$work/sweep/sweep.svg" | wc -l)" = 6 ] || fail "sweep.svg"
"$LR_BIN" inspect "$work/sweep/sweep.h5" >sweep.txt || fail "inspect sweep.h5"
grep -q "sweep      6 tasks over beta,lr,max_steps,alpha" sweep.txt || fail "inspect: $(cat sweep.txt)"
grep -qE "^ +5  beta=0.8 lr=0.0002" sweep.txt || fail "inspect: task 5: $(cat sweep.txt)"
for i in 0 1 2 3 4 5; do
  [ "$(stat -c %s "$work/sweep/task-$i.h5")" -lt "$(stat -c %s "$work/demo.h5")" ] || fail "task $i copied the base run"
done
h5ls "$work/sweep/task-0.h5" | grep -q "divergence *External Link" || fail "task 0 does not link the base run"
cat sweep.txt

# 3. three chained jobs; a last job waits for them (afterok)
ids=$(LR_BIN="$LR_BIN" OUT="$work/chain.h5" SRUN_MPI="$SLURM_MPI_DEFAULT" \
  SAMPLE_ARGS="--max-problems 6 --max-new-tokens 32" TRAIN_ARGS="--max-steps 2" EVAL_ARGS="--limit 4 --max-new-tokens 32" \
  bash "$jobs/pipeline.sh") || fail "pipeline.sh: exit $?"
last=${ids##* }
sbatch --wait --dependency=afterok:"$last" --kill-on-invalid-dep=yes -o /dev/null --wrap true || fail "pipeline chain failed (jobs $ids)"
"$LR_BIN" inspect "$work/chain.h5" >chain.txt || fail "inspect chain.h5"
grep -q "eval after" chain.txt || fail "chain.h5 has no /eval/after"
grep -q "train      complete: 2 of 2" chain.txt || fail "chain.h5 has no complete /train"
echo "test_slurm: ok"
