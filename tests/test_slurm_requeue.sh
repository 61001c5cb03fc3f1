#!/usr/bin/env bash
# Preemption on a real Slurm (issue 18): jobs/lightreasoner.sbatch (the demo
# as 1 scorer + 1 sampler + 1 trainer rank, --requeue, --resume) is requeued
# with `scontrol requeue` while it trains (after its first training save),
# and a second one gets the time-limit warning (SIGUSR1 to its batch shell).
# Slurm sends SIGTERM; the ranks finish their step/chunk, save and exit 3;
# the job script copies the state from node-local scratch back next to the
# run file; the job runs again, brings it back in and resumes. The final run file equals (same samples,
# losses, adapter checkpoints, evaluations) a run that was never interrupted.
# Skipped (77) only without slurmctld.
. "$(dirname "$0")/slurm_common.sh"
slurm_start "$work/cluster" || fail "cluster did not start"
cd "$work"
args="--max-problems 16 --max-new-tokens 40 --eval-limit 8 --eval-max-new-tokens 40 --max-steps 60 --save-every 10"

# the uninterrupted reference: one process (= 3 ranks with one trainer, docs/pipeline.md)
# shellcheck disable=SC2086
"$LR_BIN" run --out "$work/ref.h5" $args --threads 1 --quiet >/dev/null 2>ref.err || { cat ref.err; fail "reference run"; }

# interrupted NAME HOW: jobs/lightreasoner.sbatch with OUT=NAME.h5, stopped
# after its first training save by HOW = requeue (`scontrol requeue`: Slurm
# sends SIGTERM and requeues the job) or usr1 (SIGUSR1 to the batch shell
# only, as --signal=B:USR1@120 does before the time limit: the job's trap
# forwards it to srun, the ranks save and exit 3, the job requeues itself).
# The job works in node-local scratch: the interrupted state must be copied
# back next to OUT, and brought in again by the next run of the job.
interrupted() {
  local name=$1 how=$2 id s i sig
  mkdir -p "$work/scratch"
  id=$(sbatch --parsable --ntasks-per-node=3 -o "$work/$name.out" \
    --export=ALL,LR_BIN="$LR_BIN",OUT="$work/$name.h5",SRUN_MPI="$SLURM_MPI_DEFAULT",SLURM_TMPDIR="$work/scratch",RUN_ARGS="$args" \
    "$jobs/lightreasoner.sbatch") || fail "sbatch"
  local state=$work/scratch/lightreasoner-$id/$name.h5.d/train.h5
  for i in $(seq 600); do
    s=$(h5dump -a /train/steps_done "$state" 2>/dev/null | sed -n 's/.*(0): //p' || true)
    [ -n "$s" ] && [ "$s" -ge 10 ] && break
    case $(job_state "$id") in RUNNING|PENDING|CONFIGURING) ;; *) cat "$name.out"; fail "$name: job ended before training saved ($(job_state "$id"))";; esac
    sleep 0.1
  done
  [ -n "$s" ] && [ "$s" -ge 10 ] || fail "$name: training never saved"
  if [ "$how" = requeue ]; then
    echo "$name: scontrol requeue $id at training step >= $s"
    scontrol requeue "$id" || fail "scontrol requeue"
    sig=SIGTERM
  else
    echo "$name: SIGUSR1 to the batch shell of job $id at training step >= $s"
    scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1"
    sig=SIGUSR1
  fi
  for i in $(seq 600); do
    [ "$(scontrol show job "$id" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')" -ge 1 ] && break; sleep 0.1
  done
  scontrol release "$id" 2>/dev/null || true # some Slurm versions hold a requeued job
  # a requeued job becomes eligible only after a delay (BeginTime = requeue + ~2 min): start it now,
  # once it has left the nodes (a real cluster simply waits)
  for i in $(seq 300); do [ "$(job_state "$id")" = PENDING ] && break; sleep 0.1; done
  # ... and the node has cleaned up the previous run (else its credential is still revoked)
  for i in $(seq 300); do scontrol show node | grep -q "CPUAlloc=0" && break; sleep 0.1; done
  sleep 1
  scontrol update JobId="$id" StartTime=now 2>/dev/null || true
  wait_job "$id" 180 || fail "$name: the requeued job did not finish"
  [ "$(job_state "$id")" = COMPLETED ] || fail "$name: final state $(job_state "$id")"
  grep -q "interrupted by $sig" "$name.out" || fail "$name: no rank reported the $sig"
  [ "$how" = requeue ] || grep -q "lightreasoner job: requeueing itself" "$name.out" || fail "$name: the job did not requeue itself"
  grep -q "working in $work/scratch" "$name.out" || fail "$name: the job did not work in scratch"
  [ -z "$(ls -A "$work/scratch")" ] || fail "$name: scratch left behind"
  grep -q "restart 1" "$name.out" || fail "$name: the job did not run a second time"
  grep -q "expert accuracy after" "$name.out" || fail "$name: the resumed job printed no accuracy"
  "$LR_BIN" inspect "$name.h5" | grep -q "train      complete: 60 of 60" || fail "$name.h5: training not complete"
  run_digest "$name.h5" >"$name.txt"
  diff ref.txt "$name.txt" >"$name.diff" || { head -20 "$name.diff"; fail "$name: the interrupted run differs from the uninterrupted one"; }
}
run_digest ref.h5 >ref.txt
[ "$(wc -l <ref.txt)" -gt 100 ] || fail "digest too small"
interrupted req requeue
interrupted usr requeue_self_after_usr1
echo "test_slurm_requeue: ok (scontrol requeue and SIGUSR1 mid-training; $(grep -c '^==' ref.txt) datasets equal)"
