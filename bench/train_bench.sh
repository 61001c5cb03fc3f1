#!/usr/bin/env bash
# LoRA training step: ours vs PyTorch + peft, side by side on the same
# machine and thread count (SPEC §6, issue 5). Writes bench/TRAIN_RESULTS.md.
#   bash bench/train_bench.sh [--threads N] [--repeats R] [--quick]
# Model: bench/make_model.py (Qwen2.5-0.5B-shaped, random weights, fp32),
# micro-batch 8 x 256 tokens, LoRA q_proj/v_proj r 8, one optimizer step
# (forward, loss at the last position, backward, clip, AdamW).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
THREADS=$(nproc)
REPEATS=2
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
DIR=${LR_BENCH_DIR:-/tmp/lr-bench}
BUILD=${LR_BENCH_BUILD:-$ROOT/build-bench}
mkdir -p "$DIR"
if [ "$QUICK" = 1 ]; then MODEL=$DIR/tiny; python3 "$ROOT/bench/make_model.py" "$MODEL" --tiny; SEQ=64
  SHAPE="tiny (2-layer) smoke-test"; RESULTS=$ROOT/bench/TRAIN_RESULTS-quick.md
else MODEL=$DIR/qwen2.5-0.5b-rand; python3 "$ROOT/bench/make_model.py" "$MODEL"; SEQ=256
  SHAPE="Qwen2.5-0.5B-shaped"; RESULTS=$ROOT/bench/TRAIN_RESULTS.md; fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF > "$DIR/train_cmake.log"
cmake --build "$BUILD" -j 2 --target bench_train >> "$DIR/train_cmake.log"
OUT=$DIR/train_results.jsonl
: > "$OUT"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
common="--micro-batch 8 --seq-len $SEQ --repeats $REPEATS --warmup 1 --threads $THREADS"
"$BUILD/bench/bench_train" --model "$MODEL" $common >> "$OUT"
python3 "$ROOT/bench/train_bench.py" --model "$MODEL" $common 2>/dev/null >> "$OUT"
"$BUILD/bench/bench_train" --model "$MODEL" $common --recompute 1 >> "$OUT"
python3 "$ROOT/bench/train_bench.py" --model "$MODEL" $common --logits-to-keep 1 2>/dev/null >> "$OUT"
python3 - "$OUT" "$RESULTS" "$THREADS" "$(uname -n)" "$SHAPE" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["side"], r["scenario"]): r for r in rows}
ref = by[("torch+peft", "train")]
out = ["# LoRA training step: ours vs PyTorch + peft", "",
       f"Machine `{sys.argv[4]}`, {sys.argv[3]} threads both sides; {sys.argv[5]} fp32 model, micro-batch "
       f"{ref['micro_batch']} x {ref['seq_len']} tokens, LoRA q_proj/v_proj r 8, one optimizer step "
       "(median of the repeats after one warm-up). Reference = how the LightReasoner reference trains "
       "(HF computes logits at every position; the loss reads the last one).", "",
       "| side | variant | step s (wall) | step CPU s | tokens/s | peak RSS MB | speed-up vs reference (wall / CPU) | RSS vs reference |",
       "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for r in rows:
    out.append(f"| {r['side']} | {r['scenario']} | {r['step_s']:.2f} | {r['step_cpu_s']:.2f} | {r['tokens_per_s']:.1f} | "
               f"{r['peak_rss_mb']:.0f} | {ref['step_s'] / r['step_s']:.2f}x / {ref['step_cpu_s'] / r['step_cpu_s']:.2f}x | "
               f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.2f} |")
out += ["", "CPU s = process CPU time of the step (all threads): on a shared machine it is less sensitive to other "
        "load than wall time. The runs are interleaved (ours, theirs, ours, theirs) so both sides see similar load."]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
