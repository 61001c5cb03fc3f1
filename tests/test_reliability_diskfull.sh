#!/bin/bash
# Full disk (issue 12): sample, select, train (checkpoints) and eval --out on
# a small tmpfs this test mounts (root only; skipped with a message where
# mounting is not permitted). Every failed write must end with exit 1 or 2
# (never a signal), say "No space left on device" and name the file, leave
# no temporary behind and leave the previous complete run file as it was
# (readable with h5py); after the file system grows (remount), the same
# command with --resume must equal the uninterrupted run.
source "$(dirname "$0")/test_sample_common.sh"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: not root: cannot mount a small tmpfs"; exit 77; fi
FS=$WORK/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o size=64k tmpfs "$FS" 2>/dev/null; then
    echo "SKIP: mounting a tmpfs is not permitted here"; exit 77
fi
trap 'umount "$FS" 2>/dev/null; rm -rf "$WORK"' EXIT
fresh() { umount "$FS" && mount -t tmpfs -o size=$1 tmpfs "$FS"; }  # empty, $1 big
grow() { mount -o remount,size=64m "$FS"; }
readable() { $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); f.visititems(lambda n,o: o[()] if isinstance(o,h5py.Dataset) else None)" "$1"; }
same_group() { $PY "$HERE/test_reliability_compare.py" "$@"; }
full_failed() { # full_failed WHAT RC OUTPUT FILE: the failure is clean and says why and where
    local what=$1 rc=$2 out=$3 file=$4
    expect "$what: exit 1 or 2, no signal (rc $rc)" [ "$rc" -eq 1 -o "$rc" -eq 2 ]
    grep -q "No space left on device" <<<"$out"; expect "$what: says 'No space left on device'" [ $? -eq 0 ]
    grep -qF "$file" <<<"$out"; expect "$what: names $file" [ $? -eq 0 ]
    echo "   [$what] $(grep -m1 "error" <<<"$out")"
    [ "$rc" -eq 1 -o "$rc" -eq 2 ] && return 0
    echo "$out" | tail -5
}
no_tmp() { [ -z "$(find "$FS" -name '*.tmp.*')" ]; }

# ---- sample: disk full in the 1st shard, in a later shard, in the join (the join needs
# room for the shards and the run file: about twice the run file)
"$BIN" sample "${COMMON[@]}" --out "$WORK/ref.h5"; expect "reference run" [ $? -eq 0 ]
RUNSZ=$(( $(stat -c %s "$WORK/ref.h5") / 1024 ))
for size in 16k $((RUNSZ / 2))k $((RUNSZ * 3 / 2))k; do
    fresh $size
    out=$("$BIN" sample "${COMMON[@]}" --out "$FS/run.h5" 2>&1); rc=$?
    full_failed "sample on $size" $rc "$out" "$FS/run.h5"
    expect "sample on $size: no run file that looks complete" [ ! -e "$FS/run.h5" ]
    expect "sample on $size: no temporary left" no_tmp
    grow
    "$BIN" sample "${COMMON[@]}" --out "$FS/run.h5" --resume; expect "sample on $size: --resume after growing" [ $? -eq 0 ]
    expect "sample on $size: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$FS/run.h5"
done

# ---- under mpirun: a scorer rank's full disk ends the job cleanly; resume with another world size
if command -v mpirun >/dev/null; then
    fresh $((RUNSZ / 2))k
    out=$($MPIRUN -np 3 "$BIN" sample "${COMMON[@]}" --out "$FS/run.h5" 2>&1); rc=$?
    grep -q "No space left on device" <<<"$out"; expect "mpirun -np 3: says 'No space left on device' (rc $rc)" [ $? -eq 0 ]
    expect "mpirun -np 3: the job failed, no signal (rc $rc)" [ $rc -ge 1 -a $rc -le 2 ]
    expect "mpirun -np 3: no run file" [ ! -e "$FS/run.h5" ]
    grow
    $MPIRUN -np 2 "$BIN" sample "${COMMON[@]}" --out "$FS/run.h5" --resume; expect "mpirun: --resume with -np 2" [ $? -eq 0 ]
    expect "mpirun: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$FS/run.h5"
else
    echo "skipped: mpirun not installed (MPI full-disk case)"
fi

# ---- logprobs: a new output that does not fit; the previous one stays (0.5 MB, with --full 2.6 MB)
fresh 1500k
"$BIN" logprobs --model "$DATA/expert" --input "$DATA/problems.jsonl" --field question --out "$FS/lp.h5" --quiet
expect "logprobs fits" [ $? -eq 0 ]
sum=$(md5sum < "$FS/lp.h5")
out=$("$BIN" logprobs --model "$DATA/expert" --input "$DATA/problems.jsonl" --field question --full \
      --out "$FS/lp.h5" --quiet 2>&1); rc=$?
full_failed "logprobs --full" $rc "$out" "$FS/lp.h5"
expect "logprobs: previous output unchanged" [ "$(md5sum < "$FS/lp.h5")" = "$sum" ]
expect "logprobs: no temporary left" no_tmp

# ---- select: the rewrite fails, the run file stays as it was
fresh $((RUNSZ + 64))k
cp "$WORK/ref.h5" "$FS/run.h5"
sum=$(md5sum < "$FS/run.h5")
out=$("$BIN" select --run "$FS/run.h5" --beta 0.5 --quiet 2>&1); rc=$?
full_failed "select" $rc "$out" "$FS/run.h5"
expect "select: run file unchanged" [ "$(md5sum < "$FS/run.h5")" = "$sum" ]
expect "select: run file readable (h5py)" readable "$FS/run.h5"
expect "select: no temporary left" no_tmp
grow
"$BIN" select --run "$FS/run.h5" --beta 0.5 --quiet; expect "select after growing" [ $? -eq 0 ]
cp "$WORK/ref.h5" "$WORK/sel.h5"
"$BIN" select --run "$WORK/sel.h5" --beta 0.5 --quiet
expect "select after growing == select with room" same_runs "$WORK/sel.h5" "$FS/run.h5"

# ---- train: a save (checkpoint) fails; --resume after growing == uninterrupted
TR=(--max-steps 6 --save-every 2 --threads 1 --quiet)
cp "$WORK/ref.h5" "$WORK/tref.h5"
"$BIN" train --run "$WORK/tref.h5" "${TR[@]}"; expect "reference training" [ $? -eq 0 ]
# the 1st save has no room for its copy; 2*size+N: the 1st save fits, a later one does not
for size in $((RUNSZ + 64))k $((2 * RUNSZ + 150))k; do
    fresh $size
    cp "$WORK/ref.h5" "$FS/t.h5"
    out=$("$BIN" train --run "$FS/t.h5" "${TR[@]}" 2>&1); rc=$?
    full_failed "train on $size" $rc "$out" "$FS/t.h5"
    expect "train on $size: run file complete and readable (h5py)" readable "$FS/t.h5"
    "$BIN" inspect "$FS/t.h5" >/dev/null 2>&1; expect "train on $size: inspect reads the run file" [ $? -eq 0 ]
    expect "train on $size: no temporary left" no_tmp
    grow
    "$BIN" train --run "$FS/t.h5" "${TR[@]}" --resume; expect "train on $size: --resume after growing" [ $? -eq 0 ]
    expect "train on $size: resumed /train == uninterrupted" same_group "$WORK/tref.h5" "$FS/t.h5" train
done

# ---- eval --out into an existing run file
EV=(--model "$DATA/expert" --benchmark "$DATA/problems.jsonl" --name before --max-new-tokens 16 --threads 1 --quiet)
cp "$WORK/ref.h5" "$WORK/eref.h5"
"$BIN" eval "${EV[@]}" --out "$WORK/eref.h5" >/dev/null; expect "reference eval" [ $? -eq 0 ]
# no room for the copy of the run file; room for the copy but not for the group
for size in $((RUNSZ + 64))k $((2 * RUNSZ + 16))k; do
    fresh $size
    cp "$WORK/ref.h5" "$FS/e.h5"
    sum=$(md5sum < "$FS/e.h5")
    out=$("$BIN" eval "${EV[@]}" --out "$FS/e.h5" 2>&1); rc=$?
    full_failed "eval on $size" $rc "$out" "$FS/e.h5"
    expect "eval on $size: run file unchanged" [ "$(md5sum < "$FS/e.h5")" = "$sum" ]
    expect "eval on $size: run file readable (h5py)" readable "$FS/e.h5"
    expect "eval on $size: no temporary left" no_tmp
    grow
    "$BIN" eval "${EV[@]}" --out "$FS/e.h5" --resume >/dev/null; expect "eval on $size: --resume after growing" [ $? -eq 0 ]
    expect "eval on $size: resumed /eval == uninterrupted" same_group "$WORK/eref.h5" "$FS/e.h5" eval
    expect "eval on $size: the sampled data kept" same_runs "$WORK/ref.h5" "$FS/e.h5"
done
finish
