#!/usr/bin/env bash
# Prints the CPU kernel path this machine runs by default and the next lower
# one it can also run (for CI's second pass with LR_CPU_ISA forced):
#   bash tools/cpu_paths.sh          -> "avx512 avx2" / "avx2 generic" / "generic -"
# Reads the same CPU flags the program's cpuid check does (AVX-512F+BW+VL,
# AVX2+FMA); non-x86 machines have only the portable path.
set -euo pipefail
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { grep -qw "$1" <<<"$flags"; }
if has avx512f && has avx512bw && has avx512vl && has fma; then echo "avx512 avx2"
elif has avx2 && has fma; then echo "avx2 generic"
else echo "generic -"
fi
