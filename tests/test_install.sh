#!/usr/bin/env bash
# `cmake --install` into a fresh prefix, then, from /, with no LR_DATA_DIR:
#   1. the installed binary runs a short demo and reads the INSTALLED demo
#      and benchmarks (not the source tree's);
#   2. `eval --benchmark gsm8k` resolves the installed bundled benchmark;
#   3. the prefix holds jobs/, docs/ and the tokenizer;
#   4. a copy of the build-tree binary in an unrelated directory still finds
#      the source tree's data (the build-time fallback).
set -euo pipefail
: "${LR_BIN:?}" "${LR_BUILD_DIR:?}" "${LR_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset LR_DATA_DIR
prefix=$work/prefix
cmake --install "$LR_BUILD_DIR" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
share=$prefix/share/lightreasoner
for f in bin/lightreasoner share/lightreasoner/data/demo/expert/config.json share/lightreasoner/data/demo/test.jsonl \
  share/lightreasoner/data/benchmarks/gsm8k/test.jsonl share/lightreasoner/data/tokenizers/qwen2/tokenizer.json \
  share/lightreasoner/jobs/lightreasoner.sbatch share/lightreasoner/docs/slurm.md share/lightreasoner/README.md; do
  [ -e "$prefix/$f" ] || fail "the install lacks $f"
done
[ -x "$share/jobs/pipeline.sh" ] || fail "jobs/pipeline.sh lost its execute bit"

cd /
"$prefix/bin/lightreasoner" run --out "$work/demo.h5" --max-problems 4 --max-new-tokens 16 --eval-limit 4 \
  --eval-max-new-tokens 16 --max-steps 2 --threads 1 >"$work/run.log" 2>&1 || { tail "$work/run.log"; fail "installed run"; }
grep -q "problems from $share/data/demo/test.jsonl" "$work/run.log" || { cat "$work/run.log"; fail "the installed binary did not use the installed demo"; }
grep -q "expert accuracy after" "$work/run.log" || fail "the installed run printed no accuracy"
"$prefix/bin/lightreasoner" eval --model "$share/data/demo/expert" --benchmark gsm8k --limit 1 --max-new-tokens 4 \
  --out "$work/gsm.h5" --name g --threads 1 >"$work/eval.log" 2>&1 || { tail "$work/eval.log"; fail "installed eval gsm8k"; }
grep -q "from $share/data/benchmarks/gsm8k" "$work/eval.log" || { cat "$work/eval.log"; fail "gsm8k not from the prefix"; }

mkdir "$work/elsewhere"
cp "$LR_BIN" "$work/elsewhere/lightreasoner"
"$work/elsewhere/lightreasoner" run --out "$work/demo2.h5" --max-problems 2 --max-new-tokens 8 --eval-limit 2 \
  --eval-max-new-tokens 8 --max-steps 1 --threads 1 >"$work/run2.log" 2>&1 || { tail "$work/run2.log"; fail "build-tree binary elsewhere"; }
grep -q "problems from $LR_SOURCE_DIR/data/demo/test.jsonl" "$work/run2.log" || { cat "$work/run2.log"; fail "the moved build binary did not find the source data"; }
echo "test_install: ok"
