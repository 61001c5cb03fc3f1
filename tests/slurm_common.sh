# Shared by the Slurm tests: the skip check, the cluster, and a digest of a
# run file's results for "equals the uninterrupted run" checks.
set -euo pipefail
: "${LR_BIN:?}" "${LR_SOURCE_DIR:?}"
if ! command -v slurmctld >/dev/null && [ ! -x /usr/sbin/slurmctld ]; then
  echo "SKIP: slurmctld is not installed (apt-get install slurmctld slurmd slurm-client munge)"; exit 77
fi
export PATH=$PATH:/usr/sbin
# The jobs' stages run as MPI ranks under srun; Open MPI keeps process-lifetime
# allocations in dlopen'ed components: no leak check there (sanitizer builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; [ -n "${work:-}" ] && tail -n 30 "$work"/*.out "$work"/cluster/log/*.log >&2 2>/dev/null; exit 1; }
work=$(mktemp -d)
. "$LR_SOURCE_DIR/tests/slurm_cluster.sh"
trap 'slurm_stop; [ -n "${LR_KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
demo=$LR_SOURCE_DIR/data/demo
[ -d "$demo/expert" ] || fail "no bundled demo in $demo"
jobs=$LR_SOURCE_DIR/jobs

# Every dataset of a run file (data only, full precision) except the
# per-step timings, plus the accuracies: two runs with the same results
# have the same digest whatever their timing, ranks or interruptions.
run_digest() {
  local f=$1 d
  for d in $(h5ls -r "$f" | awk '$2 == "Dataset" {print $1}' | grep -vE '^/train/log/(seconds|tokens_per_s)$'); do
    echo "== $d"
    h5dump -A 0 -m %.17g -y -w 0 -d "$d" "$f" | sed -n '/DATA {/,/^   }/p'
  done
  for d in before after; do h5dump -a "/eval/$d/accuracy" "$f" 2>/dev/null | grep "(0)" || true; done
}

# job_state ID: the job's state (PENDING, RUNNING, COMPLETED, ...)
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
# wait_job ID SECONDS: until the job has ended (any final state)
wait_job() {
  local i
  for i in $(seq $(( $2 * 2 ))); do
    case $(job_state "$1") in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|"") return 0;; esac
    sleep 0.5
  done
  return 1
}
