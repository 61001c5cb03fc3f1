#!/bin/bash
# Crash safety: SIGKILL at chosen points (after the k-th shard, inside the
# join, under mpirun) and at random moments, then --resume; the result must
# equal an uninterrupted run. A run from another configuration is refused
# and left untouched.
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/ref.h5"; expect "reference run" [ $? -eq 0 ]

# 1. killed after its 2nd shard (of 4 chunks)
LR_TEST_DIE_AT=shard:2 "$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>/dev/null; rc=$?
expect "killed by SIGKILL (rc $rc)" [ $rc -eq 137 ]
expect "no run file after the crash" [ ! -e "$WORK/a.h5" ]
expect "two complete shards kept" [ "$(ls "$WORK/a.h5.shards" | grep -c '^chunk-.*\.h5$')" -eq 2 ]
out=$("$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>&1); rc=$?
expect "without --resume the interrupted run is not touched (rc $rc)" [ $rc -eq 2 ]
grep -q -- "--resume" <<<"$out"; expect "message suggests --resume" [ $? -eq 0 ]
"$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" --resume; expect "resume" [ $? -eq 0 ]
expect "resumed == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/a.h5"

# 2. killed inside the join (temporary written, not renamed)
LR_TEST_DIE_AT=join "$BIN" sample "${COMMON[@]}" --out "$WORK/b.h5" 2>/dev/null; rc=$?
expect "killed in the join (rc $rc)" [ $rc -eq 137 ]
expect "no run file, a temporary" [ ! -e "$WORK/b.h5" ]
"$BIN" sample "${COMMON[@]}" --out "$WORK/b.h5" --resume; expect "resume after a join crash" [ $? -eq 0 ]
expect "join restarted == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/b.h5"
expect "temporaries and shards cleaned" [ -z "$(ls "$WORK" | grep -e 'b.h5.tmp' -e 'b.h5.shards')" ]

# 3. under mpirun: a scorer killed after its first shard ends the job; resume with another world size
LR_TEST_DIE_AT=shard:1 $MPIRUN -np 4 "$BIN" sample "${COMMON[@]}" --out "$WORK/c.h5" >/dev/null 2>&1; rc=$?
expect "mpirun job died (rc $rc)" [ $rc -ne 0 ]
expect "no run file" [ ! -e "$WORK/c.h5" ]
$MPIRUN -np 2 "$BIN" sample "${COMMON[@]}" --out "$WORK/c.h5" --resume; expect "resume with -np 2" [ $? -eq 0 ]
expect "MPI resume == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/c.h5"

# 4. kill -9 from outside at arbitrary moments
for delay in 0.05 0.15 0.3 0.5; do
    rm -rf "$WORK/d.h5" "$WORK/d.h5.shards"
    "$BIN" sample "${COMMON[@]}" --out "$WORK/d.h5" & pid=$!
    sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    "$BIN" sample "${COMMON[@]}" --out "$WORK/d.h5" --resume; rc=$?
    expect "resume after kill -9 at ${delay}s (rc $rc)" [ $rc -eq 0 ]
    expect "kill at ${delay}s: equal" same_runs "$WORK/ref.h5" "$WORK/d.h5"
done

# 5. --resume of a complete file finishes at once; another configuration is refused, files untouched
"$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" --resume; expect "resume of a complete run" [ $? -eq 0 ]
expect "still equal" same_runs "$WORK/ref.h5" "$WORK/a.h5"
sum=$(md5sum < "$WORK/a.h5")
out=$("$BIN" sample "${COMMON[@]}" --max-new-tokens 20 --out "$WORK/a.h5" --resume 2>&1); rc=$?
expect "other configuration refused (rc $rc)" [ $rc -eq 2 ]
grep -q "max-new-tokens" <<<"$out"; expect "message names the differing flag: $out" [ $? -eq 0 ]
expect "run file untouched" [ "$(md5sum < "$WORK/a.h5")" = "$sum" ]
LR_TEST_DIE_AT=shard:1 "$BIN" sample "${COMMON[@]}" --out "$WORK/e.h5" 2>/dev/null
msum=$(cat "$WORK/e.h5.shards"/* | md5sum)
"$BIN" sample "${COMMON[@]}" --system "Other." --out "$WORK/e.h5" --resume 2>/dev/null; rc=$?
expect "interrupted run from another configuration refused (rc $rc)" [ $rc -eq 2 ]
expect "shards untouched" [ "$(cat "$WORK/e.h5.shards"/* | md5sum)" = "$msum" ]
# alpha/beta are not part of the sampled data: a resume may change them
"$BIN" sample "${COMMON[@]}" --beta 1.5 --out "$WORK/e.h5" --resume; expect "resume with another beta" [ $? -eq 0 ]
"$BIN" sample "${COMMON[@]}" --beta 1.5 --out "$WORK/f.h5"
expect "resumed at beta 1.5 == fresh at 1.5" same_runs "$WORK/e.h5" "$WORK/f.h5"
finish
