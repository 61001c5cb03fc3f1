#!/usr/bin/env bash
# --device cpu|cuda|auto (and LR_DEVICE, and `device:` in --config) on the
# commands that compute:
# cpu computes on the CPU; auto computes on the CPU here unless a GPU is
# usable; cuda without a usable GPU (or without CUDA compiled in) exits 2
# naming the reason (`train` too: it trains on the GPU where there is one);
# an unknown name exits 2; commands that do not compute refuse the flag.
set -euo pipefail
: "${LR_BIN:?}" "${LR_TEST_DATA:?}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$LR_TEST_DATA/sample/expert
gen() { "$LR_BIN" generate --model "$model" --prompt "1 + 1 =" --max-new-tokens 2 --threads 1 "$@"; }
expect2() { # expect2 PATTERN CMD...: exit 2 with PATTERN on stderr
  local pat=$1 rc=0; shift
  "$@" >/dev/null 2>"$work/e" || rc=$?
  [ $rc = 2 ] || fail "$* exited $rc, want 2: $(cat "$work/e")"
  grep -qE -e "$pat" "$work/e" || fail "$*: message lacks /$pat/: $(cat "$work/e")"
}
gen --device cpu > "$work/cpu.txt" 2>"$work/cpu.err" || fail "--device cpu exited $?"
gen --device auto > "$work/auto.txt" 2>"$work/auto.err" || fail "--device auto exited $?"
gen > "$work/def.txt" 2>/dev/null || fail "default device exited $?"
cmp -s "$work/cpu.txt" "$work/def.txt" || fail "the default (auto) differs from cpu without a GPU"
gpu=0
if "$LR_BIN" --version | grep -q "CUDA: compiled in" && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi
if [ $gpu = 0 ]; then
  cmp -s "$work/cpu.txt" "$work/auto.txt" || fail "auto must compute on the CPU here"
  expect2 "--device cuda: (this build has no CUDA backend|no usable CUDA GPU)" gen --device cuda
  LR_DEVICE=cuda expect2 "LR_DEVICE: --device cuda" gen
  expect2 "--device cuda" "$LR_BIN" train --device cuda
else
  echo "a GPU is usable here: the no-GPU refusals are not checked"
fi
expect2 "--device must be cpu, cuda or auto, got 'tpu'" gen --device tpu
LR_DEVICE=tpu expect2 "LR_DEVICE: --device must be" gen
gen --device cpu >/dev/null 2>&1 </dev/null || fail "--device cpu must override LR_DEVICE"
LR_DEVICE=cuda gen --device cpu >/dev/null 2>&1 || fail "the command line must win over LR_DEVICE=cuda"
printf 'device: tpu\n' > "$work/bad.yaml"
expect2 "--config: --device must be" gen --config "$work/bad.yaml"
printf 'device: cpu\n' > "$work/cpu.yaml"
gen --config "$work/cpu.yaml" >/dev/null 2>&1 || fail "device: cpu in --config"
LR_DEVICE=tpu expect2 "LR_DEVICE: --device must be" gen --config "$work/cpu.yaml" # the environment wins over --config
expect2 "unknown option '--device'" "$LR_BIN" tokenize --device cpu
"$LR_BIN" generate --help | grep -q -- "--device cpu|cuda|auto" || fail "generate --help lacks --device"
for cmd in logprobs sample eval run train; do
  "$LR_BIN" $cmd --help | grep -q -- "--device cpu|cuda|auto" || fail "$cmd --help lacks --device"
done
echo "test_device_choice: ok"
