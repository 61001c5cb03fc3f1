#!/usr/bin/env bash
# Sampling stage vs the reference method (issue 4, SPEC §6), side by side on
# the same models, problems and token budget, same thread count:
#   ours:      lightreasoner sample (one process; --batch 1 and --batch N; mpirun -np 2 = 1 sampler + 1 scorer)
#   reference: bench/sample_reference.py (HF generate + one amateur forward per prefix)
# Prints a markdown table (time per problem, ratio, throughput, bytes sent per trace, peak RSS).
#
#   bash bench/sample_bench.sh [--problems 2] [--max-new-tokens 128] [--expert-layers 24]
#                              [--amateur-layers 6] [--threads 2] [--batch 4] [--no-reference]
#                              [--ref-batch 64] [--skip-batch1] [--ref-problems K] [--reuse-reference]
# Env: LR_BENCH_DIR (models + logs, default /tmp/lr-bench-sample), LR_BIN (default build-sample/lightreasoner)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=2 newtok=128 el=24 al=6 threads=$(nproc) batch=4 ref=1 refbatch=64 single_batch=1 refn=
while [ $# -gt 0 ]; do
  case "$1" in
    --problems) n=$2; shift ;;
    --max-new-tokens) newtok=$2; shift ;;
    --expert-layers) el=$2; shift ;;
    --amateur-layers) al=$2; shift ;;
    --threads) threads=$2; shift ;;
    --batch) batch=$2; shift ;;
    --no-reference) ref=0 ;;
    --ref-batch) refbatch=$2; shift ;;   # prefixes per amateur forward in the reference (memory: B x len x 151936 x 4 bytes)
    --skip-batch1) single_batch=0 ;;
    --ref-problems) refn=$2; shift ;;   # time the (slow) reference on the first K problems only; s/problem compares
    --reuse-reference) ref=2 ;;         # keep $LR_BENCH_DIR/reference.json from an earlier run with the same models
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "sample_bench.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
dir=${LR_BENCH_DIR:-/tmp/lr-bench-sample}
bin=${LR_BIN:-$root/build-sample/lightreasoner}
mkdir -p "$dir/logs"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=$threads TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
python3 "$root/bench/sample_models.py" "$dir/models" --expert-layers "$el" --amateur-layers "$al"
head -n "$n" "${LR_GSM8K:-/work/shared/data/gsm8k/train.jsonl}" > "$dir/problems.jsonl"
M=(--expert "$dir/models/expert" --amateur "$dir/models/amateur" --problems "$dir/problems.jsonl"
   --max-new-tokens "$newtok" --overwrite)

rss() { grep -o 'Maximum resident set size (kbytes): [0-9]*' "$1" | awk '{s+=$NF} END {printf "%.2f", s/1048576}'; }
ours() { # name, extra args...
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -v "$@" > "$dir/logs/$name.log" 2> "$dir/logs/$name.err"
  t1=$(date +%s.%N)
  local secs; secs=$(echo "$t1 - $t0" | bc -l)
  local sent; sent=$(grep -o '[0-9.]* MB sent per trace' "$dir/logs/$name.err" | awk '{print $1}' || true)
  local stage; stage=$(grep -o 'this session: [0-9.]* s' "$dir/logs/$name.err" | awk '{print $3}')
  echo "$name $secs ${stage:-$secs} $(rss "$dir/logs/$name.err") ${sent:--}" >> "$dir/results.txt"
}
: > "$dir/results.txt"
[ $single_batch = 1 ] && ours "ours_batch1" "$bin" sample "${M[@]}" --batch 1 --threads "$threads" --out "$dir/run_b1.h5"
ours "ours_batch$batch" "$bin" sample "${M[@]}" --batch "$batch" --threads "$threads" --out "$dir/run_bn.h5"
if [ "$threads" -ge 2 ]; then
  half=$((threads / 2))
  ours "ours_np2_batch$batch" env OMP_NUM_THREADS=$half mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$bin" sample "${M[@]}" --batch "$batch" --threads "$half" --out "$dir/run_np2.h5"
fi
refn=${refn:-$n}
if [ $ref = 1 ]; then
  t0=$(date +%s.%N)
  /usr/bin/time -v python3 "$root/bench/sample_reference.py" --expert "$dir/models/expert" --amateur "$dir/models/amateur" \
    --problems "$dir/problems.jsonl" --n "$refn" --max-new-tokens "$newtok" --threads "$threads" \
    --batch "$refbatch" --out "$dir/reference.json" > "$dir/logs/reference.log" 2> "$dir/logs/reference.err"
  t1=$(date +%s.%N)
  stage=$(python3 -c "import json; print(json.load(open('$dir/reference.json'))['seconds'])")
  echo "reference $(echo "$t1 - $t0" | bc -l) $stage $(rss "$dir/logs/reference.err") -" >> "$dir/results.txt"
elif [ $ref = 2 ] && [ -f "$dir/reference.json" ]; then
  refn=$(python3 -c "import json; print(json.load(open('$dir/reference.json'))['problems'])")
  stage=$(python3 -c "import json; print(json.load(open('$dir/reference.json'))['seconds'])")
  echo "reference $stage $stage $(rss "$dir/logs/reference.err") -" >> "$dir/results.txt"
fi
gen=$(/usr/bin/python3 -c "
import h5py; f=h5py.File('$dir/run_bn.h5','r'); print(int(f['traces/n_generated'][:].sum()))")
echo
echo "## Sampling stage vs reference ($(date -u +%F), $(nproc) CPUs, $threads threads, $n problems (reference: ${refn:-$n}) x $newtok new tokens,"
echo "expert Qwen2.5-0.5B-shaped with $el layers, amateur $al layers, same vocab 151936, random weights;
reference prefix batch $refbatch)"
echo
echo "| run | wall s (incl. model load) | stage s (excl. load) | s / problem | vs reference (stage) | generated tok/s | peak RSS GiB (sum of ranks) | MB sent / trace |"
echo "|---|---|---|---|---|---|---|---|"
refs=$(awk '$1=="reference"{print $3}' "$dir/results.txt")
[ -n "$refs" ] && refper=$(echo "$refs / $refn" | bc -l)
while read -r name secs stage rssg sent; do
  np=$n; [ "$name" = reference ] && np=$refn
  per=$(echo "$stage / $np" | bc -l)
  ratio="-"
  [ -n "$refs" ] && [ "$name" != reference ] && ratio=$(printf "%.1fx faster" "$(echo "$refper / $per" | bc -l)")
  tps="-"; [ "$name" != reference ] && tps=$(printf "%.1f" "$(echo "$gen / $stage" | bc -l)")
  printf "| %s | %.1f | %.1f | %.2f | %s | %s | %s | %s |\n" "$name" "$secs" "$stage" "$per" "$ratio" "$tps" "$rssg" "$sent"
done < "$dir/results.txt"
[ -f "$dir/reference.json" ] && echo && echo "reference detail: $(python3 -c "
import json; r=json.load(open('$dir/reference.json')); g=sum(p['generate_seconds'] for p in r['per_problem'])
print(f\"HF generate {g:.1f} s of {r['seconds']:.1f} s; per-prefix amateur + contrast {r['seconds']-g:.1f} s\")")"
