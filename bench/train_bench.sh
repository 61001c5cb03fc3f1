#!/usr/bin/env bash
# LoRA training step: ours vs PyTorch + peft, side by side on the same
# machine and thread count (SPEC §6, issues 5 and 16; bench/TRAIN.md).
#   bash bench/train_bench.sh [--threads N] [--repeats R] [--quick]
#     micro-batch 8 x 256 tokens, loss at the last position; writes bench/TRAIN_RESULTS.md
#   bash bench/train_bench.sh --pack [--threads N] [--repeats R] [--quick]
#     16 samples of the paper's lengths (traces of a 128-token prompt + 128
#     generated tokens, selected steps spread over the reply): ours per sample,
#     ours `--pack traces` (2 traces x 8 and 1 trace x 16), PyTorch + peft per
#     sample, in supervised positions per second, with the sgemm peak of the
#     same run; writes bench/TRAIN_PACK_RESULTS.md
# --quick: the tiny model and short traces (seconds): a smoke test of the
# harness; writes under $LR_BENCH_DIR (default /tmp/lr-bench) instead.
# Model: bench/make_model.py (Qwen2.5-0.5B-shaped, random weights, fp32),
# LoRA q_proj/v_proj r 8, one optimizer step (forward, loss, backward, clip, AdamW).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CMDLINE="bash bench/train_bench.sh $*"
THREADS=$(nproc)
REPEATS=2
QUICK=0
PACK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --pack) PACK=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
DIR=${LR_BENCH_DIR:-/tmp/lr-bench}
BUILD=${LR_BENCH_BUILD:-$ROOT/build-bench}
PY=$ROOT/tests/reference/.venv/bin/python
[ -x "$PY" ] || PY=python3
mkdir -p "$DIR"
if [ "$QUICK" = 1 ]; then MODEL=$DIR/tiny; "$PY" "$ROOT/bench/make_model.py" "$MODEL" --tiny; SEQ=64; PL=24; GL=32
  SHAPE="tiny (2-layer) smoke-test"; RESULTS=$DIR/TRAIN_RESULTS-quick.md
  PACK_RESULTS=$DIR/TRAIN_PACK_RESULTS-quick.md
else MODEL=$DIR/qwen2.5-0.5b-rand; "$PY" "$ROOT/bench/make_model.py" "$MODEL"; SEQ=256; PL=128; GL=128
  SHAPE="Qwen2.5-0.5B-shaped"; RESULTS=$ROOT/bench/TRAIN_RESULTS.md; PACK_RESULTS=$ROOT/bench/TRAIN_PACK_RESULTS.md; fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF > "$DIR/train_cmake.log"
cmake --build "$BUILD" -j 2 --target bench_train bench_sgemm >> "$DIR/train_cmake.log"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
common="--micro-batch 8 --repeats $REPEATS --warmup 1 --threads $THREADS"

if [ "$PACK" = 0 ]; then
  OUT=$DIR/train_results.jsonl
  : > "$OUT"
  common="$common --seq-len $SEQ"
  "$BUILD/bench/bench_train" --model "$MODEL" $common >> "$OUT"
  "$PY" "$ROOT/bench/train_bench.py" --model "$MODEL" $common 2>/dev/null >> "$OUT"
  "$BUILD/bench/bench_train" --model "$MODEL" $common --recompute 1 >> "$OUT"
  "$PY" "$ROOT/bench/train_bench.py" --model "$MODEL" $common --logits-to-keep 1 2>/dev/null >> "$OUT"
  "$PY" "$ROOT/bench/train_report.py" stream "$OUT" "$RESULTS" "$THREADS" "$(uname -n)" "$SHAPE"
  exit 0
fi

OUT=$DIR/train_pack_results.jsonl
: > "$OUT"
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$QUICK" = 1 ]; then "$BUILD/bench/bench_sgemm" --threads "$THREADS" --quick 1 --repeats 2 >> "$OUT"
else "$BUILD/bench/bench_sgemm" --threads "$THREADS" --repeats 3 >> "$OUT"; fi
common="$common --samples traces --n-samples 16 --prompt-len $PL --gen-len $GL"
# in this order, each its own process: ours per sample, theirs, ours packed
"$BUILD/bench/bench_train" --model "$MODEL" $common --traces 2 >> "$OUT"
"$PY" "$ROOT/bench/train_bench.py" --model "$MODEL" $common --traces 2 2>"$DIR/train_pack_torch.log" >> "$OUT" \
  || { tail -20 "$DIR/train_pack_torch.log" >&2; exit 1; }
"$BUILD/bench/bench_train" --model "$MODEL" $common --traces 2 --pack 1 >> "$OUT"
"$BUILD/bench/bench_train" --model "$MODEL" $common --traces 1 --pack 1 >> "$OUT"
WALL=$(( $(date +%s) - T0 ))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
CPU="$(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs online)"
"$PY" - "$DIR/train_pack_meta.json" "$CMDLINE" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$CPU" "$THREADS" "$MODEL" \
  "$SHAPE" "$LOAD0" "$LOAD1" "Bench wall time $WALL s (build and model excluded). ${LR_BENCH_NOTE:-}" <<'PY'
import json, sys
keys = ["command", "date", "cpu", "threads", "model", "shape", "load_start", "load_end", "note"]
json.dump(dict(zip(keys, sys.argv[2:])), open(sys.argv[1], "w"))
PY
"$PY" "$ROOT/bench/train_report.py" pack "$OUT" "$PACK_RESULTS" "$DIR/train_pack_meta.json"
