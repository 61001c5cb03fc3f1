#!/bin/bash
# One writer per run file (issue 12): two real processes on one file. The
# first writer is stopped (SIGSTOP) while it holds the lock; the second
# (sample/sample, sample --overwrite, train/train, select and eval while
# train runs) must be refused with exit 2 and a message naming the
# holder's host and PID, touching nothing; readers (inspect, h5py) still
# work; the first then finishes with the result of an undisturbed run. A
# writer killed with -9 leaves no stale lock.
source "$(dirname "$0")/test_sample_common.sh"
HOST=$(hostname)
# a longer job (40 problems) so that the first writer is surely still running when stopped
for i in 1 2 3 4; do cat "$DATA/problems.jsonl"; done > "$WORK/p40.jsonl"
BIG=(--expert "$DATA/expert" --amateur "$DATA/amateur" --problems "$WORK/p40.jsonl" --max-new-tokens 40
     --beta "$BETA" --batch 3 --quiet)
hold() { # hold PID LOCKFILE: wait until PID has written its owner line, then stop it
    for _ in $(seq 1000); do
        if grep -q "PID $1," "$2" 2>/dev/null; then kill -STOP "$1"; return 0; fi
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
refused() { # refused WHAT RC OUTPUT PID
    expect "$1: refused with exit 2 (rc $2)" [ "$2" -eq 2 ]
    grep -q "host $HOST, PID $4," <<<"$3"; expect "$1: message names host $HOST and PID $4" [ $? -eq 0 ]
    [ "$2" -eq 2 ] || echo "$3" | tail -3
}

# ---- sample / sample
"$BIN" sample "${BIG[@]}" --out "$WORK/ref.h5"; expect "reference run" [ $? -eq 0 ]
"$BIN" sample "${BIG[@]}" --out "$WORK/a.h5" & p1=$!
hold $p1 "$WORK/a.h5.lock"; expect "first sample holds the lock" [ $? -eq 0 ]
out=$("$BIN" sample "${BIG[@]}" --out "$WORK/a.h5" 2>&1); rc=$?
refused "second sample" $rc "$out" $p1
out=$("$BIN" sample "${BIG[@]}" --out "$WORK/a.h5" --overwrite 2>&1); rc=$?
refused "second sample --overwrite" $rc "$out" $p1
out=$("$BIN" sample "${BIG[@]}" --out "$WORK/a.h5" --resume 2>&1); rc=$?
refused "second sample --resume" $rc "$out" $p1
kill -CONT $p1; wait $p1; rc=$?
expect "first sample finishes (rc $rc)" [ $rc -eq 0 ]
expect "first sample == undisturbed run" same_runs "$WORK/ref.h5" "$WORK/a.h5"

# ---- train / train, select and eval while train runs, readers unaffected
"$BIN" sample "${COMMON[@]}" --out "$WORK/s.h5"
TR=(--max-steps 6 --save-every 2 --threads 1 --quiet)
cp "$WORK/s.h5" "$WORK/tref.h5"
"$BIN" train --run "$WORK/tref.h5" "${TR[@]}"; expect "reference training" [ $? -eq 0 ]
cp "$WORK/s.h5" "$WORK/t.h5"
"$BIN" train --run "$WORK/t.h5" "${TR[@]}" & p1=$!
hold $p1 "$WORK/t.h5.lock"; expect "first train holds the lock" [ $? -eq 0 ]
out=$("$BIN" train --run "$WORK/t.h5" "${TR[@]}" 2>&1); rc=$?
refused "second train" $rc "$out" $p1
out=$("$BIN" train --run "$WORK/t.h5" "${TR[@]}" --overwrite 2>&1); rc=$?
refused "second train --overwrite" $rc "$out" $p1
out=$("$BIN" select --run "$WORK/t.h5" --beta 0.1 --quiet 2>&1); rc=$?
refused "select while train runs" $rc "$out" $p1
out=$("$BIN" eval --model "$DATA/expert" --benchmark "$DATA/problems.jsonl" --out "$WORK/t.h5" --name e \
      --max-new-tokens 8 --threads 1 --quiet 2>&1); rc=$?
refused "eval --out while train runs" $rc "$out" $p1
"$BIN" inspect "$WORK/t.h5" >/dev/null 2>&1; expect "inspect reads while train holds the lock" [ $? -eq 0 ]
$PY -c "import h5py,sys; h5py.File(sys.argv[1],'r')['samples/kl'][:]" "$WORK/t.h5"
expect "h5py reads while train holds the lock" [ $? -eq 0 ]
kill -CONT $p1; wait $p1; rc=$?
expect "first train finishes (rc $rc)" [ $rc -eq 0 ]
expect "/train == undisturbed training" $PY "$HERE/test_reliability_compare.py" "$WORK/tref.h5" "$WORK/t.h5" train
expect "/samples untouched (select was refused)" same_runs "$WORK/s.h5" "$WORK/t.h5"

# ---- a writer killed with -9 leaves no stale lock
cp "$WORK/s.h5" "$WORK/k.h5"
"$BIN" train --run "$WORK/k.h5" "${TR[@]}" & p1=$!
hold $p1 "$WORK/k.h5.lock"; expect "train holds the lock" [ $? -eq 0 ]
kill -9 $p1; wait $p1 2>/dev/null
"$BIN" train --run "$WORK/k.h5" "${TR[@]}" --resume; rc=$?
expect "after kill -9 the next writer runs (rc $rc)" [ $rc -eq 0 ]
expect "and its /train == undisturbed training" $PY "$HERE/test_reliability_compare.py" "$WORK/tref.h5" "$WORK/k.h5" train
finish
