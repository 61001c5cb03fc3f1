#!/bin/bash
# Rank invariance: the run file's data is identical for one process
# (no launcher), mpirun -np 2 (1 sampler + 1 scorer), -np 4 (2 + 2) and
# -np 3 with explicit roles (2 samplers + 1 scorer).
source "$(dirname "$0")/test_sample_common.sh"
"$BIN" sample "${COMMON[@]}" --out "$WORK/r1.h5"; expect "one process" [ $? -eq 0 ]
$MPIRUN -np 2 "$BIN" sample "${COMMON[@]}" --out "$WORK/r2.h5"; expect "mpirun -np 2" [ $? -eq 0 ]
$MPIRUN -np 4 "$BIN" sample "${COMMON[@]}" --out "$WORK/r4.h5"; expect "mpirun -np 4" [ $? -eq 0 ]
$MPIRUN -np 3 "$BIN" sample "${COMMON[@]}" --samplers 2 --scorers 1 --out "$WORK/r3.h5"
expect "mpirun -np 3 (2+1)" [ $? -eq 0 ]
expect "1 process == np 2" same_runs "$WORK/r1.h5" "$WORK/r2.h5"
expect "1 process == np 4" same_runs "$WORK/r1.h5" "$WORK/r4.h5"
expect "1 process == np 3" same_runs "$WORK/r1.h5" "$WORK/r3.h5"
expect "no shards left behind" [ ! -e "$WORK/r4.h5.shards" ]
# the amateur's batching (--score-rows) is not part of the data (it is left out of the resume key)
"$BIN" sample "${COMMON[@]}" --score-rows 1 --out "$WORK/sr.h5"
expect "--score-rows 1 (one trace per forward) == default" same_runs "$WORK/r1.h5" "$WORK/sr.h5"
# sampling (temperature > 0): per-chunk, per-sequence RNG streams make it rank-invariant too
"$BIN" sample "${COMMON[@]}" --temperature 0.9 --top-p 0.95 --sample-seed 7 --out "$WORK/t1.h5"
$MPIRUN -np 4 "$BIN" sample "${COMMON[@]}" --temperature 0.9 --top-p 0.95 --sample-seed 7 --out "$WORK/t4.h5"
expect "sampled traces: 1 process == np 4" same_runs "$WORK/t1.h5" "$WORK/t4.h5"
expect "sampled traces differ from greedy ones" $PY -c "
import h5py, numpy as np, sys
a = h5py.File('$WORK/r1.h5', 'r')['traces/tokens'][:]; b = h5py.File('$WORK/t1.h5', 'r')['traces/tokens'][:]
sys.exit(0 if a.shape != b.shape or not np.array_equal(a, b) else 1)"
# progress on stderr (rank 0 only): problems, traces/s, generated tok/s, share selected, ETA; --quiet silences
Q=(); for a in "${COMMON[@]}"; do [ "$a" != --quiet ] && Q+=("$a"); done
LR_PROGRESS_INTERVAL=0.05 $MPIRUN -np 2 "$BIN" sample "${Q[@]}" --out "$WORK/p.h5" 2> "$WORK/progress.log"
expect "progress line has every field" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} sample: [0-9]+/10 \([0-9.]+%\) \| [0-9.]+ traces/s \| [0-9.]+ gen tok/s \| [0-9.]+% of steps selected \| elapsed [0-9hms]+ \| ETA ' "$WORK/progress.log"
expect "one closing summary" [ "$(grep -c '^sample: wrote' "$WORK/progress.log")" -eq 1 ]
out=$("$BIN" sample "${COMMON[@]}" --out "$WORK/q.h5" 2>&1)
expect "--quiet prints nothing" [ -z "$out" ]
# every flag can come from --config; the command line wins
printf '{"max-new-tokens": 40, "batch": 3, "beta": 99, "quiet": true}\n' > "$WORK/cfg.json"
"$BIN" sample --config "$WORK/cfg.json" --expert "$DATA/expert" --amateur "$DATA/amateur" \
    --problems "$DATA/problems.jsonl" --beta "$BETA" --out "$WORK/c.h5"
expect "--config gives the same run" same_runs "$WORK/r1.h5" "$WORK/c.h5"
# impossible role counts are a usage error on every rank, with one message
out=$($MPIRUN -np 2 "$BIN" sample "${COMMON[@]}" --samplers 2 --scorers 1 --out "$WORK/bad.h5" 2>&1); rc=$?
expect "2+1 roles in a world of 2 -> exit 2" [ $rc -eq 2 ]
expect "one error line" [ "$(grep -c 'lightreasoner: error:' <<<"$out")" -eq 1 ]
finish
