#!/bin/bash
# The paper's ablations (SPEC §2, issue 17) through `select` and `sample`:
# --select random keeps exactly as many steps as KL selection, per trace,
# among the finite steps, seeded; --select all keeps every finite step;
# --labels onehot is one token, weight 1, the expert's own token; --sft
# (random steps, one-hot labels) supervises the trace's tokens at as many
# positions as KL selects. `sample` with a rule == `sample` then `select`.
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/s.h5"; expect "sample" [ $? -eq 0 ]
for rule in "random:--select random" "random7:--select random --select-seed 7" "all:--select all" \
            "onehot:--labels onehot" "sft:--sft" "random2:--select random"; do
  name=${rule%%:*}
  cp "$WORK/s.h5" "$WORK/$name.h5"
  # shellcheck disable=SC2086
  "$BIN" select --run "$WORK/$name.h5" --beta "$BETA" ${rule#*:} --quiet; expect "select ${rule#*:}" [ $? -eq 0 ]
done
expect "rules hold (h5py)" $PY - "$WORK" "$BETA" <<'PYEOF'
import sys, h5py, numpy as np
w, beta = sys.argv[1], float(sys.argv[2])
def load(n):
    f = h5py.File(f"{w}/{n}.h5", "r")
    s = f["samples"]
    return f, {k: s[k][()] for k in ("divergence_row", "trace", "label_offsets", "label_ids", "label_weights")}, s.attrs
f0, kl_s, _ = load("s")
kl = f0["divergence/kl"][()]; dtrace = f0["divergence/trace"][()]; tok = f0["divergence/token"][()]
fin = np.isfinite(kl)
sel_kl = np.flatnonzero(fin & (kl >= beta))
fails = []
def check(c, what):
    print(("ok: " if c else "FAIL: ") + what)
    if not c: fails.append(what)
check(0 < sel_kl.size < fin.sum(), f"KL selects some but not all finite steps ({sel_kl.size} of {fin.sum()})")
check(np.array_equal(kl_s["divergence_row"], sel_kl), "default rule: the rows with KL >= beta")
per_trace = lambda rows: np.bincount(dtrace[rows], minlength=dtrace.max() + 1)
for n in ("random", "random7", "sft", "random2"):
    f, s, a = load(n)
    rows = s["divergence_row"]
    check(rows.size == sel_kl.size, f"{n}: {rows.size} samples == KL's {sel_kl.size}")
    check(np.array_equal(per_trace(rows), per_trace(sel_kl)), f"{n}: as many per trace as KL")
    check(bool(np.all(fin[rows])) and np.unique(rows).size == rows.size, f"{n}: distinct finite steps")
    check(not np.array_equal(rows, sel_kl), f"{n}: not the KL rows")
    check(int(a["n_selected_kl"]) == sel_kl.size, f"{n}: n_selected_kl attr")
r, r7, r2 = (load(n)[1]["divergence_row"] for n in ("random", "random7", "random2"))
check(np.array_equal(r, r2), "random: same seed, same steps")
check(not np.array_equal(r, r7), "random: another --select-seed, other steps")
f, s, a = load("all")
check(np.array_equal(s["divergence_row"], np.flatnonzero(fin)), f"all: every finite step ({fin.sum()})")
for n, rows_expect in (("onehot", sel_kl), ("sft", r)):
    f, s, a = load(n)
    off = s["label_offsets"]
    check(np.array_equal(s["divergence_row"], rows_expect), f"{n}: rows")
    check(bool(np.all(np.diff(off) == 1)), f"{n}: one label token per sample")
    check(bool(np.all(s["label_weights"] == 1.0)), f"{n}: weight 1")
    check(np.array_equal(s["label_ids"], tok[s["divergence_row"]]), f"{n}: the label is the expert's own token")
    check(a["labels"] in (b"onehot", "onehot"), f"{n}: labels attr")
f, s, a = load("random")
check(a["select"] in (b"random", "random") and a["labels"] in (b"contrast", "contrast") and int(a["select_seed"]) == 42,
      "random: select/labels/select_seed attrs")
import json
cfg = json.loads(f.attrs["config"])
check(cfg.get("select") == "random" and cfg.get("labels") == "contrast", f"root config records the rule: {cfg.get('select')}")
sys.exit(1 if fails else 0)
PYEOF
# the join applies the same rules as `select`
"$BIN" sample "${COMMON[@]}" --sft --out "$WORK/sft_fresh.h5"; expect "sample --sft" [ $? -eq 0 ]
expect "sample --sft == sample then select --sft" $PY -c "
import h5py, numpy as np, sys
a = h5py.File('$WORK/sft_fresh.h5','r')['samples']; b = h5py.File('$WORK/sft.h5','r')['samples']
sys.exit(0 if all(np.array_equal(a[k][()], b[k][()]) for k in b) else 1)"
# `run`: its streaming trainers apply the rule to the chunks as they arrive;
# the same training as `sample --sft` then `train` with the same buffer
"$BIN" run --expert "$DATA/expert" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --max-new-tokens 40 \
  --beta "$BETA" --batch 3 --sft --max-steps 3 --shuffle-buffer 16 --start-after 8 --threads 1 --no-eval --quiet \
  --out "$WORK/run_sft.h5" >/dev/null; expect "run --sft" [ $? -eq 0 ]
"$BIN" train --run "$WORK/sft_fresh.h5" --model "$DATA/expert" --max-steps 3 --shuffle-buffer 16 --start-after 8 \
  --threads 1 --quiet; expect "train on sample --sft" [ $? -eq 0 ]
expect "run --sft == sample --sft + train (samples and losses)" $PY -c "
import h5py, numpy as np, sys
a = h5py.File('$WORK/run_sft.h5','r'); b = h5py.File('$WORK/sft_fresh.h5','r')
same = all(np.array_equal(a['samples'][k][()], b['samples'][k][()]) for k in b['samples'])
la, lb = a['train/log/loss'][()], b['train/log/loss'][()]
print('losses', la, lb)
sys.exit(0 if same and la.size == 3 and np.array_equal(la, lb) else 1)"
out=$("$BIN" run --expert "$DATA/expert" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --sft \
  --select all --out "$WORK/bad.h5" 2>&1); rc=$?
expect "run --sft --select all -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
out=$("$BIN" select --run "$WORK/s.h5" --select bogus 2>&1); rc=$?
expect "--select bogus -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
out=$("$BIN" select --run "$WORK/s.h5" --labels bogus 2>&1); rc=$?
expect "--labels bogus -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
# the trainer takes one-hot samples like any other
"$BIN" train --run "$WORK/sft.h5" --model "$DATA/expert" --max-steps 1 --micro-batch 2 --grad-accum 1 --quiet
expect "train on --sft samples" [ $? -eq 0 ]
finish
