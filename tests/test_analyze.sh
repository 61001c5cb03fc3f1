#!/usr/bin/env bash
# tools/analyze.py on a complete run file of the tiny models: every figure
# (and the comparison of two runs) is written and non-trivial (a real PNG
# of some size with varied pixels).
. "$(dirname "$0")/test_pipeline_common.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, matplotlib' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks h5py or matplotlib (apt: python3-h5py python3-matplotlib)"; exit 77
fi
run=$work/run.h5
make_run "$run"
$PY "$LR_SOURCE_DIR/tools/analyze.py" "$run" --out "$work/fig" >"$work/list" || fail "analyze.py exited $?"
cat "$work/list"
# a second run (another beta, retrained) for the comparison figure, as a sweep makes them
cp "$run" "$work/run2.h5"
"$LR_BIN" select --run "$work/run2.h5" --beta 3 --quiet
"$LR_BIN" train --run "$work/run2.h5" --max-steps 6 --overwrite --threads 1 --quiet
$PY "$LR_SOURCE_DIR/tools/analyze.py" --compare "$run" "$work/run2.h5" --out "$work/fig" >>"$work/list" ||
  fail "analyze.py --compare exited $?"
$PY - "$work/fig" <<'PY'
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
import numpy as np
d = sys.argv[1]
for name in ["kl_hist", "selection_by_step", "trace_kl", "train_loss", "accuracy", "compare"]:
    p = os.path.join(d, name + ".png")
    assert os.path.exists(p), f"{p} missing"
    size = os.path.getsize(p)
    img = mpimg.imread(p)
    h, w = img.shape[:2]
    rgb = img[..., :3].reshape(-1, 3)
    colours = len(np.unique((rgb * 255).astype(np.uint8), axis=0))
    std = float(rgb.std())
    print(f"{name}: {size} bytes, {w}x{h}, {colours} colours, pixel std {std:.3f}")
    assert size > 5000 and w >= 300 and h >= 200, f"{name}: too small"
    assert colours >= 8 and std > 0.02, f"{name}: (nearly) uniform image"
PY
# a file with nothing to plot is refused
rc=0; $PY "$LR_SOURCE_DIR/tools/analyze.py" "$work/missing.h5" --out "$work/fig2" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "analyze.py on a missing file: exit $rc, want 2"
echo "test_analyze: ok"
