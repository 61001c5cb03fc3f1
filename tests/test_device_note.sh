#!/usr/bin/env bash
# The program says which device computes: `--version` tells whether CUDA is
# compiled in; a CUDA build notes once, on the first rank, that it found no
# GPU (and computes on the CPU), or names the GPU it computes on, or says it
# computes on the CPU although GPUs exist (--device cpu); --quiet silences
# it; a build without CUDA never mentions it.
set -euo pipefail
: "${LR_BIN:?}" "${LR_TEST_DATA:?}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ver=$("$LR_BIN" --version)
echo "$ver"
model=$LR_TEST_DATA/sample/expert
gen() { "$LR_BIN" generate --model "$model" --prompt "1 + 1 =" --max-new-tokens 2 --threads 1 "$@"; }
gen >/dev/null 2>"$work/err" || fail "generate exited $?"
note='no CUDA GPU at run time: computing on the CPU|computing on CUDA GPU [0-9]+: |CUDA GPU\(s\) found; computing on the CPU'
if grep -q "CUDA: compiled in" <<<"$ver"; then
  [ "$(grep -cE "$note" "$work/err")" = 1 ] || fail "a CUDA build must note its device once: $(cat "$work/err")"
  gen --quiet >/dev/null 2>"$work/q" || fail "generate --quiet exited $?"
  ! grep -qE "$note" "$work/q" || fail "--quiet still notes the device"
  if command -v mpirun >/dev/null; then
    ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe -np 2 "$LR_BIN" eval --model "$model" \
      --benchmark "$LR_TEST_DATA/sample/problems.jsonl" --limit 2 --max-new-tokens 2 --threads 1 \
      --out "$work/e.h5" >/dev/null 2>"$work/mpi" || fail "eval under mpirun exited $?"
    [ "$(grep -cE "$note" "$work/mpi")" = 1 ] || fail "2 ranks: the note must appear once: $(cat "$work/mpi")"
  fi
else
  grep -q "CUDA: not compiled in" <<<"$ver" || fail "--version says nothing about CUDA"
  ! grep -qE "$note" "$work/err" || fail "a build without CUDA mentions a GPU"
fi
echo "test_device_note: ok"
