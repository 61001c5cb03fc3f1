#!/usr/bin/env bash
# `train --pack traces` as users run it, on a real `sample` run of the test models:
#   - one optimizer step over exactly every sample (shuffle off, dropout 0,
#     global batch = the sample count): packed == per sample in loss and
#     gradient norm (within fp32 summation, 1e-5 relative), with fewer tokens;
#   - 2 trainer ranks == 1 (1e-5); SIGKILL after step 2 then --resume ==
#     uninterrupted;
#   - an unknown --pack value is exit 2 naming the flag.
source "$(dirname "$0")/test_sample_common.sh"
MODEL=$DATA/expert
"$BIN" sample "${COMMON[@]}" --beta 0.05 --out "$WORK/s.h5"; expect "sample" [ $? -eq 0 ]
N=$($PY -c "import h5py;print(len(h5py.File('$WORK/s.h5')['samples/trace']))")
TR=$($PY -c "import h5py,numpy as n;print(len(n.unique(h5py.File('$WORK/s.h5')['samples/trace'][()])))")
echo "$N samples in $TR traces"
expect "several samples per trace" [ "$N" -gt $((TR + TR / 2)) ]
col() { $PY -c "import h5py;print(repr(float(h5py.File('$1')['train/log/$2'][$3])))"; }
close() { $PY -c "import sys;a,b=float('$1'),float('$2');sys.exit(0 if abs(a-b)<=1e-5*max(abs(a),1e-30) else 1)"; }
ONE=(--model "$MODEL" --micro-batch "$N" --grad-accum 1 --max-steps 1 --shuffle 0 --dropout 0 --max-length 512 --quiet)
for p in samples traces; do
  cp "$WORK/s.h5" "$WORK/$p.h5"
  "$BIN" train --run "$WORK/$p.h5" "${ONE[@]}" --pack $p; expect "train --pack $p" [ $? -eq 0 ]
done
for c in loss grad_norm; do
  a=$(col "$WORK/samples.h5" $c 0); b=$(col "$WORK/traces.h5" $c 0)
  expect "$c: per sample $a == packed $b" close "$a" "$b"
done
ts=$(col "$WORK/samples.h5" tokens 0); tt=$(col "$WORK/traces.h5" tokens 0)
echo "tokens per step: per sample $ts, packed $tt"
expect "packing processes fewer tokens" $PY -c "import sys;sys.exit(0 if $tt < $ts else 1)"
ns=$(col "$WORK/traces.h5" samples 0); expect "the packed step holds every sample" close "$ns" "$N"

FOUR=(--model "$MODEL" --micro-batch 3 --grad-accum 2 --max-steps 4 --lr 1e-3 --pack traces --seed 5 --max-length 512 --quiet)
cp "$WORK/s.h5" "$WORK/r1.h5"; cp "$WORK/s.h5" "$WORK/r2.h5"; cp "$WORK/s.h5" "$WORK/rr.h5"
"$BIN" train --run "$WORK/r1.h5" "${FOUR[@]}"; expect "packed, 1 rank" [ $? -eq 0 ]
$MPIRUN -np 2 "$BIN" train --run "$WORK/r2.h5" "${FOUR[@]}"; expect "packed, 2 ranks" [ $? -eq 0 ]
LR_TEST_DIE_AT=step:2 "$BIN" train --run "$WORK/rr.h5" "${FOUR[@]}" --save-every 1 2>/dev/null
expect "SIGKILL after step 2" [ $? -ne 0 ]
"$BIN" train --run "$WORK/rr.h5" "${FOUR[@]}" --save-every 1 --resume; expect "--resume" [ $? -eq 0 ]
for i in 0 1 2 3; do
  a=$(col "$WORK/r1.h5" loss $i); b=$(col "$WORK/r2.h5" loss $i); c=$(col "$WORK/rr.h5" loss $i)
  expect "step $((i + 1)): 1 rank $a == 2 ranks $b" close "$a" "$b"
  expect "step $((i + 1)): resumed $c == straight" close "$a" "$c"
done
out=$("$BIN" train --run "$WORK/s.h5" --model "$MODEL" --pack lines --quiet 2>&1); rc=$?
expect "--pack lines: exit 2 naming the flag ($out)" [ $rc -eq 2 ] && grep -q -- "--pack" <<<"$out"
finish
