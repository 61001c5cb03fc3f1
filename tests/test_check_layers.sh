#!/usr/bin/env bash
# tools/check_layers.sh (docs/architecture.md) passes on the tree and fails,
# naming the line, on each kind of violation planted in a copy of src/: a
# lower folder including a higher one, a folder's private *_internal.h
# used elsewhere, a folder loop, a folder without a layer; a listed
# exception is reported and not failed. Usage: test_check_layers.sh ROOT
set -u
ROOT=${1:?usage: $0 ROOT}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILS=0
CHECK="bash $ROOT/tools/check_layers.sh"
fresh() { rm -rf "$WORK/t"; mkdir -p "$WORK/t"; cp -r "$ROOT/src" "$WORK/t/src"; }
expect() { # expect 0|1 PATTERN WHAT
    local want=$1 pat=$2 what=$3 out rc=0
    out=$($CHECK "$WORK/t" 2>&1) || rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
        echo "FAIL: $what (exit $rc, want $want; output:)"
        sed 's/^/    /' <<<"$out"
        FAILS=$((FAILS + 1))
    else
        echo "ok: $what"
    fi
}
fresh
expect 0 ' 0 violation' 'the tree as it is'
fresh
printf '#include "trainer/trainer.h"\n' >> "$WORK/t/src/common/error.c"
expect 1 'src/common/error.c:[0-9]+: common/ includes "trainer/trainer.h"' 'common/ including trainer/ fails, naming the line'
fresh
printf '#include "model/model_internal.h"\n' >> "$WORK/t/src/eval/eval_run.c"
expect 1 'is private to src/model/' 'another folder including model/model_internal.h fails'
fresh
printf '#include "pipeline/run_job.h"\n' >> "$WORK/t/src/io/problems.c"
printf 'lr_layer_exception(io pipeline "test: a known violation")\n' >> "$WORK/t/src/layers.cmake"
expect 0 'known exception \(test: a known violation\)' 'a listed exception is reported, not failed'
printf '#include "io/problems.h"\n' >> "$WORK/t/src/common/fileio.c"
printf 'lr_layer_exception(common io "test: the other half of a loop")\n' >> "$WORK/t/src/layers.cmake"
expect 0 'folder loop .*through a known exception' 'a loop made only of listed exceptions is reported'
fresh
mkdir "$WORK/t/src/newstage" && printf 'int x;\n' > "$WORK/t/src/newstage/a.c"
expect 1 'src/newstage/: no layer' 'a folder without a layer fails'
fresh
printf 'lr_layer(extra common nosuch)\n' >> "$WORK/t/src/layers.cmake"; mkdir "$WORK/t/src/extra"
expect 1 'extra uses nosuch, which is not declared above it' 'a dependency declared after its user fails'
echo "$(basename "$0"): $FAILS failed"
[ "$FAILS" -eq 0 ]
