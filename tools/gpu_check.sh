#!/usr/bin/env bash
# One-command GPU check (issue 15 items 5-6; docs/model.md "GPU check").
#
#   bash tools/gpu_check.sh            on a lent H100/H200 (the device `run` tool,
#                                      timeout_s 540): build, kernel tests, SPEC §5
#                                      numerics contract, performance vs HF bf16
#   bash tools/gpu_check.sh --pack     here: copy this machine's cJSON (header +
#                                      .so, ~60 KB) into build-gpu-carry/ for the
#                                      device run to carry (the GPU machines lack it)
#   bash tools/gpu_check.sh --dry-run  here, without a GPU: --pack, the same build,
#                                      "no CUDA device" handled, the harness checked
#                                      on the CPU (ctest test_gpu_check_dry_run)
# Options: --out DIR (default $OUT, else gpu-check-out), --build DIR (default
# build-gpu-check), --budget SECONDS (default 520: every stage gets at most
# what is left, so a 540 s timeout still ends with a report).
#
# Every stage's status goes to stages.tsv and its output to <stage>.log in a
# work folder; a failed stage does not stop the later ones. After every stage
# OUT gets the five files a device run brings back (at most 8 come back):
# gpu_check.md and gpu_check.json (the report), perf_profile.md and
# train_profile.md (per-op times of the perf stage's passes and the train
# stage's LoRA step) and files.tar.gz (every stage's log and JSON).
# Exit 0 only when every stage ran and none failed or timed out (1: a stage
# failed; 3: none failed, but the budget ran out before a gating stage:
# INCOMPLETE, not a pass).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
DRY=0 PACK_ONLY=0 OUTDIR=${OUT:-$ROOT/gpu-check-out} BUILD=$ROOT/build-gpu-check BUDGET=520
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY=1 ;;
    --pack) PACK_ONLY=1 ;;
    --out) OUTDIR=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    *) echo "usage: bash tools/gpu_check.sh [--dry-run|--pack] [--out DIR] [--build DIR] [--budget S]" >&2; exit 2 ;;
  esac
  shift
done
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
log() { echo "[gpu_check +$(elapsed)s] $*"; }
CARRY=$ROOT/build-gpu-carry

# ---- --pack: this machine's cJSON, for machines without it
pack() {
  local dst=${1:-$CARRY}/cjson hdr lib
  hdr=$(ls /usr/include/cjson/cJSON.h 2>/dev/null | head -1)
  lib=$(ls /usr/lib/*/libcjson.so.1* /usr/lib/libcjson.so.1* /usr/lib64/libcjson.so.1* 2>/dev/null | grep -v utils | head -1)
  if [ -z "$hdr" ] || [ -z "$lib" ]; then echo "pack: cJSON not found here (apt-get install libcjson-dev)" >&2; return 1; fi
  mkdir -p "$dst/include/cjson" "$dst/lib"
  cp "$hdr" "$dst/include/cjson/"
  cp -L "$lib" "$dst/lib/libcjson.so.1"
  echo "pack: cJSON -> $dst ($(du -sk "$dst" | cut -f1) KiB)"
}
if [ $PACK_ONLY = 1 ]; then pack; exit $?; fi

mkdir -p "$OUTDIR" || exit 2
DEST=$OUTDIR
WORK=${LR_GPU_WORK:-/tmp/lr_gpu_check}
[ $DRY = 1 ] && WORK=$BUILD/work
OUTDIR=$WORK/files # the stages' logs and JSON; DEST gets the report and a tarball of these
rm -rf "$OUTDIR"
mkdir -p "$WORK" "$OUTDIR"
: > "$OUTDIR/stages.tsv"
FAILED=0 INCOMPLETE=0

publish() {
  local f
  for f in gpu_check.md gpu_check.json perf_profile.md train_profile.md; do [ -e "$OUTDIR/$f" ] && cp "$OUTDIR/$f" "$DEST/"; done
  tar -czf "$DEST/files.tar.gz.tmp" -C "$OUTDIR" . 2>/dev/null && mv "$DEST/files.tar.gz.tmp" "$DEST/files.tar.gz"
}
report() { python3 "$ROOT/tools/gpu_check/report.py" "$OUTDIR" >/dev/null 2>&1 || true; publish; }

# Stages run with whatever time is left: a timeout there is "cut", not a failure.
BEST_EFFORT="memcheck racecheck"
best_effort() { [[ " $BEST_EFFORT " == *" $1 "* ]]; }
# stage NAME CAP_SECONDS OK_CODES CMD...: runs CMD with at most
# min(CAP, budget left) seconds; OK_CODES is a comma list of exit codes that
# count as a pass (77 = "skip": recorded as skip).
stage() {
  local name=$1 cap=$2 ok=$3; shift 3
  local left=$(( BUDGET - $(elapsed) )) t0 rc status note=""
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 5 ]; then # out of time: fine for a best-effort stage, a hole in the check for another
    if best_effort "$name"; then status=skip; else status=incomplete; INCOMPLETE=1; fi
    printf '%s\t%s\t0\tout of time\n' "$name" "$status" >> "$OUTDIR/stages.tsv"
    log "$name: $status (out of time)"; report; return 0
  fi
  log "$name: start (limit ${cap}s)"
  t0=$(date +%s%N)
  # through bash -c so that the exported shell functions (probe, build, pack) run too
  timeout -k 5 "$cap" bash -c '"$@"' _ "$@" > "$OUTDIR/$name.log" 2>&1
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 )) secs
  secs="$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  if { [ $rc = 124 ] || [ $rc = 137 ]; } && best_effort "$name"; then
    status=cut; note="stopped after ${cap}s (run with the time left): not gating"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout; note="over ${cap}s"
  elif [ $rc = 77 ] && [[ ",$ok," == *",77,"* ]]; then status=skip; note=$(tail -1 "$OUTDIR/$name.log")
  elif [[ ",$ok," == *",$rc,"* ]]; then status=pass; [ $rc != 0 ] && note="exit $rc: an experimental mode, recorded, not gating"
  else status=fail; note="exit $rc"
  fi
  [ $status = fail ] || [ $status = timeout ] && FAILED=1
  note=${note//$'\t'/ }
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$note" >> "$OUTDIR/stages.tsv"
  log "$name: $status ${note:+($note)}"
  if [ $status != pass ]; then tail -15 "$OUTDIR/$name.log" | sed "s/^/    [$name] /"; fi
  report
  return 0
}

# The default-on pieces not yet run on a GPU, all off: the kernels and launch
# path of the last passing device run (docs/model.md, the switches table).
SAFE_ENV=(LR_CUDA_GRAPHS=0 LR_CUDA_FUSED_BF16=0 LR_CUDA_META_DEDUP=0 LR_CUDA_ROPE_KV=0 LR_CUDA_SAMPLE=0
  LR_CUDA_ATTENTION=nodecode LR_CUDA_GEMV=0)
# stage_or_safe NAME CAP OK_CODES CMD...: the stage; if it fails or times out,
# again as NAME_safe with SAFE_ENV (the failure still counts): a fault in a new
# piece then still leaves the stage's numbers, and says which side it is on.
stage_or_safe() {
  local name=$1 cap=$2 ok=$3; shift 3
  stage "$name" "$cap" "$ok" "$@"
  case $(tail -1 "$OUTDIR/stages.tsv" | cut -f2) in
    fail|timeout)
      local args=("${@//\/$name.json/\/${name}_safe.json}") # its own JSON and profile beside the failed one's
      stage "${name}_safe" "$cap" "$ok" env "${SAFE_ENV[@]}" "${args[@]//perf_profile.md/perf_profile_safe.md}" ;;
  esac
}

probe() {
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  command -v nvcc >/dev/null && nvcc --version | tail -1 || { [ -x /usr/local/cuda/bin/nvcc ] && /usr/local/cuda/bin/nvcc --version | tail -1; }
  cmake --version | head -1
  echo "cores: $(nproc)"
  python3 - <<'PY' 2>&1
import importlib
for m in ("numpy", "torch", "transformers", "safetensors"):
    try:
        mod = importlib.import_module(m)
        extra = ""
        if m == "torch":
            extra = f" cuda={mod.cuda.is_available()}"
        print(f"{m} {getattr(mod, '__version__', '?')}{extra}")
    except Exception as e:
        print(f"{m}: missing ({type(e).__name__})")
PY
  echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
}

build() {
  local cuda=ON extra=()
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || cuda=OFF
  if [ $DRY = 1 ]; then pack "$BUILD/carry" || return 1; extra+=(-DLR_CJSON_DIR="$BUILD/carry/cjson" -DLR_GPU_CHECK_WERROR=ON)
  elif [ ! -e /usr/include/cjson/cJSON.h ] && [ -d "$CARRY/cjson" ]; then extra+=(-DLR_CJSON_DIR="$CARRY/cjson"); fi
  cmake -S "$ROOT/tools/gpu_check" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLR_GPU_CHECK_CUDA=$cuda "${extra[@]}" &&
    cmake --build "$BUILD" -j"$(nproc)"
}

export -f pack probe build
export ROOT DRY BUILD CARRY
T=$BUILD/gpu_test
stage probe 30 0 probe
cat "$OUTDIR/probe.log" > "$OUTDIR/probe.txt" 2>/dev/null
stage build 240 0 build
if [ $DRY = 1 ]; then
  # no GPU here: the CUDA path must say so and skip; the harness itself runs
  # on the CPU (bf16 emulation as the device under test) and must catch a
  # wrong op; the Python helpers must at least compile.
  stage ops_cuda 60 0,77 "$T" ops --json "$OUTDIR/ops_cuda.json"
  stage selfcheck_ops 60 0 "$T" ops --quick --dut cpu-emu --json "$OUTDIR/selfcheck_ops.json"
  stage selfcheck_ops_cpu 60 0 "$T" ops --quick --dut cpu --json "$OUTDIR/selfcheck_ops_cpu.json"
  stage selfcheck_faulty 60 0 bash -c "\"$T\" ops --quick --dut cpu-faulty --json \"$OUTDIR/selfcheck_faulty.json\" >/dev/null; [ \$? = 1 ]"
  stage demo_bf16 60 0 bash -c "python3 tools/gpu_check/to_bf16.py data/demo/expert \"$WORK/demo-bf16/expert\" &&
    python3 tools/gpu_check/to_bf16.py data/demo/amateur \"$WORK/demo-bf16/amateur\""
  stage selfcheck_contract 120 0 "$T" contract --dut cpu-emu --json "$OUTDIR/selfcheck_contract.json" \
    --model data/demo/expert --model "$WORK/demo-bf16/amateur" --seqs 6 --max-len 48
  stage selfcheck_scorer 120 0 "$T" scorer --dut cpu-emu --json "$OUTDIR/selfcheck_scorer.json" \
    --model "$WORK/demo-bf16/expert" --model "$WORK/demo-bf16/amateur" --seqs 32 --max-len 64
  # the trainer harness against the plain CPU trainer (exact), and against a wrong rmsnorm (must fail);
  # the bf16 emulation models bf16 GEMM inputs everywhere, which the CUDA trainer (fp32 weights) does not
  stage selfcheck_train 120 0 "$T" train --dut cpu --json "$OUTDIR/selfcheck_train.json" \
    --model data/demo/expert --steps 5 --perf-model data/demo/expert --profile "$OUTDIR/train_profile.md"
  stage selfcheck_train_profile 10 0 grep -q "^| matmul_dx " "$OUTDIR/train_profile.md"
  stage selfcheck_train_faulty 120 0 bash -c "\"$T\" train --dut cpu-faulty --json \"$OUTDIR/selfcheck_train_faulty.json\" \
    --model data/demo/expert --steps 2 >/dev/null; [ \$? = 1 ]"
  stage selfcheck_perf 60 0 "$T" perf --dut cpu-emu --json "$OUTDIR/selfcheck_perf.json" --model data/demo/expert \
    --score-tokens 512 --decode-steps 4 --profile "$OUTDIR/perf_profile.md"
  stage python_syntax 30 0 python3 -c "import ast,sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]" \
    tools/gpu_check/hf_bench.py tools/gpu_check/report.py tools/gpu_check/to_bf16.py bench/make_model_bf16.py \
    bench/train_bench.py
else
  stage ops 90 0 "$T" ops --json "$OUTDIR/ops.json"
  stage_or_safe contract_demo_f32 60 0 "$T" contract --json "$OUTDIR/contract_demo_f32.json" \
    --model data/demo/expert --model data/demo/amateur
  stage demo_bf16 60 0 bash -c "python3 tools/gpu_check/to_bf16.py data/demo/expert \"$WORK/demo-bf16/expert\" &&
    python3 tools/gpu_check/to_bf16.py data/demo/amateur \"$WORK/demo-bf16/amateur\""
  stage_or_safe contract_demo_bf16 60 0 "$T" contract --json "$OUTDIR/contract_demo_bf16.json" \
    --model "$WORK/demo-bf16/expert" --model "$WORK/demo-bf16/amateur"
  # the scorer on the GPU (ids transport, contrast op) vs on the CPU in fp32
  stage_or_safe scorer_demo_f32 90 0 "$T" scorer --json "$OUTDIR/scorer_demo_f32.json" \
    --model data/demo/expert --model data/demo/amateur --seqs 32 --max-len 64
  stage_or_safe scorer_demo_bf16 90 0 "$T" scorer --json "$OUTDIR/scorer_demo_bf16.json" \
    --model "$WORK/demo-bf16/expert" --model "$WORK/demo-bf16/amateur" --seqs 32 --max-len 64
  # performance: a Qwen2.5-Math-1.5B-shaped random bf16 model (numpy), ours then HF
  if python3 -c "import numpy" 2>/dev/null; then
    # the contract on real head sizes (1.5B: 12:2 heads of 128; 0.5B: 14:2 of 64; 4 layers, vocabulary 8192,
    # so that the CPU reference takes seconds): the decode and tensor-core attention kernels and step graphs
    stage make_models_4l 60 0 bash -c "python3 bench/make_model_bf16.py '$WORK/m1p5b-4l' --shape 1.5b --layers 4 \
      --vocab 8192 && python3 bench/make_model_bf16.py '$WORK/m0p5b-4l' --shape 0.5b --layers 4 --vocab 8192"
    stage_or_safe contract_4l 90 0 "$T" contract --json "$OUTDIR/contract_4l.json" --model "$WORK/m1p5b-4l" \
      --model "$WORK/m0p5b-4l" --seqs 8 --max-len 160
    # again with the tensor-core attention (bf16 q, k, v and probabilities): recorded, not gating, until it passes
    stage contract_4l_tc 90 0,1 env LR_CUDA_ATTENTION=tc "$T" contract --json "$OUTDIR/contract_4l_tc.json" \
      --model "$WORK/m1p5b-4l" --model "$WORK/m0p5b-4l" --seqs 8 --max-len 160
    # ... and with a bf16 KV cache (LR_CUDA_KV=bf16: half the cache and its traffic): recorded, not gating
    stage contract_4l_kvbf16 90 0,1 env LR_CUDA_KV=bf16 "$T" contract --json "$OUTDIR/contract_4l_kvbf16.json" \
      --model "$WORK/m1p5b-4l" --model "$WORK/m0p5b-4l" --seqs 8 --max-len 160
    stage make_model_1p5b 150 0 python3 bench/make_model_bf16.py "$WORK/m1p5b" --shape 1.5b
    stage_or_safe perf 120 0 "$T" perf --json "$OUTDIR/perf.json" --model "$WORK/m1p5b" --profile "$OUTDIR/perf_profile.md"
    stage perf_kvbf16 120 0,1 env LR_CUDA_KV=bf16 "$T" perf --json "$OUTDIR/perf_kvbf16.json" --model "$WORK/m1p5b"
    stage perf_hf 150 0 python3 tools/gpu_check/hf_bench.py --model "$WORK/m1p5b" --json "$OUTDIR/hf.json"
    # issue 16's baseline: one LoRA step of PyTorch + peft in bf16 (16 samples of the paper's
    # lengths in 2 micro-batches, q/v r 8), supervised positions per second
    # issue 16: the LoRA trainer on the GPU vs the CPU fp32 trainer (20 steps on the demo expert),
    # and one 16-sample step of the 1.5B shape (against train_hf below)
    stage train 150 0 "$T" train --json "$OUTDIR/train.json" --model data/demo/expert --steps 20 \
      --perf-model "$WORK/m1p5b" --profile "$OUTDIR/train_profile.md"
    # bf16 frozen weights (LR_TRAIN_WEIGHTS=bf16: each frozen GEMM on bf16 tensor cores twice, the activations
    # split into bf16 halves: fp32-level accuracy), against the CPU fp32 trainer on the bf16 demo expert, and the
    # 1.5B step; then one GEMM on rounded activations (bf16-round: the fastest). Recorded, not gating, until passed
    stage train_bf16w 150 0,1 env LR_TRAIN_WEIGHTS=bf16 "$T" train --json "$OUTDIR/train_bf16w.json" \
      --model "$WORK/demo-bf16/expert" --steps 20 --perf-model "$WORK/m1p5b" --profile "$OUTDIR/train_bf16w_profile.md"
    stage train_bf16round 150 0,1 env LR_TRAIN_WEIGHTS=bf16-round "$T" train --json "$OUTDIR/train_bf16round.json" \
      --model "$WORK/demo-bf16/expert" --steps 20 --perf-model "$WORK/m1p5b"
    stage train_hf 120 0 bash -c "python3 bench/train_bench.py --model '$WORK/m1p5b' --samples traces \
      --device cuda --dtype bf16 --repeats 5 --warmup 2 > '$OUTDIR/train_hf.json'"
  else
    printf 'perf\tskip\t0\tno numpy: no 1.5B-shaped model\n' >> "$OUTDIR/stages.tsv"
  fi
  # last, with whatever time is left: the kernels under compute-sanitizer
  # (out-of-bounds / misaligned accesses; shared-memory races in attention)
  CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -n "$CS" ]; then
    stage memcheck 90 0 "$CS" --tool memcheck --error-exitcode 3 "$T" ops --quick --json "$OUTDIR/memcheck_ops.json"
    stage racecheck 60 0 "$CS" --tool racecheck --error-exitcode 3 "$T" ops --quick --json "$OUTDIR/racecheck_ops.json"
  else
    printf 'memcheck\tskip\t0\tno compute-sanitizer\n' >> "$OUTDIR/stages.tsv"
  fi
fi
python3 "$ROOT/tools/gpu_check/report.py" "$OUTDIR" || FAILED=1
publish
verdict=PASS rc=0
[ $INCOMPLETE = 1 ] && verdict=INCOMPLETE rc=3
[ $FAILED = 1 ] && verdict=FAIL rc=1
log "done: $verdict (report: $DEST/gpu_check.md)"
exit $rc
