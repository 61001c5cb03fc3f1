#!/usr/bin/env bash
# The whole program on a lent GPU (issues 15 and 16): `sample` and `run` with
# --device cuda write run files that must pass the same h5py checks as CPU
# runs, and the sampling / pipeline timings of SPEC §6 at the paper's shapes.
# The device image has no Open MPI, parallel HDF5, OpenBLAS, cJSON or libyaml
# (docs/model.md "GPU check"), so the binary travels with its runtime:
#
#   bash tools/gpu_e2e.sh --pack     here: build lightreasoner with CUDA (sm_90,
#                                    build-gpu-e2e/), bundle it with every library
#                                    it loads but glibc and CUDA's own (Open MPI
#                                    with its plugins and help files, PMIx, HDF5,
#                                    OpenBLAS, ...) into build-gpu-e2e-carry/e2e.tar.xz
#   bash tools/gpu_e2e.sh --local    here: unpack the bundle and run its CPU smoke
#                                    stages (the bundle is self-contained: Open MPI
#                                    finds its plugins under the bundle, not /usr)
#   bash tools/gpu_e2e.sh            on the device (`run` tool, carry
#                                    ["build-gpu-e2e-carry"]): every stage below
# Options: --out DIR (default $OUT, else gpu-e2e-out), --budget SECONDS (default
# 500; each stage gets at most what is left), --problems N (default 1000),
# --build DIR and --carry DIR (the pack's build and the bundle's folder; defaults
# build-gpu-e2e and build-gpu-e2e-carry), --binary FILE (--pack: bundle this
# lightreasoner instead of building one: ctest test_gpu_e2e_local packs the
# suite's own CUDA build into its build folder and runs --local on it),
# --steps N (training steps of the timed `run`, default 100: the paper's 1000
# take ~10x as long; e2e.json has the trainer's own step times from the run files).
# Writes e2e.md, e2e.json and e2e_stages.tsv (all three after each stage, so a cut call still
# brings back its report) to the output folder; exit 0 only when every stage passed (a timeout of
# the last two, which run with what the budget leaves, is "cut": recorded, not a failure).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
MODE=device OUTDIR=${OUT:-$ROOT/gpu-e2e-out} BUDGET=500 NPROB=1000 STEPS=100
B=$ROOT/build-gpu-e2e CARRY=$ROOT/build-gpu-e2e-carry BIN=
while [ $# -gt 0 ]; do
  case $1 in
    --pack) MODE=pack ;;
    --local) MODE=local ;;
    --out) OUTDIR=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --problems) NPROB=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --build) B=$2; shift ;;
    --carry) CARRY=$2; shift ;;
    --binary) BIN=$2; shift ;;
    *) echo "usage: bash tools/gpu_e2e.sh [--pack|--local] [--out DIR] [--budget S] [--problems N] [--steps N]" \
            "[--build DIR] [--carry DIR] [--binary FILE]" >&2
       exit 2 ;;
  esac
  shift
done
TARBALL=$CARRY/e2e.tar.xz
ARCH=$(gcc -print-multiarch 2>/dev/null)
[ -n "$ARCH" ] || ARCH=x86_64-linux-gnu # (gcc outside Debian/Ubuntu prints nothing; on the device the bundle says)

# ---- --pack: the binary and the closure of what it and Open MPI's plugins load
if [ $MODE = pack ]; then
  set -e
  if [ -z "$BIN" ]; then
    cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_CUDA_RUNTIME_LIBRARY=Static >/dev/null
    cmake --build "$B" -j"$(nproc)" --target lightreasoner >/dev/null
    BIN=$B/lightreasoner
  fi
  S=$(mktemp -d)/e2e
  mkdir -p "$S/bin" "$S/lib"
  cp "$BIN" "$S/bin/lightreasoner"
  # what the bundle was built from (e2e.json holds it beside the working tree's commit)
  echo "$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- src CMakeLists.txt cmake 2>/dev/null || echo -dirty)" \
    > "$S/COMMIT"
  ompi=/usr/lib/$ARCH/openmpi pmix=/usr/lib/$ARCH/pmix2
  mkdir -p "$S/usr/lib/$ARCH" "$S/usr/share"
  cp -a "$ompi" "$S/usr/lib/$ARCH/"
  [ -d "$pmix" ] && cp -a "$pmix" "$S/usr/lib/$ARCH/"
  cp -a /usr/share/openmpi "$S/usr/share/"
  # a singleton MPI_Init may start an orted from the (relocated) prefix
  mkdir -p "$S/usr/bin" && cp -L "$(command -v orted)" "$S/usr/bin/"
  # one process on one node: drop the OSHMEM and high-speed-network components (UCX, OFI, PSM, verbs)
  # and, below, the libraries only they load (~2.7 MB of the tarball; the working tree + carry must stay < 64 MiB)
  for c in "$S/usr/lib/$ARCH/openmpi/lib/openmpi3"/*.so; do
    ldd "$c" 2>/dev/null | grep -qE 'lib(ucp|uct|ucs|fabric|psm|psm2|ibverbs|rdmacm|oshmem|mca_common_(ucx|ofi|verbs))\.so' && rm -f "$c"
  done
  [ -d /usr/share/pmix ] && cp -a /usr/share/pmix "$S/usr/share/"
  # every shared library these load, but glibc's own and CUDA's (the device has its driver and toolkit)
  { ldd "$BIN"; ldd "$S/usr/bin/orted"; find "$S/usr" -name '*.so*' -type f -exec ldd {} \; 2>/dev/null; } |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux-x86-64)\.so|/libcuda\.so|/libcublas|/libcudart|/libnvidia' |
    while read -r f; do cp -L "$f" "$S/lib/"; done
  rm -rf "$S/usr/lib/$ARCH/openmpi/include" "$S/usr/lib/$ARCH/openmpi/lib/pkgconfig" \
    "$S/usr/lib/$ARCH/pmix2/include" "$S/usr/lib/$ARCH/pmix2/lib/libpmix.a"
  mkdir -p "$(dirname "$TARBALL")"
  tar -C "$(dirname "$S")" -cf - e2e | xz -T0 -6 > "$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$(dirname "$S")"
  echo "pack: $(du -h "$TARBALL" | cut -f1) -> $TARBALL ($(git rev-parse --short=12 HEAD))"
  # what travels with `carry: ["build-gpu-e2e-carry"]`: tracked + untracked-not-ignored files + the carry (64 MiB)
  tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -L -c %s -- 2>/dev/null | awk '{s+=$1} END {print s+0}')
  total=$(( tree + $(stat -c %s "$TARBALL") ))
  echo "pack: working tree $((tree >> 20)) MiB + tarball = $((total >> 20)) MiB of the device's 64 MiB"
  [ $total -lt $((63 << 20)) ] || { echo "pack: too large for the device run" >&2; exit 1; }
  exit 0
fi

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
mkdir -p "$OUTDIR" || exit 2
WORK=${LR_E2E_WORK:-/tmp/lr_e2e}
rm -rf "$WORK"; mkdir -p "$WORK"
LOG=$OUTDIR/e2e.log RES=$OUTDIR/e2e_stages.tsv
: > "$LOG"; : > "$RES"
FAILED=0
# Stages that run with what the budget leaves: a timeout there is "cut" (its time is a lower
# bound), a stage they cannot start is "skip"; any other stage out of time is "incomplete".
BEST_EFFORT="run_paper_pack_bf16w run_paper"
best_effort() { [[ " $BEST_EFFORT " == *" $1 "* ]]; }
# stage NAME CAP CMD...: runs CMD with at most min(CAP, budget left) seconds
stage() {
  local name=$1 cap=$2; shift 2
  local left=$(( BUDGET - $(elapsed) )) t0 rc status
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 5 ]; then
    if best_effort "$name"; then status=skip; else status=incomplete; FAILED=1; fi
    printf '%s\t%s\t0\n' "$name" "$status" >> "$RES"
    echo "[gpu_e2e +$(elapsed)s] $name: $status (out of time)" >&2
    report; return 0
  fi
  echo "== $name (limit ${cap}s)" >> "$LOG"
  t0=$(date +%s%N)
  timeout -k 5 "$cap" bash -c '"$@"' _ "$@" >> "$LOG" 2>&1
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if { [ $rc = 124 ] || [ $rc = 137 ]; } && best_effort "$name"; then status=cut
  elif [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout; elif [ $rc = 0 ]; then status=pass; else status="fail($rc)"; fi
  [ $status = pass ] || [ $status = cut ] || FAILED=1
  printf '%s\t%s\t%s.%03d\n' "$name" "$status" $((ms / 1000)) $((ms % 1000)) >> "$RES"
  echo "[gpu_e2e +$(elapsed)s] $name: $status ($((ms / 1000)) s)" >&2
  report
}

[ -f "$TARBALL" ] || { echo "gpu_e2e: $TARBALL missing (bash tools/gpu_e2e.sh --pack here)" >&2; exit 2; }
if xz --version >/dev/null 2>&1; then xz -dc "$TARBALL" | tar -C "$WORK" -xf -
else python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "r:xz"); t.extraction_filter = getattr(tarfile, "fully_trusted_filter", None); t.extractall(sys.argv[2])' "$TARBALL" "$WORK"
fi || { echo "gpu_e2e: cannot unpack $TARBALL" | tee -a "$LOG" >&2; exit 2; }
E=$WORK/e2e
# the multiarch folder the bundle was packed with (this machine's gcc may not say, or say another)
a=$(ls -d "$E"/usr/lib/*/openmpi 2>/dev/null | head -1)
[ -n "$a" ] && ARCH=$(basename "$(dirname "$a")")
BUNDLE_COMMIT=$(cat "$E/COMMIT" 2>/dev/null || echo '?')
TREE_COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo '?')
echo "bundle built from $BUNDLE_COMMIT; working tree at $TREE_COMMIT" >> "$LOG"
[ "${BUNDLE_COMMIT%-dirty}" = "$TREE_COMMIT" ] || echo "gpu_e2e: warning: the bundle ($BUNDLE_COMMIT) is not of this commit ($TREE_COMMIT): rerun --pack" | tee -a "$LOG" >&2
# the wrapper every stage calls: Open MPI relocated into the bundle, its
# libraries first, then CUDA's from the device image
# CUDA's libraries (libcudart.so.13: CUDA::cudart is the shared runtime; libcublasLt.so.13) from the toolkit nvcc belongs to
CUDA_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")")
cat > "$WORK/lr" <<EOF
#!/bin/sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PATH=$E/usr/bin:\$PATH
export OPAL_PREFIX=$E/usr PMIX_PREFIX=$E/usr/lib/$ARCH/pmix2 PMIX_MCA_mca_base_component_path=$E/usr/lib/$ARCH/pmix2/lib/pmix
export HWLOC_PLUGINS_PATH=$E/usr/lib/$ARCH/hwloc
export LD_LIBRARY_PATH=$E/lib:$E/usr/lib/$ARCH/openmpi/lib:$CUDA_DIR/lib64:$CUDA_DIR/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
exec $E/bin/lightreasoner "\$@"
EOF
chmod +x "$WORK/lr"
LR=$WORK/lr
# a python with h5py: the device image's python3, or Debian's python3-h5py here
PY=python3
for p in python3 /usr/bin/python3; do "$p" -c "import h5py" 2>/dev/null && { PY=$p; break; }; done
GPU="none (--local)"
[ $MODE = device ] && GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
# e2e.json and e2e.md from the stage table and the run files so far (after every stage)
report() {
"$PY" - "$RES" "$OUTDIR" "$NPROB" "$STEPS" "$MODE" "$WORK" "$BUNDLE_COMMIT" "$TREE_COMMIT" "$GPU" 2>> "$LOG" <<'PY'
import json, os, sys, datetime
res, out, nprob, steps, mode, work, bundle, tree, gpu = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
rep = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gpu": gpu or "?", "mode": mode,
       "bundle_commit": bundle, "tree_commit": tree,
       "stages": [{"name": n, "status": s, "seconds": float(t)} for n, s, t in rows]}
st = {r["name"]: r for r in rep["stages"]}
if st.get("sample_paper", {}).get("status") == "pass":
    rep["sample_paper"] = {"problems": int(nprob), "seconds": st["sample_paper"]["seconds"], "target_s": 30}
for name in ("run_paper", "run_paper_pack", "run_paper_pack_bf16w"):
    status = st.get(name, {}).get("status")
    if status in ("pass", "cut", "timeout"):  # cut / timeout: stopped at the budget, the time a lower bound
        rep[name] = {"problems": int(nprob), "steps": int(steps), "target_s_for_1000_steps": 180,
                     ("seconds" if status == "pass" else "seconds_at_least"): st[name]["seconds"]}
# the run files stay on the device: their counts and the trainer's own step times come back here
for name, fn in (("sample_paper", "sample.h5"), ("run_paper", "run.h5"), ("run_paper_pack", "run_pack.h5"),
                 ("run_paper_pack_bf16w", "run_pack_bf16w.h5")):
    try:
        import h5py
        with h5py.File(os.path.join(work, fn), "r") as f:
            d = {k: int(f.attrs[k]) for k in ("n_problems", "n_traces", "n_steps") if k in f.attrs}
            if "train/log/seconds" in f:
                sec, tps = f["train/log/seconds"][:], f["train/log/tokens_per_s"][:]
                d.update(train_steps=len(sec), train_seconds=float(sec.sum()),
                         train_step_median_s=float(sorted(sec)[len(sec) // 2]) if len(sec) else None,
                         train_tokens_per_s_median=float(sorted(tps)[len(tps) // 2]) if len(tps) else None)
        rep.setdefault(name, {}).update(run_file=d)
    except Exception as e:  # noqa: BLE001 (no file, no h5py: the stage table still stands)
        rep.setdefault(name, {}).update(run_file_error=repr(e)[:200])
json.dump(rep, open(f"{out}/e2e.json", "w"), indent=1)
with open(f"{out}/e2e.md", "w") as f:
    f.write(f"# gpu_e2e ({rep['date']}, GPU: {rep['gpu']})\n\n| stage | status | seconds |\n|---|---|---|\n")
    for r in rep["stages"]:
        f.write(f"| {r['name']} | {r['status']} | {r['seconds']:.1f} |\n")
PY
}
export LR_BIN=$LR OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
DEV=cuda
[ $MODE = local ] && DEV=cpu
export LR_DEVICE=$DEV

stage version 30 bash -c "\"$LR\" --version && LD_DEBUG=libs \"$LR\" --version 2>&1 | grep -c 'calling init: $E' "
# Open MPI (a singleton MPI_Init, forced by LR_MPI=1) must load its components from the bundle, never from /usr
# (nor hwloc's plugins or any MPI/HDF5/BLAS library); PMIx's three components are exempt: the orted's libpmix
# reads its compiled-in /usr/lib/<arch>/pmix2 where that exists (Debian's libpmix2 here) and the bundle's copy
# where it does not (the device; checked with /usr's openmpi, pmix2 and hwloc hidden in a mount namespace)
T=$ROOT/tests/data/sample
stage bundle_self_contained 45 bash -c "LR_MPI=1 LD_DEBUG=files \"$LR\" sample --expert $T/expert --amateur $T/amateur \
  --problems $T/problems.jsonl --max-new-tokens 8 --max-problems 2 --quiet --out $WORK/tiny.h5 2> $WORK/ld.log
  rc=\$?; grep -v '^ *[0-9]*:' $WORK/ld.log | tail -40
  echo 'loaded from outside the bundle:'; grep -o 'calling init: /.*' $WORK/ld.log | grep -v '$E/' | sort -u
  [ \$rc = 0 ] &&
  grep -c 'file=$E/usr/lib/$ARCH/openmpi/lib/openmpi3/mca_' $WORK/ld.log &&
  ! grep -E 'file=/usr/lib/$ARCH/(openmpi|hwloc)/|file=(/usr)?/lib/$ARCH/lib(mpi|open-|pmix|hwloc|hdf5|openblas)' $WORK/ld.log"
# the run file of `sample` on this device through plain h5py (the CPU suite's checks)
stage h5py_sample 60 env LR_TEST_DATA="$ROOT/tests/data" "$PY" tests/test_sample_h5py.py
# the bundled demo pipeline, one process: sampler, scorer and trainer on this device
stage demo_run 120 bash -c "\"$LR\" run --out \"$WORK/demo-run.h5\" --quiet && \"$PY\" - \"$WORK/demo-run.h5\" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], 'r')
assert f.attrs['complete'] == 1, 'run file not complete'
print({k: (v.item() if hasattr(v, 'item') else v) for k, v in f.attrs.items() if k in ('n_traces', 'n_steps', 'device')})
for g in ('problems', 'traces', 'divergence', 'samples'):
    assert g in f, g
print('groups:', sorted(f.keys()))
PY"
# resume on this device (issue 16: checkpoints and --resume work unchanged from GPU runs): the demo run
# SIGKILLed after training step 3 (checkpoint at 2) leaves no run file, --resume finishes it, and its
# per-step losses are the uninterrupted run's (within 1e-5 relative: CUDA's sums need not repeat bit for bit)
stage resume_demo 150 bash -c "rc=0; LR_TEST_DIE_AT=step:3 \"$LR\" run --out \"$WORK/kill.h5\" --no-eval --quiet \
  >/dev/null 2>&1 || rc=\$?; echo \"killed run: exit \$rc\"; [ \$rc != 0 ] && [ ! -e \"$WORK/kill.h5\" ] &&
  \"$LR\" run --out \"$WORK/kill.h5\" --no-eval --resume --quiet && \"$PY\" - \"$WORK/demo-run.h5\" \"$WORK/kill.h5\" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, 'r')['train/log/loss'][:] for p in sys.argv[1:3])
assert len(a) == len(b) and len(a) > 3, (len(a), len(b))
rel = np.abs(a - b) / np.maximum(1.0, np.abs(a))
print('resumed vs uninterrupted: %d steps, max relative loss difference %.3g' % (len(a), rel.max()))
assert rel.max() <= 1e-5
PY"
# SPEC §6 at the paper's shapes: 1.5B-shaped expert, 0.5B-shaped amateur, random bf16
# (--local: the demo pair and a few problems, to check the command lines)
EXP=data/demo/expert AMA=data/demo/amateur
if [ $MODE = device ]; then
  EXP=$WORK/m1p5b AMA=$WORK/m0p5b
  # the GPU check, run just before on the same (still warm) machine, made the same 1.5B-shaped model:
  # reused when its stage passed (device time is the scarce thing), else made here
  GC=${LR_GPU_WORK:-/tmp/lr_gpu_check}
  MAKE_EXP="python3 bench/make_model_bf16.py \"$EXP\" --shape 1.5b &&"
  if grep -q "^make_model_1p5b	pass" "$GC/files/stages.tsv" 2>/dev/null && [ -f "$GC/m1p5b/config.json" ]; then
    EXP=$GC/m1p5b MAKE_EXP=""
    echo "1.5B-shaped expert: the GPU check's ($EXP)" >> "$LOG"
  fi
  stage make_models 90 bash -c "$MAKE_EXP python3 bench/make_model_bf16.py \"$AMA\" --shape 0.5b"
fi
# --batch 128: problems per chunk = sequences decoded together (the default 8 suits CPUs; on a GPU a
# decode step of 8 rows costs nearly what one of 128 does)
P=(--expert "$EXP" --amateur "$AMA" --problems data/benchmarks/gsm8k/test.jsonl --max-problems "$NPROB"
   --max-new-tokens 128 --batch 128 --quiet)
stage sample_paper 300 "$LR" sample "${P[@]}" --out "$WORK/sample.h5"
# the pipeline: every finite step selected (random weights rarely pass beta), STEPS steps of 16, first
# with trace packing (one forward/backward per trace: ~10x fewer tokens per supervised position), the
# configuration the paper-scale target (1000 steps in 3 minutes) is within reach of; then the same with
# the trainer's bf16 frozen weights (LR_TRAIN_WEIGHTS=bf16: split bf16 tensor-core GEMMs); then per
# sample (what the budget leaves)
stage run_paper_pack 400 "$LR" run "${P[@]}" --select all --max-steps "$STEPS" --no-eval --pack traces \
  --out "$WORK/run_pack.h5"
stage run_paper_pack_bf16w 400 env LR_TRAIN_WEIGHTS=bf16 "$LR" run "${P[@]}" --select all --max-steps "$STEPS" \
  --no-eval --pack traces --out "$WORK/run_pack_bf16w.h5"
stage run_paper 400 "$LR" run "${P[@]}" --select all --max-steps "$STEPS" --no-eval --out "$WORK/run.h5"

report
cat "$OUTDIR/e2e.md"
exit $FAILED
