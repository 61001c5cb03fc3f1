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
#                                    OpenBLAS, ...) into build-gpu-carry/e2e.tar.xz
#   bash tools/gpu_e2e.sh --local    here: unpack the bundle and run its CPU smoke
#                                    stages (the bundle is self-contained: Open MPI
#                                    finds its plugins under the bundle, not /usr)
#   bash tools/gpu_e2e.sh            on the device (`run` tool, carry
#                                    ["build-gpu-carry"]): every stage below
# Options: --out DIR (default $OUT, else gpu-e2e-out), --budget SECONDS (default
# 500; each stage gets at most what is left), --problems N (default 1000),
# --steps N (training steps of the timed `run`, default 100: the paper's 1000
# take ~10x as long, the report extrapolates and says so).
# Writes e2e.md and e2e.json to the output folder; exit 0 only when every
# stage passed.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
MODE=device OUTDIR=${OUT:-$ROOT/gpu-e2e-out} BUDGET=500 NPROB=1000 STEPS=100
while [ $# -gt 0 ]; do
  case $1 in
    --pack) MODE=pack ;;
    --local) MODE=local ;;
    --out) OUTDIR=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --problems) NPROB=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    *) echo "usage: bash tools/gpu_e2e.sh [--pack|--local] [--out DIR] [--budget S] [--problems N] [--steps N]" >&2
       exit 2 ;;
  esac
  shift
done
TARBALL=$ROOT/build-gpu-carry/e2e.tar.xz
ARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# ---- --pack: the binary and the closure of what it and Open MPI's plugins load
if [ $MODE = pack ]; then
  set -e
  B=$ROOT/build-gpu-e2e
  cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_CUDA_RUNTIME_LIBRARY=Static >/dev/null
  cmake --build "$B" -j"$(nproc)" --target lightreasoner >/dev/null
  S=$(mktemp -d)/e2e
  mkdir -p "$S/bin" "$S/lib"
  cp "$B/lightreasoner" "$S/bin/"
  ompi=/usr/lib/$ARCH/openmpi pmix=/usr/lib/$ARCH/pmix2
  mkdir -p "$S/usr/lib/$ARCH" "$S/usr/share"
  cp -a "$ompi" "$S/usr/lib/$ARCH/"
  [ -d "$pmix" ] && cp -a "$pmix" "$S/usr/lib/$ARCH/"
  cp -a /usr/share/openmpi "$S/usr/share/"
  # a singleton MPI_Init may start an orted from the (relocated) prefix
  mkdir -p "$S/usr/bin" && cp -L "$(command -v orted)" "$S/usr/bin/"
  [ -d /usr/share/pmix ] && cp -a /usr/share/pmix "$S/usr/share/"
  # every shared library these load, but glibc's own and CUDA's (the device has its driver and toolkit)
  { ldd "$B/lightreasoner"; ldd "$S/usr/bin/orted"; find "$S/usr" -name '*.so*' -type f -exec ldd {} \; 2>/dev/null; } |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux-x86-64)\.so|/libcuda\.so|/libcublas|/libcudart|/libnvidia' |
    while read -r f; do cp -L "$f" "$S/lib/"; done
  rm -rf "$S/usr/lib/$ARCH/openmpi/include"
  mkdir -p "$(dirname "$TARBALL")"
  tar -C "$(dirname "$S")" -cf - e2e | xz -T0 -6 > "$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$(dirname "$S")"
  echo "pack: $(du -h "$TARBALL" | cut -f1) -> $TARBALL ($(git rev-parse --short=12 HEAD))"
  exit 0
fi

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
mkdir -p "$OUTDIR" || exit 2
WORK=${LR_E2E_WORK:-/tmp/lr_e2e}
rm -rf "$WORK"; mkdir -p "$WORK"
LOG=$OUTDIR/e2e.log RES=$WORK/results.tsv
: > "$LOG"; : > "$RES"
FAILED=0
# stage NAME CAP CMD...: runs CMD with at most min(CAP, budget left) seconds
stage() {
  local name=$1 cap=$2; shift 2
  local left=$(( BUDGET - $(elapsed) )) t0 rc status
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 5 ]; then printf '%s\tskip\t0\n' "$name" >> "$RES"; return 0; fi
  echo "== $name (limit ${cap}s)" >> "$LOG"
  t0=$(date +%s%N)
  timeout -k 5 "$cap" bash -c '"$@"' _ "$@" >> "$LOG" 2>&1
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout; elif [ $rc = 0 ]; then status=pass; else status="fail($rc)"; fi
  [ $status = pass ] || FAILED=1
  printf '%s\t%s\t%s.%03d\n' "$name" "$status" $((ms / 1000)) $((ms % 1000)) >> "$RES"
  echo "[gpu_e2e +$(elapsed)s] $name: $status" >&2
}

[ -f "$TARBALL" ] || { echo "gpu_e2e: $TARBALL missing (bash tools/gpu_e2e.sh --pack here)" >&2; exit 2; }
xz -dc "$TARBALL" | tar -C "$WORK" -xf - || exit 2
E=$WORK/e2e
# the wrapper every stage calls: Open MPI relocated into the bundle, its
# libraries first, then CUDA's from the device image
cat > "$WORK/lr" <<EOF
#!/bin/sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PATH=$E/usr/bin:\$PATH
export OPAL_PREFIX=$E/usr PMIX_INSTALL_PREFIX=$E/usr/lib/$ARCH/pmix2
export LD_LIBRARY_PATH=$E/lib:$E/usr/lib/$ARCH/openmpi/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
exec $E/bin/lightreasoner "\$@"
EOF
chmod +x "$WORK/lr"
LR=$WORK/lr
# a python with h5py: the device image's python3, or Debian's python3-h5py here
PY=python3
for p in python3 /usr/bin/python3; do "$p" -c "import h5py" 2>/dev/null && { PY=$p; break; }; done
export LR_BIN=$LR OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
DEV=cuda
[ $MODE = local ] && DEV=cpu
export LR_DEVICE=$DEV

stage version 30 bash -c "\"$LR\" --version && LD_DEBUG=libs \"$LR\" --version 2>&1 | grep -c 'calling init: $E' "
# Open MPI (a singleton MPI_Init, forced by LR_MPI=1) must load its components from the bundle, never from /usr
T=$ROOT/tests/data/sample
stage bundle_self_contained 60 bash -c "LR_MPI=1 LD_DEBUG=files \"$LR\" sample --expert $T/expert --amateur $T/amateur \
  --problems $T/problems.jsonl --max-new-tokens 8 --max-problems 2 --quiet --out $WORK/tiny.h5 2> $WORK/ld.log &&
  grep -c 'file=$E/usr/lib/$ARCH/openmpi/lib/openmpi3/mca_' $WORK/ld.log &&
  ! grep 'file=/usr/lib/$ARCH/openmpi\|file=/lib/$ARCH/lib\(mpi\|hdf5\|openblas\)' $WORK/ld.log"
# the run file of `sample` on this device through plain h5py (the CPU suite's checks)
stage h5py_sample 120 env LR_TEST_DATA="$ROOT/tests/data" "$PY" tests/test_sample_h5py.py
# the bundled demo pipeline, one process: sampler, scorer and trainer on this device
stage demo_run 240 bash -c "\"$LR\" run --out \"$WORK/demo-run.h5\" --quiet && \"$PY\" - \"$WORK/demo-run.h5\" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], 'r')
assert f.attrs['complete'] == 1, 'run file not complete'
print({k: (v if not hasattr(v, 'shape') else v.shape) for k, v in f.attrs.items() if k in ('n_traces', 'n_steps', 'device')})
for g in ('problems', 'traces', 'divergence', 'samples'):
    assert g in f, g
print('groups:', sorted(f.keys()))
PY"
# SPEC §6 at the paper's shapes: 1.5B-shaped expert, 0.5B-shaped amateur, random bf16
# (--local: the demo pair and a few problems, to check the command lines)
EXP=data/demo/expert AMA=data/demo/amateur
if [ $MODE = device ]; then
  EXP=$WORK/m1p5b AMA=$WORK/m0p5b
  stage make_models 240 bash -c "python3 bench/make_model_bf16.py \"$EXP\" --shape 1.5b &&
    python3 bench/make_model_bf16.py \"$AMA\" --shape 0.5b"
fi
# --batch 128: problems per chunk = sequences decoded together (the default 8 suits CPUs; on a GPU a
# decode step of 8 rows costs nearly what one of 128 does)
P=(--expert "$EXP" --amateur "$AMA" --problems data/benchmarks/gsm8k/test.jsonl --max-problems "$NPROB"
   --max-new-tokens 128 --batch 128 --quiet)
stage sample_paper 300 "$LR" sample "${P[@]}" --out "$WORK/sample.h5"
# the pipeline: every finite step selected (random weights rarely pass beta), STEPS steps of 16
stage run_paper 400 "$LR" run "${P[@]}" --select all --max-steps "$STEPS" --no-eval --out "$WORK/run.h5"
# ... with trace packing (one forward/backward per trace: ~10x fewer tokens per supervised position),
# the configuration the paper-scale target (1000 steps in 3 minutes) is within reach of
stage run_paper_pack 400 "$LR" run "${P[@]}" --select all --max-steps "$STEPS" --no-eval --pack traces \
  --out "$WORK/run_pack.h5"

python3 - "$RES" "$OUTDIR" "$NPROB" "$STEPS" "$MODE" <<'PY'
import json, sys, datetime, subprocess
res, out, nprob, steps, mode = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip() if mode == "device" else "none (--local)"
rep = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "gpu": gpu or "?", "mode": mode,
       "stages": [{"name": n, "status": s, "seconds": float(t)} for n, s, t in rows]}
st = {r["name"]: r for r in rep["stages"]}
if st.get("sample_paper", {}).get("status") == "pass":
    rep["sample_paper"] = {"problems": int(nprob), "seconds": st["sample_paper"]["seconds"], "target_s": 30}
for name in ("run_paper", "run_paper_pack"):
    if st.get(name, {}).get("status") == "pass":
        rep[name] = {"problems": int(nprob), "steps": int(steps), "seconds": st[name]["seconds"],
                     "target_s_for_1000_steps": 180}
json.dump(rep, open(f"{out}/e2e.json", "w"), indent=1)
with open(f"{out}/e2e.md", "w") as f:
    f.write(f"# gpu_e2e ({rep['date']}, GPU: {rep['gpu']})\n\n| stage | status | seconds |\n|---|---|---|\n")
    for r in rep["stages"]:
        f.write(f"| {r['name']} | {r['status']} | {r['seconds']:.1f} |\n")
print(open(f"{out}/e2e.md").read())
PY
cp "$LOG" "$OUTDIR/" 2>/dev/null
exit $FAILED
