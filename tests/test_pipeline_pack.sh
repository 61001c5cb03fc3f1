#!/usr/bin/env bash
# `run --pack traces` (issue 16 item 3): the streaming trainers of `run`
# pack whole traces, on the tiny test models.
#   - one optimizer step over exactly every sample (global batch = the
#     sample count, no buffer, dropout 0): packed == per sample in loss and
#     gradient norm (fp32 summation, 1e-5 relative) with fewer input tokens
#     per supervised position (printed);
#   - with a shuffle buffer (B = 32): every step holds >= B samples of whole traces
#     (and fewer than B + the largest trace); the training equals `sample`
#     then `train --pack traces` with the same buffer bit for bit (the
#     documented batch composition); the summary reports the tokens per
#     supervised position;
#   - SIGKILL after step 3, then --resume == uninterrupted, bit for bit;
#   - 3 ranks (1 trainer) == 1 process bit for bit, 2 trainer ranks within
#     fp32 summation order (1e-5);
#   - the default (--pack samples) records the configuration it recorded
#     before the flag existed; an unknown --pack value, and resuming a
#     per-sample run with --pack traces, are exit 2.
source "$(dirname "$0")/test_sample_common.sh"
cd "$WORK"
R=(--expert "$DATA/expert" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --max-new-tokens 40
   --beta 0.05 --batch 3 --threads 1 --max-length 512 --no-eval)
"$BIN" sample "${R[@]:0:12}" --out s.h5 --quiet; expect "sample" [ $? -eq 0 ]
N=$($PY -c "import h5py;print(len(h5py.File('s.h5')['samples/trace']))")
read -r TR BIG < <($PY -c "
import h5py,numpy as n
t=h5py.File('s.h5')['samples/trace'][()]
print(len(n.unique(t)), n.bincount(t).max())")
echo "$N samples in $TR traces (largest $BIG)"
expect "several samples per trace" [ "$N" -gt $((TR + TR / 2)) ]
col() { $PY -c "import h5py;print(repr(float(h5py.File('$1')['train/log/$2'][$3])))"; }
all() { $PY -c "import h5py;print(' '.join(repr(float(x)) for x in h5py.File('$1')['train/log/$2'][()]))"; }
close() { $PY -c "import sys;a,b=float('$1'),float('$2');sys.exit(0 if abs(a-b)<=1e-5*max(abs(a),1e-30) else 1)"; }

# one step over every sample: packed == per sample
ONE=(--micro-batch "$N" --grad-accum 1 --max-steps 1 --dropout 0 --shuffle-buffer 0)
for p in samples traces; do
  "$BIN" run "${R[@]}" "${ONE[@]}" --pack $p --out "one-$p.h5" --quiet; expect "run --pack $p, one step" [ $? -eq 0 ]
done
for c in loss grad_norm; do
  a=$(col one-samples.h5 $c 0); b=$(col one-traces.h5 $c 0)
  expect "$c: per sample $a == packed $b" close "$a" "$b"
done
for p in samples traces; do
  expect "$p: the step holds every sample" [ "$(col "one-$p.h5" samples 0)" = "$N.0" ]
done
ts=$(col one-samples.h5 tokens 0); tt=$(col one-traces.h5 tokens 0)
echo "input tokens per supervised position: per sample $($PY -c "print(round($ts/$N,2))"), packed $($PY -c "print(round($tt/$N,2))") ($ts vs $tt tokens for $N positions)"
expect "packing processes fewer tokens per supervised position" $PY -c "import sys;sys.exit(0 if $tt < $ts / 2 else 1)"

# streaming with a buffer: the batch composition, == sample + train --pack traces
P=(--micro-batch 8 --grad-accum 4 --max-steps 8 --lr 1e-3 --seed 5 --shuffle-buffer 64 --start-after 16
   --save-every 2 --pack traces)
"$BIN" run "${R[@]}" "${P[@]}" --out p1.h5 2>p1.err; expect "run --pack traces" [ $? -eq 0 ]
grep "input tokens per supervised position" p1.err
expect "the summary reports tokens per supervised position" grep -q "whole traces.*input tokens per supervised position" p1.err
expect "every step holds >= 32 samples of whole traces, < 32 + the largest trace" $PY -c "
import sys,h5py
s=h5py.File('p1.h5')['train/log/samples'][()]
print('samples per step', list(s))
sys.exit(0 if len(s) == 8 and all(32 <= x < 32 + $BIG for x in s) else 1)"
cp s.h5 t.h5
"$BIN" train --run t.h5 --model "$DATA/expert" --threads 1 --max-length 512 "${P[@]}" --quiet
expect "train --pack traces with the same buffer" [ $? -eq 0 ]
for c in loss samples tokens grad_norm; do
  expect "run == sample + train: $c" [ "$(all p1.h5 $c)" = "$(all t.h5 $c)" ]
done
expect "/train's config records --pack traces" $PY -c "
import sys,json,h5py
sys.exit(0 if json.loads(h5py.File('p1.h5')['train'].attrs['config'])['pack'] == 'traces' else 1)"
expect "the default records no pack key in /train's config (as before the flag)" $PY -c "
import sys,json,h5py
c=json.loads(h5py.File('one-samples.h5')['train'].attrs['config'])
sys.exit(0 if 'pack' not in c and 'shuffle-buffer' in c else 1)"

# SIGKILL after step 3 (checkpoint at 2), then --resume
LR_TEST_DIE_AT=step:3 "$BIN" run "${R[@]}" "${P[@]}" --out k.h5 --quiet >/dev/null 2>&1
expect "SIGKILL after step 3" [ $? -ne 0 ]
"$BIN" run "${R[@]}" "${P[@]}" --out k.h5 --resume --quiet; expect "--resume" [ $? -eq 0 ]
expect "resumed == uninterrupted, bit for bit" [ "$(all p1.h5 loss)" = "$(all k.h5 loss)" ]

if command -v mpirun >/dev/null; then
  $MPIRUN -np 3 "$BIN" run "${R[@]}" "${P[@]}" --out m3.h5 --quiet; expect "3 ranks (1 trainer)" [ $? -eq 0 ]
  expect "1 trainer rank == 1 process, bit for bit" [ "$(all p1.h5 loss)" = "$(all m3.h5 loss)" ]
  $MPIRUN -np 4 "$BIN" run "${R[@]}" "${P[@]}" --trainers 2 --out m4.h5 --quiet; expect "2 trainer ranks" [ $? -eq 0 ]
  for i in 0 3 7; do
    a=$(col p1.h5 loss $i); b=$(col m4.h5 loss $i)
    expect "step $((i + 1)): 1 trainer $a == 2 trainers $b" close "$a" "$b"
  done
  expect "2 trainer ranks: the same step sizes" [ "$(all p1.h5 samples)" = "$(all m4.h5 samples)" ]
else
  echo "skipped: no mpirun (1 == 2 trainer ranks not checked here)"
fi

out=$("$BIN" run "${R[@]}" --pack lines --out bad.h5 2>&1); rc=$?
expect "--pack lines: exit 2 naming the flag ($out)" [ $rc -eq 2 ]
expect "--pack lines: the message names --pack" grep -q -- "--pack" <<<"$out"
expect "--pack lines: no run file" [ ! -e bad.h5 ]
U=(--micro-batch 8 --grad-accum 4 --max-steps 8 --seed 5 --shuffle-buffer 64 --start-after 16 --save-every 2)
LR_TEST_DIE_AT=step:3 "$BIN" run "${R[@]}" "${U[@]}" --out u.h5 --quiet >/dev/null 2>&1
out=$("$BIN" run "${R[@]}" "${U[@]}" --pack traces --out u.h5 --resume --quiet 2>&1); rc=$?
expect "resuming a per-sample run with --pack traces: exit 2 ($rc)" [ $rc -eq 2 ]
expect "the message says why" grep -q "cannot --resume" <<<"$out"
finish
