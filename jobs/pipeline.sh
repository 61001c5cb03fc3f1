#!/bin/bash
# The pipeline as three chained Slurm jobs (docs/slurm.md): sample, then
# train when it succeeded, then eval (before, and after with the adapter) when training succeeded
# (--dependency=afterok). Each stage gets the resources it needs (e.g. many
# sampler/scorer tasks, then fewer trainer tasks).
#   bash jobs/pipeline.sh                      # the bundled demo
#   EXPERT=... AMATEUR=... PROBLEMS=... BENCHMARK=gsm8k NODES=4 bash jobs/pipeline.sh
# Prints the three job ids; `sbatch` options common to all go in SBATCH_ARGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LR_BIN=${LR_BIN:-$root/build/lightreasoner}
# an install: <prefix>/share/lightreasoner/jobs -> <prefix>/bin, else PATH
[ -x "$LR_BIN" ] || LR_BIN=$root/../../bin/lightreasoner
[ -x "$LR_BIN" ] || LR_BIN=$(command -v lightreasoner)
DEMO=$root/data/demo
EXPERT=${EXPERT:-$DEMO/expert} AMATEUR=${AMATEUR:-$DEMO/amateur}
PROBLEMS=${PROBLEMS:-$DEMO/train.jsonl} BENCHMARK=${BENCHMARK:-$DEMO/test.jsonl}
OUT=${OUT:-$PWD/pipeline-$(date +%Y%m%d-%H%M%S).h5}
NODES=${NODES:-1} TASKS=${TASKS:-2} TRAIN_TASKS=${TRAIN_TASKS:-$TASKS} EVAL_TASKS=${EVAL_TASKS:-$TASKS}
SRUN_MPI=${SRUN_MPI:-pmix}
SAMPLE_ARGS=${SAMPLE_ARGS:---max-problems 400 --max-new-tokens 96}
TRAIN_ARGS=${TRAIN_ARGS:---lr 1e-4 --max-steps 150}
EVAL_ARGS=${EVAL_ARGS:---max-new-tokens 96}
# HDF5_USE_FILE_LOCKING=FALSE: Lustre/GPFS without flock (docs/runfile.md)
env='export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE};'
srun="srun --mpi=$SRUN_MPI"
# Preemption: requeueable jobs; SIGUSR1 to the tasks 120 s before the time
# limit (not to the batch shell: no trap in a --wrap); a stage stopped by a
# signal exits 3 after saving, and the job requeues itself to continue with
# --resume (the next stage's afterok keeps waiting).
SBATCH_ARGS="--requeue --signal=USR1@120 --open-mode=append ${SBATCH_ARGS:-}"
requeue='; rc=$?; if [ $rc = 3 ]; then scontrol requeue $SLURM_JOB_ID; fi; exit $rc'
# shellcheck disable=SC2086
j1=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=lr-sample --nodes="$NODES" --ntasks="$TASKS" \
  --output="$OUT.sample-%j.out" \
  --wrap "$env $srun $LR_BIN sample --expert $EXPERT --amateur $AMATEUR --problems $PROBLEMS --out $OUT --resume $SAMPLE_ARGS $requeue")
# shellcheck disable=SC2086
j2=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=lr-train --dependency=afterok:"$j1" --kill-on-invalid-dep=yes \
  --nodes="$NODES" --ntasks="$TRAIN_TASKS" --output="$OUT.train-%j.out" \
  --wrap "$env $srun $LR_BIN train --run $OUT --model $EXPERT --resume --export $OUT.adapter $TRAIN_ARGS $requeue")
# shellcheck disable=SC2086
j3=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=lr-eval --dependency=afterok:"$j2" --kill-on-invalid-dep=yes \
  --nodes="$NODES" --ntasks="$EVAL_TASKS" --output="$OUT.eval-%j.out" \
  --wrap "$env $srun $LR_BIN eval --model $EXPERT --benchmark $BENCHMARK --out $OUT --name before --resume $EVAL_ARGS && \
$srun $LR_BIN eval --model $EXPERT --adapter $OUT.adapter --benchmark $BENCHMARK --out $OUT --name after --resume $EVAL_ARGS && \
$LR_BIN inspect $OUT $requeue")
echo "$j1 $j2 $j3"
echo "sample $j1 -> train $j2 -> eval $j3; run file $OUT" >&2
