#!/bin/bash
# Bad input of the sampling stage: exit 2 with a message naming the file
# (and line), or skipped and counted where the issue says so.
source "$(dirname "$0")/test_sample_common.sh"
ARGS=(--expert "$DATA/expert" --amateur "$DATA/amateur" --max-new-tokens 8 --quiet)
run() { out=$("$BIN" sample "$@" 2>&1); rc=$?; }

head -n 2 "$DATA/problems.jsonl" > "$WORK/p.jsonl"
echo '{"question": "broken' >> "$WORK/p.jsonl"
echo '{"text": "no question field"}' >> "$WORK/p.jsonl"
run "${ARGS[@]}" --problems "$WORK/p.jsonl" --out "$WORK/a.h5"
expect "broken jsonl line -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "p.jsonl:3: not a JSON object" <<<"$out"; expect "message has file:line: $out" [ $? -eq 0 ]
expect "no output written" [ ! -e "$WORK/a.h5" ] && [ ! -e "$WORK/a.h5.shards" ]
run "${ARGS[@]}" --problems "$WORK/p.jsonl" --out "$WORK/a.h5" --skip-bad-lines
expect "--skip-bad-lines runs (rc $rc)" [ $rc -eq 0 ]
expect "two problems, two bad lines counted" $PY -c "
import h5py,sys; f=h5py.File('$WORK/a.h5','r')
sys.exit(0 if f.attrs['n_problems']==2 and f.attrs['n_bad_lines']==2 else 1)"

# a prompt longer than the context (512) is skipped and counted
$PY -c "
import json
print(json.dumps({'question': 'What is 1+1?', 'answer': '2'}))
print(json.dumps({'question': ' '.join(['Natalia sold clips in April and May.'] * 80), 'answer': '3'}))
print(json.dumps({'question': 'What is 2+2?', 'answer': '4'}))" > "$WORK/long.jsonl"
run "${ARGS[@]}" --problems "$WORK/long.jsonl" --out "$WORK/long.h5"
expect "over-long prompt does not fail the run (rc $rc): $out" [ $rc -eq 0 ]
expect "skipped and counted" $PY -c "
import h5py,sys; f=h5py.File('$WORK/long.h5','r')
ok = f.attrs['n_skipped_context']==1 and list(f['problems/status'][:])==[0,1,0] and list(f['problems/trace'][:])==[0,-1,1]
sys.exit(0 if ok and f['traces/problem'].shape==(2,) else 1)"

# tokenizers that differ on the shared ids
cp -r "$DATA/amateur" "$WORK/amateur2"
$PY - "$WORK/amateur2/tokenizer.json" <<'PYEOF'
import json, sys
p = sys.argv[1]
t = json.load(open(p))
v = t["model"]["vocab"]
a = next(k for k, i in v.items() if i == 100)
b = next(k for k, i in v.items() if i == 101)
v[a], v[b] = 101, 100
json.dump(t, open(p, "w"))
PYEOF
run --expert "$DATA/expert" --amateur "$WORK/amateur2" --problems "$DATA/problems.jsonl" --out "$WORK/t.h5" --quiet
expect "mismatched tokenizers -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "amateur2: tokenizer differs from the expert's .* on shared id 100" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
$MPIRUN -np 2 "$BIN" sample --expert "$DATA/expert" --amateur "$WORK/amateur2" --problems "$DATA/problems.jsonl" \
    --out "$WORK/t.h5" --quiet > "$WORK/mpi.log" 2>&1; rc=$?
expect "under mpirun too (rc $rc)" [ $rc -eq 2 ]
expect "one error line under mpirun" [ "$(grep -c 'lightreasoner: error:' "$WORK/mpi.log")" -eq 1 ]

# flags and paths
run "${ARGS[@]}" --problems "$DATA/problems.jsonl" --alpha 0.001 --out "$WORK/x.h5"
expect "alpha below store-alpha -> exit 2 (rc $rc)" [ $rc -eq 2 ]
run "${ARGS[@]}" --problems "$DATA/problems.jsonl" --max-new-tokens 0 --out "$WORK/x.h5"
expect "max-new-tokens 0 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
run --expert "$WORK/nope" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --out "$WORK/x.h5"
expect "missing expert dir -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "$WORK/nope" <<<"$out"; expect "message names the dir: $out" [ $? -eq 0 ]
run "${ARGS[@]}" --problems "$WORK/none.jsonl" --out "$WORK/x.h5"
expect "missing problems file -> exit 2 (rc $rc)" [ $rc -eq 2 ]
run "${ARGS[@]}" --problems "$DATA/problems.jsonl" --chat-template jinja --out "$WORK/x.h5"
expect "unknown chat template -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
: > "$WORK/empty.jsonl"
run "${ARGS[@]}" --problems "$WORK/empty.jsonl" --out "$WORK/x.h5"
expect "no problems -> exit 2 (rc $rc)" [ $rc -eq 2 ]
expect "nothing written for failed runs" [ -z "$(ls "$WORK" | grep '^x\.h5')" ]
$MPIRUN -np 2 "$BIN" sample --bogus > "$WORK/mpi2.log" 2>&1; rc=$?
expect "unknown flag under mpirun -> exit 2 (rc $rc)" [ $rc -eq 2 ]
finish
