#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, Debian's clang) and runs each one
# in turn, bounded (docs/fuzzing.md):
#   bash tools/fuzz.sh                 # CI: ~10 s per harness (LR_FUZZ_SECONDS)
#   bash tools/fuzz.sh --long          # >= 1M executions per harness (LR_FUZZ_RUNS;
#                                      # LR_FUZZ_SECONDS, when set, caps each harness's time)
#   bash tools/fuzz.sh problems runfile   # only these harnesses
# Seeds and committed regression inputs: fuzz/corpus/<harness>/ (read only);
# what the fuzzer finds goes to build-fuzz/corpus/<harness>/, crashes to
# build-fuzz/artifacts/. Prints one line per harness with the executions and
# libFuzzer's final cov/ft, and exits 1 when any harness crashed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LR_FUZZ_BUILD:-$root/build-fuzz}
long=0
names=()
for a in "$@"; do
    case $a in
    --long) long=1 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) names+=("$a") ;;
    esac
done
all=(safetensors_read safetensors_write model_config tokenizer_json tokenizer_vocab encode_decode problems runfile)
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")

bash "$root/tools/install-deps.sh" # clang, libclang-rt-dev (libFuzzer), libomp-dev among the rest
CC=clang cmake -S "$root" -B "$build" -DLR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

# one thread each: the harnesses are single-threaded, the machine is shared
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
mkdir -p "$build/artifacts"
failed=0
for h in "${names[@]}"; do
    bin="$build/fuzz/fuzz_$h"
    [ -x "$bin" ] || { echo "fuzz: no harness '$h' (have: ${all[*]})" >&2; exit 2; }
    work="$build/corpus/$h"
    mkdir -p "$work"
    if [ $long = 1 ]; then
        limit=(-runs="${LR_FUZZ_RUNS:-1000000}")
        [ -n "${LR_FUZZ_SECONDS:-}" ] && limit+=(-max_total_time="$LR_FUZZ_SECONDS")
    else
        limit=(-max_total_time="${LR_FUZZ_SECONDS:-10}")
    fi
    log="$build/artifacts/$h.log"
    t0=$(date +%s)
    set +e
    "$bin" "${limit[@]}" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$h-" "$work" "$root/fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    set -e
    secs=$(($(date +%s) - t0))
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ..."
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' || true)
    if [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz_$h: FAILED (exit $rc) after ${runs:-?} executions; see $log" >&2
        grep -E 'ERROR|SUMMARY|Test unit written|deadly signal|abort' "$log" | head -n 5 >&2 || true
    else
        echo "fuzz_$h: ${runs:-?} executions in ${secs} s, $(sed -E 's/^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+//' <<<"$last")"
    fi
done
exit $failed
