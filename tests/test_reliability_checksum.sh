#!/bin/bash
# Shard checksums (issue 12): a finished shard whose bytes change
# afterwards must not be merged. (1) Values rewritten through HDF5 itself
# (a stray write HDF5 accepts: only the checksum can notice) and (2) 16
# zero bytes in the middle of a dataset's stored data (HDF5 may or may not
# notice, e.g. when the chunk is compressed): --resume must name the shard,
# redo its chunk, and the final file equal the uninterrupted run. A shard
# whose checksum attribute was removed is not trusted either.
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/ref.h5"; expect "reference run" [ $? -eq 0 ]
# the resumes run without --quiet (it silences warnings, and the warning names the shard)
LOUD=(); for a in "${COMMON[@]}"; do [ "$a" = --quiet ] || LOUD+=("$a"); done
export LR_PROGRESS_INTERVAL=0

rewrite_in() { # rewrite_in SHARD DATASET: new values through h5py (HDF5 sees a valid file)
    $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f[sys.argv[2]]
    v = d[()]
    v[len(v) // 2] = v[len(v) // 2] + 1 if v.dtype.kind in "iu" else v[len(v) // 2] * 0.5 - 1
    d[...] = v
PY
}
zero_in() { # zero_in SHARD DATASET: zero 16 bytes in the middle of DATASET's stored data
    $PY - "$1" "$2" <<'PY'
import sys, h5py
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    d = f[name]
    off, size = d.id.get_offset(), d.id.get_storage_size()
    if off is None:  # chunked: the first chunk
        info = d.id.get_chunk_info(0)
        off, size = info.byte_offset, info.size
with open(path, "r+b") as fh:
    fh.seek(off + size // 2 - 8)
    fh.write(b"\0" * 16)
PY
}

for how in rewrite_in zero_in; do
    for ds in cand_logp_amateur tokens kl; do
        rm -rf "$WORK/a.h5" "$WORK/a.h5.shards"
        LR_TEST_DIE_AT=shard:2 "$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>/dev/null
        shard="$WORK/a.h5.shards/chunk-00000001.h5"
        expect "$how $ds: two shards written" [ -e "$shard" ]
        $how "$shard" "$ds"; expect "$how $ds: shard changed" [ $? -eq 0 ]
        out=$("$BIN" sample "${LOUD[@]}" --out "$WORK/a.h5" --resume 2>&1); rc=$?
        expect "$how $ds: --resume (rc $rc)" [ $rc -eq 0 ]
        if [ $how = rewrite_in ]; then want="chunk-00000001.h5: checksum mismatch"; else want="chunk-00000001.h5"; fi
        grep -q "$want" <<<"$out"; expect "$how $ds: the damaged shard is named ($want)" [ $? -eq 0 ]
        expect "$how $ds: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/a.h5"
    done
done

# a shard without its checksum (an older or foreign writer) is redone, not trusted
rm -rf "$WORK/a.h5" "$WORK/a.h5.shards"
LR_TEST_DIE_AT=shard:2 "$BIN" sample "${COMMON[@]}" --out "$WORK/a.h5" 2>/dev/null
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); del f.attrs['checksum']" "$WORK/a.h5.shards/chunk-00000000.h5"
out=$("$BIN" sample "${LOUD[@]}" --out "$WORK/a.h5" --resume 2>&1); rc=$?
expect "no checksum: --resume (rc $rc)" [ $rc -eq 0 ]
grep -q "chunk-00000000.h5.*checksum" <<<"$out"; expect "no checksum: the shard is named" [ $? -eq 0 ]
expect "no checksum: resumed == uninterrupted" same_runs "$WORK/ref.h5" "$WORK/a.h5"
finish
