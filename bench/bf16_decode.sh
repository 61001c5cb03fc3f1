#!/usr/bin/env bash
# Decode at batch 1 of a Qwen2.5-Math-1.5B-shaped bf16 checkpoint (issue 14
# item 5): our runtime with the weights kept bf16 in memory vs the same
# checkpoint widened to fp32 at load (--weights-f32 1), and HF transformers
# in bf16 and in fp32 beside them; same threads, same token ids, one
# process per run (ru_maxrss is that run's peak). Bandwidth is counted in
# the bytes each side's weights actually have (bf16: 2 bytes/weight) and
# compared with STREAM measured in the same run.
#
#   bash bench/bf16_decode.sh [--new-tokens N] [--repeats R]
#
# The model: python3 bench/make_model_bf16.py $LR_BENCH_DIR/math-1.5b-bf16 --shape 1.5b
# (made here if missing). Needs tests/reference/.venv (torch, transformers).
# Writes bench/BF16_DECODE.md. Run it on a quiet machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
newtok=64 repeats=3
while [ $# -gt 0 ]; do
  case "$1" in
    --new-tokens) newtok=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bf16_decode.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
dir=${LR_BENCH_DIR:-/tmp/lr-bench}
bdir=${LR_BENCH_BUILD:-$root/build-bench}
model=$dir/math-1.5b-bf16
py=$root/tests/reference/.venv/bin/python
[ -x "$py" ] || py=python3
threads=$(nproc)
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
mkdir -p "$dir/logs"
[ -f "$model/config.json" ] || "$py" "$root/bench/make_model_bf16.py" "$model" --shape 1.5b
cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF >"$dir/logs/bf16-cmake.log" 2>&1
cmake --build "$bdir" -j"$threads" --target bench_runtime bench_stream >"$dir/logs/bf16-build.log" 2>&1
jsonl=$dir/bf16_decode.jsonl
: >"$jsonl"
common=(--model "$model" --scenario decode --batch 1 --prompt-len 16 --new-tokens "$newtok" --threads "$threads"
        --repeats "$repeats")
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
"$bdir/bench/bench_stream" --threads "$threads" --mib 256 --repeats 10 >>"$jsonl" 2>>"$dir/logs/bf16.log"
echo "== ours bf16" >&2; "$bdir/bench/bench_runtime" "${common[@]}" 2>>"$dir/logs/bf16.log" | sed 's/^{/{"side": "ours bf16 weights", /' >>"$jsonl"
echo "== ours fp32" >&2; "$bdir/bench/bench_runtime" "${common[@]}" --weights-f32 1 2>>"$dir/logs/bf16.log" | sed 's/^{/{"side": "ours fp32 (widened at load)", /' >>"$jsonl"
echo "== HF bf16" >&2; "$py" "$root/bench/hf_bench.py" "${common[@]}" --dtype bfloat16 2>>"$dir/logs/bf16.log" | sed 's/^{/{"side": "HF transformers bf16", /' >>"$jsonl"
echo "== HF fp32" >&2; "$py" "$root/bench/hf_bench.py" "${common[@]}" --dtype float32 2>>"$dir/logs/bf16.log" | sed 's/^{/{"side": "HF transformers fp32", /' >>"$jsonl"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
torchv=$("$py" -c 'import torch, transformers; print(torch.__version__, transformers.__version__)' 2>/dev/null || echo "?")
/usr/bin/python3 - "$jsonl" "$root/bench/BF16_DECODE.md" "$threads" "$load0" "$load1" "$(( $(date +%s) - t0 ))" \
  "$(git -C "$root" rev-parse --short=12 HEAD)" "$newtok" "$torchv" <<'EOF'
import json, sys, datetime
path, out, threads, l0, l1, wall, head, newtok, torchv = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
stream = max((r.get("copy_gbs", 0) or 0 for r in rows if r.get("bench") == "stream"), default=0)
best_stream = max((max(r.get(k, 0) or 0 for k in ("copy_gbs", "triad_gbs", "read_gbs")) for r in rows
                   if r.get("bench") == "stream"), default=0)
runs = {r["side"]: r for r in rows if "side" in r}
ours16, ours32 = runs.get("ours bf16 weights"), runs.get("ours fp32 (widened at load)")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
with open(out, "w") as f:
    f.write("# Decode at batch 1: a Qwen2.5-Math-1.5B-shaped bf16 checkpoint, bf16 vs fp32 weights, vs HF\n\n")
    f.write(f"- command: `bash bench/bf16_decode.sh --new-tokens {newtok}`; date {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; commit {head}\n")
    f.write(f"- CPU: {cpu}, {threads} threads on every side; torch/transformers {torchv}\n")
    f.write(f"- model: random bf16 weights, Qwen2.5-Math-1.5B shape (bench/make_model_bf16.py --shape 1.5b); "
            f"16-token prompt, {newtok} new tokens, greedy; median of the repeats after a warm-up\n")
    f.write(f"- STREAM copy {stream:.1f} GB/s (best kernel {best_stream:.1f} GB/s) in the same run; "
            f"load average {l0} at the start, {l1} at the end; wall {wall} s\n\n")
    f.write("| side | decode tokens/s | ms/step | GB/s (weights in their own dtype + KV) | % of STREAM copy | peak RSS GB |\n|---|---|---|---|---|---|\n")
    for side, r in runs.items():
        tps = r.get("decode_tok_s", r.get("tok_s", 0))
        ms = 1e3 / tps if tps else 0
        gbs = r.get("gbs")
        pct = f"{100 * gbs / stream:.0f}%" if gbs and stream else ""
        f.write(f"| {side} | {tps:.2f} | {ms:.1f} | {gbs:.1f} | {pct} | {r.get('peak_rss_kb', 0) / 1e6:.2f} |\n"
                if gbs else f"| {side} | {tps:.2f} | {ms:.1f} | | | {r.get('peak_rss_kb', 0) / 1e6:.2f} |\n")
    if ours16 and ours32:
        sp = ours16["decode_tok_s"] / ours32["decode_tok_s"]
        frac = ours16["gbs"] / stream if stream else 0
        f.write(f"\nTargets (issue 14): bf16 ≥ 1.6× the fp32 path: **{sp:.2f}×** {'✅' if sp >= 1.6 else '❌'}; "
                f"≥ 60% of measured bandwidth in bf16 bytes: **{100 * frac:.0f}%** {'✅' if frac >= 0.6 else '❌'}.\n")
        for k in ("HF transformers bf16", "HF transformers fp32"):
            if k in runs:
                f.write(f"- ours bf16 / {k}: {ours16['decode_tok_s'] / runs[k]['decode_tok_s']:.2f}×\n")
print(open(out).read())
EOF
