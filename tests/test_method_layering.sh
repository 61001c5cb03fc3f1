#!/usr/bin/env bash
# The include rules issue 13 set for the method layer and the sampling stage
# (docs/pipeline.md, "Data flow in the code"): src/method/ is pure C (only
# the C library, common/ and method/ itself: no MPI, HDF5, model, io), io/
# includes nothing above it, and scorer/ nothing from sampler/ (the folder
# loop scorer <-> sampler). Usage: test_method_layering.sh SRC_DIR
set -u
SRC=${1:?usage: $0 SRC_DIR}
FAILS=0
CHECKS=0
# rule FOLDER REGEX WHAT: no #include line in FOLDER's files matches REGEX
rule() {
    local dir=$1 re=$2 what=$3 hits
    CHECKS=$((CHECKS + 1))
    [ -d "$SRC/$dir" ] || { echo "FAIL: $SRC/$dir does not exist"; FAILS=$((FAILS + 1)); return; }
    hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include' "$SRC/$dir"/*.[ch] | grep -E "$re")
    if [ -n "$hits" ]; then
        echo "FAIL: $what:"
        echo "$hits" | sed 's/^/    /'
        FAILS=$((FAILS + 1))
    else
        echo "ok: $what"
    fi
}
# quoted includes of method/: common/ and method/ only (system headers: the next rules)
CHECKS=$((CHECKS + 1))
hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$SRC"/method/*.[ch] |
       grep -vE '#[[:space:]]*include[[:space:]]*"(common|method)/[^"/]+"')
if [ -n "$hits" ]; then
    echo "FAIL: method/ includes only common/ and method/ headers:"
    echo "$hits" | sed 's/^/    /'
    FAILS=$((FAILS + 1))
else
    echo "ok: method/ includes only common/ and method/ headers"
fi
rule method '<(mpi|hdf5|H5[^>]*|omp|cblas)\.h>' 'method/ uses no MPI, HDF5, OpenMP or BLAS'
rule method '"common/(mpi_env|progress|signals|lock|fileio)\.h"' 'method/ uses no process or file helpers'
rule io '"(sampler|scorer|trainer|pipeline|cli|eval|sweep)/' 'io/ includes no higher layer'
rule scorer '"(sampler|trainer|pipeline|cli|eval|sweep)/' 'scorer/ includes no sampler/ or higher header'
rule trainer '"(sampler|scorer|pipeline|cli|eval|sweep)/' 'trainer/ includes no sampling-stage header'
echo "$(basename "$0"): $((CHECKS - FAILS)) passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
