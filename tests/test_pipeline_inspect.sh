#!/usr/bin/env bash
# `inspect`: the summary of a complete run file names every stage's numbers;
# non-HDF5, foreign, cut-off and missing files exit 2 with a clear error.
. "$(dirname "$0")/test_pipeline_common.sh"
run=$work/run.h5
make_run "$run"
out=$("$LR_BIN" inspect "$run") || fail "inspect exited $?"
echo "$out"
for want in "problems   10 (10 sampled" "traces     10," "KL (nats)  mean" "samples    " "train      complete: 6 of 6 steps" \
            "loss       first" "eval before" "eval after" "95% CI ["; do
  grep -qF "$want" <<<"$out" || fail "summary lacks '$want'"
done

expect_2() { # expect_2 FILE WORDS: inspect FILE exits 2 naming the file and WORDS
  local rc=0 err
  err=$("$LR_BIN" inspect "$1" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "inspect $1: exit $rc, want 2 ($err)"
  grep -qF "lightreasoner: error: $1: $2" <<<"$err" || fail "inspect $1: unexpected error '$err'"
}
echo "not hdf5" >"$work/text.h5"
expect_2 "$work/text.h5" "not an HDF5 file"
head -c 4096 "$run" >"$work/cut.h5"
expect_2 "$work/cut.h5" "cannot open the HDF5 file"
expect_2 "$work/missing.h5" "cannot read the file"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'w'); f['x']=[1,2]" "$work/foreign.h5"
  expect_2 "$work/foreign.h5" "not a lightreasoner run file"
  # the sampling stage's file without its final 'complete' mark = cut off
  cp "$run" "$work/incomplete.h5"
  /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); del f.attrs['complete']" "$work/incomplete.h5"
  expect_2 "$work/incomplete.h5" "the run file is incomplete"
fi
rc=0; "$LR_BIN" inspect 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "inspect without a file: exit $rc"
echo "test_pipeline_inspect: ok"
