#!/bin/bash
# `select`: with the sampling alpha/beta it reproduces /samples exactly; with
# another beta or alpha it equals a fresh run at those values; alpha below
# the store-alpha is refused and leaves the file as it was.
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/s.h5"; expect "sample" [ $? -eq 0 ]
cp "$WORK/s.h5" "$WORK/orig.h5"
"$BIN" select --run "$WORK/s.h5" --alpha 0.2 --beta "$BETA" --quiet; expect "select same alpha/beta" [ $? -eq 0 ]
expect "same alpha/beta reproduces the file" same_runs "$WORK/orig.h5" "$WORK/s.h5"

"$BIN" select --run "$WORK/s.h5" --beta 2.5 --quiet; expect "select beta 2.5" [ $? -eq 0 ]
"$BIN" sample "${COMMON[@]}" --beta 2.5 --out "$WORK/fresh_b.h5"; expect "fresh run at beta 2.5" [ $? -eq 0 ]
expect "select beta 2.5 == fresh run at beta 2.5" same_runs "$WORK/fresh_b.h5" "$WORK/s.h5"
expect "beta 2.5 selects more than the golden beta" $PY -c "
import h5py,sys
a=h5py.File('$WORK/orig.h5','r')['samples'].attrs['n_samples']; b=h5py.File('$WORK/s.h5','r')['samples'].attrs['n_samples']
sys.exit(0 if b > a else 1)"

"$BIN" select --run "$WORK/s.h5" --alpha 0.05 --beta "$BETA" --quiet; expect "select alpha 0.05" [ $? -eq 0 ]
"$BIN" sample "${COMMON[@]}" --alpha 0.05 --out "$WORK/fresh_a.h5"; expect "fresh run at alpha 0.05" [ $? -eq 0 ]
expect "select alpha 0.05 == fresh run at alpha 0.05" same_runs "$WORK/fresh_a.h5" "$WORK/s.h5"

sum=$(md5sum < "$WORK/s.h5")
out=$("$BIN" select --run "$WORK/s.h5" --alpha 0.001 2>&1); rc=$?
expect "alpha below store-alpha -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "below the store-alpha" <<<"$out"; expect "clear message: $out" [ $? -eq 0 ]
expect "file untouched" [ "$(md5sum < "$WORK/s.h5")" = "$sum" ]
out=$("$BIN" select --run "$DATA/problems.jsonl" 2>&1); rc=$?
expect "a file that is not a run file -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
head -c 20000 "$WORK/s.h5" > "$WORK/cut.h5"
out=$("$BIN" select --run "$WORK/cut.h5" 2>&1); rc=$?
expect "a cut-off run file -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
expect "no temporaries left" [ -z "$(ls "$WORK" | grep '\.tmp\.')" ]
finish
