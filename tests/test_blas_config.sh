#!/usr/bin/env bash
# BLAS found the CMake way (cmake/blas.cmake; issue 18), checked by
# configuring throw-away build trees (configure only, no build):
#   1. an OpenBLAS "module" outside the system paths (a prefix with lib/ and
#      include/, as `module load openblas` provides) is found through
#      CMAKE_PREFIX_PATH, with its own cblas.h;
#   2. BLA_VENDOR=Generic takes the reference-BLAS path (generated cblas.h
#      wrapper + thread-count shim);
#   3. a vendor that is not installed stops with a message naming BLA_VENDOR.
set -euo pipefail
: "${LR_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lib=$(find /usr/lib /usr/lib64 /usr/local/lib -name 'libopenblas*.so' 2>/dev/null | head -1)
inc=$(dirname "$(find /usr/include /usr/local/include -name openblas_config.h 2>/dev/null | head -1)")
if [ -z "$lib" ] || [ ! -e "$inc/cblas.h" ]; then echo "SKIP: no OpenBLAS library + headers to build a fake module from"; exit 77; fi
conf() { cmake -S "$LR_SOURCE_DIR" -B "$work/b$1" -DLR_WITH_CUDA=OFF "${@:2}" >"$work/c$1.log" 2>&1; }

mkdir -p "$work/ob/lib" "$work/ob/include"
ln -s "$(readlink -f "$lib")" "$work/ob/lib/libopenblas.so"
cp "$inc"/*.h "$work/ob/include/"
conf 1 -DCMAKE_PREFIX_PATH="$work/ob" || { cat "$work/c1.log"; fail "configure with the module prefix"; }
grep -q "lightreasoner: BLAS OpenBLAS: $work/ob/lib/libopenblas.so (cblas.h in $work/ob/include)" "$work/c1.log" \
  || fail "the module prefix was not used: $(grep 'lightreasoner: BLAS' "$work/c1.log")"

if conf 2 -DBLA_VENDOR=Generic; then
  grep -q "lightreasoner: BLAS Generic: .*(cblas.h in $work/b2/generated/blas;" "$work/c2.log" \
    || fail "Generic: $(grep 'lightreasoner: BLAS' "$work/c2.log")"
  grep -q "openblas_get_num_threads" "$work/b2/generated/blas/cblas.h" || fail "Generic: no thread-count shim"
else
  grep -q "BLAS (BLA_VENDOR=Generic) not found" "$work/c2.log" || { cat "$work/c2.log"; fail "Generic"; }
  echo "note: no reference BLAS here (Generic not found, reported as such)"
fi

! conf 3 -DBLA_VENDOR=Intel10_64lp_seq -DCMAKE_PREFIX_PATH=/nonexistent || { grep -q "lightreasoner: BLAS Intel" "$work/c3.log" && echo "note: MKL is installed here"; }
grep -q "BLAS (BLA_VENDOR=Intel10_64lp_seq) not found\|lightreasoner: BLAS Intel" "$work/c3.log" \
  || { tail -20 "$work/c3.log"; fail "a missing vendor gave no clear message"; }
echo "test_blas_config: ok"
