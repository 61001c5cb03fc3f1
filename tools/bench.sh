#!/usr/bin/env bash
# One command for the whole bench (bench/README.md): builds the bench programs
# (Release, build-bench/), creates the Qwen2.5-0.5B-shaped random model once,
# measures the machine (sgemm peak, STREAM), runs every scenario ours then
# theirs (PyTorch / HF transformers) in separate processes with the same
# thread count, the bf16 decode estimate, and prints the markdown table.
#
#   bash tools/bench.sh                 # full run, writes bench/RESULTS.md (~15 min on 2 cores)
#   bash tools/bench.sh --quick         # tiny model, tiny shapes: a smoke test of the harness (~1 min)
#   bash tools/bench.sh --threads 4     # thread count for both sides (default: all online CPUs)
#   bash tools/bench.sh --no-build      # use the binaries already in build-bench/
#   bash tools/bench.sh --profile       # also per-op timers of our runtime (bench_opprof), appended to the table
#   bash tools/bench.sh --wait-quiet    # before each program, wait (up to LR_BENCH_QUIET_MAX s, 300) until the CPUs are >= 85% idle
#
# Env: LR_BENCH_DIR (model cache + raw results, default /tmp/lr-bench),
#      LR_BENCH_BUILD (default <repo>/build-bench), LR_BENCH_OUT (markdown
#      file to write; default bench/RESULTS.md, or $LR_BENCH_DIR/RESULTS-quick.md
#      with --quick), LR_BENCH_REPEATS_SCORE (3), LR_BENCH_REPEATS_DECODE (3),
#      LR_BENCH_ATTN (sdpa | eager), LR_BENCH_NOTE (a line for the table header).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=0 build=1 profile=0 quiet=0 threads=$(nproc)
cmdline="bash tools/bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --profile) profile=1 ;;
    --wait-quiet) quiet=1 ;;
    --threads) threads=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done

dir=${LR_BENCH_DIR:-/tmp/lr-bench}
bdir=${LR_BENCH_BUILD:-$root/build-bench}
attn=${LR_BENCH_ATTN:-sdpa}
mkdir -p "$dir/logs"
if [ $quick = 1 ]; then
  model=$dir/tiny; rs=1; rd=1; newtok=16; out=${LR_BENCH_OUT:-$dir/RESULTS-quick.md}
  sgemm_args=(--quick 1 --repeats 2); stream_args=(--mib 64 --repeats 3); bf16_args=(--layers 2 --lm-head 0 --repeats 3)
else
  model=$dir/qwen2.5-0.5b-rand; rs=${LR_BENCH_REPEATS_SCORE:-3}; rd=${LR_BENCH_REPEATS_DECODE:-3}; newtok=128
  out=${LR_BENCH_OUT:-$root/bench/RESULTS.md}
  sgemm_args=(--repeats 5); stream_args=(--mib 256 --repeats 10); bf16_args=(--repeats 5)
fi

# same threads for everyone: OpenMP (ours + torch's intra-op pool), OpenBLAS, MKL
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error

if [ $build = 1 ]; then
  echo "== build ($bdir, Release)" >&2
  if ! cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF >"$dir/logs/cmake.log" 2>&1; then
    # another area's half-written CMake must not stop the bench when a
    # previous configure left a usable build tree
    [ -f "$bdir/Makefile" ] || { cat "$dir/logs/cmake.log" >&2; exit 1; }
    echo "bench.sh: cmake configure failed (see $dir/logs/cmake.log); building with the previous configuration" >&2
  fi
  cmake --build "$bdir" -j"$(nproc)" --target bench_sgemm bench_stream bench_bf16 \
    >"$dir/logs/build.log" 2>&1 || { tail -40 "$dir/logs/build.log" >&2; exit 1; }
  # the runtime's side may not build while the tree is mid-change: the
  # machine and PyTorch columns still come out, ours reads "—"
  cmake --build "$bdir" -j"$(nproc)" --target bench_runtime >"$dir/logs/build_runtime.log" 2>&1 \
    || echo "bench.sh: bench_runtime did not build (see $dir/logs/build_runtime.log); ours is skipped" >&2
  if [ $profile = 1 ]; then
    cmake --build "$bdir" -j"$(nproc)" --target bench_opprof >"$dir/logs/build_opprof.log" 2>&1 \
      || echo "bench.sh: bench_opprof did not build (see $dir/logs/build_opprof.log)" >&2
  fi
fi
bin=$bdir/bench

echo "== model ($model)" >&2
python3 "$root/bench/make_model.py" "$model" $([ $quick = 1 ] && echo --tiny) 2>&1 | grep -v 'Writing model' >&2 || true

tag=$([ $quick = 1 ] && echo -quick || true)
res=$dir/results$tag.jsonl
: >"$res"
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# idle fraction of all CPUs over 2 s, from /proc/stat
idle_frac() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local tot=0 i
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
  echo $(( 100 * (b[4] - a[4] + b[5] - a[5]) / (tot > 0 ? tot : 1) ))
}
idle_log=""
wait_quiet() {
  local t0=$(date +%s) f
  if [ $quiet = 1 ]; then
    while f=$(idle_frac); [ "$f" -lt 85 ] && [ $(( $(date +%s) - t0 )) -lt ${LR_BENCH_QUIET_MAX:-300} ]; do :; done
    echo "   (CPUs ${f}% idle after waiting $(( $(date +%s) - t0 )) s)" >&2
  else
    f=$(idle_frac)
  fi
  idle_log="$idle_log $1 ${f}%,"
}
# run NAME CMD...: one process, its JSON line appended to results, stderr to logs/NAME.log
run() {
  local name=$1; shift
  echo "== $name" >&2
  wait_quiet "$name"
  local t0=$(date +%s)
  if timeout 900 "$@" >>"$res" 2>"$dir/logs/$name.log"; then
    echo "   $(( $(date +%s) - t0 )) s" >&2
  else
    echo "   FAILED (exit $?): $(grep -v Loading "$dir/logs/$name.log" | tail -3)" >&2
  fi
}

run sgemm "$bin/bench_sgemm" --threads "$threads" "${sgemm_args[@]}"
run stream "$bin/bench_stream" --threads "$threads" "${stream_args[@]}"
run torch_sgemm python3 "$root/bench/hf_bench.py" --scenario sgemm --threads "$threads" --repeats 3
common=(--model "$model" --threads "$threads" --warmup 1)
run score_ours "$bin/bench_runtime" "${common[@]}" --scenario score --batch 8 --seq-len 256 --repeats "$rs"
run score_theirs python3 "$root/bench/hf_bench.py" "${common[@]}" --attn "$attn" --scenario score --batch 8 --seq-len 256 --repeats "$rs"
for b in 1 16; do
  dec=(--scenario decode --batch $b --prompt-len 16 --new-tokens $newtok --repeats "$rd")
  run decode_b${b}_ours "$bin/bench_runtime" "${common[@]}" "${dec[@]}"
  run decode_b${b}_theirs python3 "$root/bench/hf_bench.py" "${common[@]}" --attn "$attn" "${dec[@]}"
done
run bf16 "$bin/bench_bf16" --threads "$threads" "${bf16_args[@]}"
run stream_end "$bin/bench_stream" --threads "$threads" "${stream_args[@]}"

mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)
python3 - "$dir/meta$tag.json" <<PY
import json, sys, subprocess
def sh(c):
    try: return subprocess.check_output(c, shell=True, text=True).strip()
    except Exception: return "?"
meta = {
  "command": """$cmdline""".strip(),
  "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
  "cpu": sh("lscpu | sed -n 's/^Model name: *//p' | head -1"),
  "cores": "$(nproc)", "mem_gib": "$mem_gib", "threads": "$threads",
  "env": "OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads",
  "transformers": sh("python3 -c 'import transformers; print(transformers.__version__)'"),
  "commit": sh("git -C '$root' rev-parse --short=12 HEAD") + (" (+ uncommitted changes)" if sh("git -C '$root' status --porcelain") else ""),
  "note": ("""${LR_BENCH_NOTE:-}""" + " Total bench wall time $(( $(date +%s) - t_start )) s; "
           "load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; "
           "CPU idle in the 2 s before each program:${idle_log%,}.").strip(),
}
json.dump(meta, open(sys.argv[1], "w"))
PY
# the second STREAM run is a drift check, not used in the table unless the first one failed
python3 "$root/bench/report.py" "$res" "$dir/meta$tag.json" >"$out"
if [ $profile = 1 ]; then
  # per-op timers: one forward, and 32 decode steps at batch 1 and 16 (after a warm-up)
  prof=$dir/profile$tag.md
  {
    echo "## Where our time goes (bench_opprof: per-op timers around the backend's function pointers)"
    echo
    echo "Separate runs after the table; timers add ~1 µs per op call."
  } >"$prof"
  for args in "--scenario score --batch 8 --seq-len 256" "--scenario decode --batch 1 --new-tokens 32" \
              "--scenario decode --batch 16 --new-tokens 32"; do
    echo "== profile $args" >&2
    wait_quiet "profile"
    timeout 900 "$bin/bench_opprof" "${common[@]}" $args --repeats 1 >/dev/null 2>>"$prof" \
      || echo "   FAILED (see $prof)" >&2
  done
  cat "$prof" >>"$out"
fi
cat "$out"
echo "(written to $out; raw lines in $res, logs in $dir/logs)" >&2
