#!/usr/bin/env bash
# Static analysis of the tracked C sources (src/, tests/, bench/): the
#   include layering (tools/check_layers.sh, docs/architecture.md), cppcheck
#   (warning + portability checks) and clang-tidy (bugprone-*, see
#   .clang-tidy for the disabled checks and why). Exits 1 on any finding.
#   bash tools/lint.sh            # all three
#   bash tools/lint.sh cppcheck   # one of them (layers, cppcheck, clang-tidy)
# A false positive is silenced where it occurs, with the reason:
#   /* cppcheck-suppress <id> ; why */       on the line before (cppcheck)
#   /* NOLINT(bugprone-<check>): why */      on the line itself (clang-tidy)
# Needs cppcheck and clang-tidy (Debian packages; tools/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-all}
build=${LR_LINT_BUILD:-$root/build-lint}
jobs=$(nproc)

status=0
if [ "$what" = all ] || [ "$what" = layers ]; then
  echo "=== include layering (src/layers.cmake)"
  bash "$root/tools/check_layers.sh" "$root" || status=1
  [ "$what" = layers ] && exit $status
fi

# compile_commands.json gives both tools each file's flags (include paths,
# per-file defines); nothing is compiled.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLR_WITH_CUDA=OFF \
      -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# The tracked sources that are compiled on their own (a .c file that another
# one #includes is checked through that one).
mapfile -t files < <(git ls-files 'src/*.c' 'tests/*.c' 'bench/*.c' | python3 -c '
import json, os, sys
cc = {os.path.realpath(e["file"]) for e in json.load(open(sys.argv[1]))}
print("\n".join(f for f in sys.stdin.read().split() if os.path.realpath(f) in cc))' "$build/compile_commands.json")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$what" = all ] || [ "$what" = cppcheck ]; then
  echo "=== cppcheck $(cppcheck --version | cut -d' ' -f2) (${#files[@]} files)"
  # cppcheck 2.10 does not know C11 _Noreturn, so it would take
  # `if (!p) lr_die_input(...)` for a path that goes on with p == NULL.
  printf '#define _Noreturn __attribute__((noreturn))\n' > "$tmp/noreturn.h"
  # test_sh/test_run always hand back a string (empty on failure); the tests'
  # `out && strstr(out, ...)` guards are belt and braces, not a sign it can be NULL.
  cppcheck --quiet --project="$build/compile_commands.json" -j"$jobs" \
      --enable=warning,portability --inline-suppr --include="$tmp/noreturn.h" \
      --suppress=missingIncludeSystem --suppress=missingInclude \
      --suppress='nullPointerRedundantCheck:*tests/test_*.c' \
      --error-exitcode=1 --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
      2> "$tmp/cppcheck.txt" || true
  if [ -s "$tmp/cppcheck.txt" ]; then
    cat "$tmp/cppcheck.txt"
    echo "cppcheck: $(grep -c ': \(error\|warning\|portability\|style\|performance\): ' "$tmp/cppcheck.txt" || true) finding(s)"
    status=1
  else
    echo "cppcheck: clean"
  fi
fi

if [ "$what" = all ] || [ "$what" = clang-tidy ]; then
  echo "=== $(clang-tidy --version | grep -o 'LLVM version [0-9.]*') clang-tidy (${#files[@]} files, checks from .clang-tidy)"
  printf '%s\n' "${files[@]}" |
    xargs -P"$jobs" -n8 clang-tidy -p "$build" --quiet > "$tmp/tidy.txt" 2> "$tmp/tidy.err" || true
  if grep -q -E ': (warning|error): ' "$tmp/tidy.txt"; then
    grep -E -A3 ': (warning|error): ' "$tmp/tidy.txt"
    echo "clang-tidy: $(grep -c -E ': (warning|error): ' "$tmp/tidy.txt") finding(s)"
    status=1
  elif grep -q -E 'error' "$tmp/tidy.err"; then
    cat "$tmp/tidy.err"
    echo "clang-tidy: failed to run"
    status=1
  else
    echo "clang-tidy: clean"
  fi
fi
exit $status
