#!/usr/bin/env bash
# SPEC §5 determinism on the bundled demo models (a real vocabulary-sized
# pair, unlike the tiny test models): everything `sample` stores is
# bit-identical for one process with 2 threads, one with 1 thread,
# `mpirun -np 2` and -np 3, one trace per amateur forward (--score-rows 1),
# and other generation batch sizes (--batch 1 / 5: which sequences share a
# decode step), and for the AVX2 and AVX-512 kernels where the CPU has both
# (one fma chain per matmul element: fma rounds once). Runs on whichever CPU
# kernel path this process picks; CI runs the suite again with the other
# path forced (LR_CPU_ISA).
source "$(dirname "$0")/test_sample_common.sh"
DEMO=${LR_REPO_DATA:?LR_REPO_DATA not set}/demo
D=(--expert "$DEMO/expert" --amateur "$DEMO/amateur" --problems "$DEMO/train.jsonl" --max-problems 6
   --max-new-tokens 48 --quiet)
echo "CPU kernels: $("$BIN" --version | sed -n 's/^CPU kernels: \([a-z0-9]*\).*/\1/p')"
OMP_NUM_THREADS=2 "$BIN" sample "${D[@]}" --out "$WORK/t2.h5"; expect "2 threads" [ $? -eq 0 ]
OMP_NUM_THREADS=1 "$BIN" sample "${D[@]}" --out "$WORK/t1.h5"; expect "1 thread" [ $? -eq 0 ]
expect "2 threads == 1 thread" same_runs "$WORK/t2.h5" "$WORK/t1.h5"
$MPIRUN -np 2 "$BIN" sample "${D[@]}" --out "$WORK/np2.h5"; expect "mpirun -np 2" [ $? -eq 0 ]
expect "2 threads == mpirun -np 2" same_runs "$WORK/t2.h5" "$WORK/np2.h5"
$MPIRUN -np 3 "$BIN" sample "${D[@]}" --out "$WORK/np3.h5"; expect "mpirun -np 3" [ $? -eq 0 ]
expect "2 threads == mpirun -np 3" same_runs "$WORK/t2.h5" "$WORK/np3.h5"
OMP_NUM_THREADS=2 "$BIN" sample "${D[@]}" --score-rows 1 --out "$WORK/sr1.h5"; expect "--score-rows 1" [ $? -eq 0 ]
expect "2 threads == --score-rows 1" same_runs "$WORK/t2.h5" "$WORK/sr1.h5"
for b in 1 5; do
  OMP_NUM_THREADS=2 "$BIN" sample "${D[@]}" --batch $b --out "$WORK/b$b.h5"; expect "--batch $b" [ $? -eq 0 ]
  # the chunk size is part of the resume key (it fixes the shard layout), not of the data
  expect "default batch == --batch $b" same_runs "$WORK/t2.h5" "$WORK/b$b.h5" --ignore-attr resume_key
done
if LR_CPU_ISA=avx512 "$BIN" --version >/dev/null 2>&1 && LR_CPU_ISA=avx2 "$BIN" --version >/dev/null 2>&1; then
  for isa in avx2 avx512; do
    LR_CPU_ISA=$isa OMP_NUM_THREADS=2 "$BIN" sample "${D[@]}" --out "$WORK/$isa.h5"; expect "LR_CPU_ISA=$isa" [ $? -eq 0 ]
  done
  expect "avx2 kernels == avx512 kernels" same_runs "$WORK/avx2.h5" "$WORK/avx512.h5"
else
  echo "SKIP avx2 == avx512: this CPU cannot run both kernel paths"
fi
finish
