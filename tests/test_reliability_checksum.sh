#!/bin/bash
# Shard checksums (issue 12): bytes zeroed inside a finished shard (in the
# data of a dataset, where HDF5 itself notices nothing) must be caught by
# --resume, the chunk redone, and the final file equal the uninterrupted
# run. Also: a shard whose checksum attribute was removed is not trusted.
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/ref.h5"; expect "reference run" [ $? -eq 0 ]

zero_in() { # zero_in SHARD DATASET: zero 16 bytes in the middle of DATASET's stored data; prints 1 if values changed
    $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    d = f[name]
    before = d[()].copy()
    off, size = d.id.get_offset(), d.id.get_storage_size()
with open(path, "r+b") as fh:
    fh.seek(off + size // 2 - 8)
    fh.write(b"\0" * 16)
with h5py.File(path, "r") as f:
    print(int(not np.array_equal(before, f[name][()])))
PY
}

for ds in cand_logp_amateur tokens kl; do
    rm -rf "$WORK/a.h5" "$WORK/a.h5.shards"
    LR_TEST_DIE_AT=shard:2 "$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>/dev/null
    shard="$WORK/a.h5.shards/chunk-00000001.h5"
    expect "$ds: two shards written" [ -e "$shard" ]
    changed=$(zero_in "$shard" "$ds")
    expect "$ds: zeroed bytes changed the stored values (HDF5 still opens the shard)" [ "$changed" = 1 ]
    out=$("$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" --resume 2>&1); rc=$?
    expect "$ds: --resume (rc $rc)" [ $rc -eq 0 ]
    grep -q "chunk-00000001.h5: checksum mismatch" <<<"$out"; expect "$ds: the damaged shard is named: $out" [ $? -eq 0 ]
    expect "$ds: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/a.h5"
done

# a shard without its checksum (an older or foreign writer) is redone, not trusted
rm -rf "$WORK/a.h5" "$WORK/a.h5.shards"
LR_TEST_DIE_AT=shard:2 "$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>/dev/null
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); del f.attrs['checksum']" "$WORK/a.h5.shards/chunk-00000000.h5"
out=$("$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" --resume 2>&1); rc=$?
expect "no checksum: --resume (rc $rc)" [ $rc -eq 0 ]
grep -q "chunk-00000000.h5.*checksum" <<<"$out"; expect "no checksum: named: $out" [ $? -eq 0 ]
expect "no checksum: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/a.h5"
finish
