#!/usr/bin/env bash
# The speed cost of batch invariance (issue 11): the model runtime of today
# against the runtime just before the batch-invariant kernels landed (its
# M > 1 matmuls went to OpenBLAS sgemm, whose summation order depends on M),
# same machine, same model, same threads, same instruction set, interleaved
# runs (base, ours, ours, base, ...) so that a drifting machine load hits
# both sides alike.
#
#   bash bench/invariance_cost.sh [--isa avx2|avx512] [--rounds N] [--no-build]
#
# Needs the random Qwen2.5-0.5B-shaped model of tools/bench.sh
# ($LR_BENCH_DIR/qwen2.5-0.5b-rand; run tools/bench.sh once to make it).
# Writes bench/INVARIANCE_COST-<isa>.md. Wait for a quiet machine first:
# the comparison is only as good as the load is steady.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
isa=avx2 rounds=2 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --isa) isa=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "invariance_cost.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
# the runtime before the batch-invariant kernels: the last commit of the session
# before them (93c27eb^ itself is a half-committed tree that does not build)
base_commit=${LR_INVARIANCE_BASE:-6d74c08}
dir=${LR_BENCH_DIR:-/tmp/lr-bench}
model=$dir/qwen2.5-0.5b-rand
[ -f "$model/config.json" ] || { echo "invariance_cost.sh: $model missing (run tools/bench.sh once)" >&2; exit 2; }
threads=$(nproc)
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
case $isa in
  avx2) flags="-mavx2 -mfma"; export OPENBLAS_CORETYPE=Haswell ;;
  avx512) flags="-mavx512f -mavx512bw -mavx512vl -mavx2 -mfma"; export OPENBLAS_CORETYPE=SkylakeX ;;
  *) echo "invariance_cost.sh: --isa avx2|avx512" >&2; exit 2 ;;
esac
src_base=$dir/invariance-base-src bld_base=$dir/invariance-base-build-$isa bld_ours=$dir/invariance-ours-build
mkdir -p "$dir/logs"
if [ $build = 1 ]; then
  rm -rf "$src_base"
  git -C "$root" archive --prefix=invariance-base-src/ "$base_commit" | tar -x -C "$dir"
  # the base predates run-time dispatch: build it for the ISA under test
  cmake -S "$src_base" -B "$bld_base" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF -DLR_NATIVE=OFF \
    -DCMAKE_C_FLAGS="$flags" >"$dir/logs/invariance-base-cmake.log" 2>&1
  cmake --build "$bld_base" -j"$threads" --target bench_runtime >"$dir/logs/invariance-base-build.log" 2>&1
  cmake -S "$root" -B "$bld_ours" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF >"$dir/logs/invariance-ours-cmake.log" 2>&1
  cmake --build "$bld_ours" -j"$threads" --target bench_runtime >"$dir/logs/invariance-ours-build.log" 2>&1
fi
export LR_CPU_ISA=$isa
jsonl=$dir/invariance-$isa.jsonl
: >"$jsonl"
run() { # impl scenario args...
  local impl=$1 scen=$2; shift 2
  local bin=$bld_ours/bench/bench_runtime
  [ "$impl" = base ] && bin=$bld_base/bench/bench_runtime
  echo "== $impl $scen $*" >&2
  "$bin" --model "$model" --scenario "$scen" --threads "$threads" --repeats 2 "$@" 2>>"$dir/logs/invariance.log" |
    sed "s/^{/{\"side\": \"$impl\", \"round\": $r, /" >>"$jsonl"
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
for r in $(seq 1 "$rounds"); do
  order="base ours"; [ $((r % 2)) = 0 ] && order="ours base"
  for impl in $order; do run "$impl" score --batch 8 --seq-len 256; done
  for impl in $order; do run "$impl" decode --batch 1; done
  for impl in $order; do run "$impl" decode --batch 16; done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
out=$root/bench/INVARIANCE_COST-$isa.md
/usr/bin/python3 - "$jsonl" "$out" "$isa" "$base_commit" "$(git -C "$root" rev-parse --short=12 HEAD)" "$threads" \
  "$load0" "$load1" "$(( $(date +%s) - t0 ))" <<'EOF'
import json, sys, statistics, datetime
path, out, isa, base, head, threads, l0, l1, wall = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
def key(r): return (r["scenario"], r["batch"])
def metric(r):  # tokens/s: scoring over the whole pass, decode over decode steps only
    return r["tok_s"] if r["scenario"] == "score" else r.get("decode_tok_s", r["tok_s"])
scen = []
for r in rows:
    if key(r) not in scen: scen.append(key(r))
names = {("score", 8): "scoring 8×256 (tokens/s)", ("decode", 1): "decode batch 1, decode steps (tokens/s)",
         ("decode", 16): "decode batch 16, decode steps (tokens/s)"}
with open(out, "w") as f:
    f.write(f"# The speed cost of batch invariance ({isa} path)\n\n")
    f.write(f"- command: `bash bench/invariance_cost.sh --isa {isa}`\n")
    f.write(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; ours = {head}, base = `{base}` "
            "(the runtime just before the batch-invariant kernels: M > 1 matmuls in OpenBLAS sgemm, "
            f"built for {isa}, OPENBLAS_CORETYPE forced to the same ISA)\n")
    f.write(f"- {threads} threads both sides; model: Qwen2.5-0.5B-shaped, random fp32 weights; runs interleaved "
            f"(base/ours order alternating per round), 2 repeats per process after a warm-up; "
            f"load average {l0} at the start, {l1} at the end; wall {wall} s\n\n")
    f.write("| scenario | base (median of runs) | ours (median of runs) | ours/base | within 5%? |\n|---|---|---|---|---|\n")
    for k in scen:
        b = [metric(r) for r in rows if key(r) == k and r["side"] == "base"]
        o = [metric(r) for r in rows if key(r) == k and r["side"] == "ours"]
        if not b or not o: continue
        mb, mo = statistics.median(b), statistics.median(o)
        ratio = mo / mb
        f.write(f"| {names.get(k, k)} | {mb:.2f} ({', '.join(f'{v:.2f}' for v in b)}) | "
                f"{mo:.2f} ({', '.join(f'{v:.2f}' for v in o)}) | {ratio:.3f}× | "
                f"{'✅' if ratio >= 0.95 else '❌'} |\n")
    f.write("\nOurs gives the same bits for any batch, chunking, thread or rank count; the base does not "
            "(its sgemm sums in an order that depends on M and the thread split).\n")
print(open(out).read())
EOF
