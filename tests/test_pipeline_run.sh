#!/usr/bin/env bash
# `run` on the tiny test models (issue 7):
#   - one process: sample, train, eval before/after, all in one run file;
#   - the same job as MPI ranks working at once (1 scorer + 1 sampler +
#     1 trainer; 2 trainers) gives the same training, bit for bit with one
#     trainer rank and to fp32 summation order with two;
#   - `sample` then `train` with the same shuffle buffer gives the same
#     training (the documented equivalence);
#   - SIGKILL in the middle of training, then --resume == uninterrupted
#     (one process and MPI); --resume of a finished run redoes nothing;
#   - misuse exits 2.
. "$(dirname "$0")/test_pipeline_common.sh"
cd "$work"
args=(--expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --benchmark "$S/problems.jsonl"
      --max-new-tokens 24 --eval-max-new-tokens 16 --max-steps 6 --save-every 2 --batch 2
      --shuffle-buffer 16 --start-after 8 --threads 1)
losses() { h5dump -d /train/log/loss -y -w 0 -m "%.17g" "$1" | sed -n '/DATA {/,/}/p'; }

"$LR_BIN" run "${args[@]}" --out one.h5 >one.txt 2>one.err || { cat one.err; fail "run exited $?"; }
cat one.txt
grep -q "expert accuracy before" one.txt || fail "no 'before' accuracy in the summary"
grep -q "expert accuracy after" one.txt || fail "no 'after' accuracy in the summary"
[ -f one.h5.d/adapter/adapter_model.safetensors ] || fail "no exported adapter"
[ ! -e one.h5.d/train.h5 ] || fail "the trainers' state file was not folded into the run file"
[ ! -e one.h5.shards ] || fail "shards left behind"
"$LR_BIN" inspect one.h5 >inspect.txt || fail "inspect of the run file failed"
for want in "traces     10," "train      complete: 6 of 6" "eval before" "eval after" \
            "samples streamed to the trainers" "shuffle buffer of 16 samples, starting after 8"; do
  grep -qF "$want" inspect.txt || fail "run file lacks '$want'"
done
[ "$(losses one.h5 | wc -l)" -ge 6 ] || fail "no training log"

# `sample` then `train` with the same buffer: the same training
"$LR_BIN" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out st.h5 \
  --max-new-tokens 24 --batch 2 --threads 1 --quiet || fail "sample exited $?"
"$LR_BIN" train --run st.h5 --model "$S/expert" --max-steps 6 --shuffle-buffer 16 --start-after 8 --threads 1 \
  --quiet || fail "train exited $?"
diff <(losses one.h5) <(losses st.h5) >/dev/null || fail "run differs from sample + train with the same buffer"
# and without the buffer the order (so the losses) differ: the buffer is really used
"$LR_BIN" train --run st.h5 --model "$S/expert" --max-steps 6 --threads 1 --quiet --overwrite || fail "train (no buffer)"
! diff <(losses one.h5) <(losses st.h5) >/dev/null || fail "the shuffle buffer changed nothing"

# sampling flags reach the sampler ranks: run == sample with the same temperature/seed
"$LR_BIN" run "${args[@]}" --out temp.h5 --no-eval --max-steps 1 --temperature 0.8 --top-p 0.9 --sample-seed 5 \
  --quiet >/dev/null || fail "run --temperature exited $?"
"$LR_BIN" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out temps.h5 \
  --max-new-tokens 24 --batch 2 --threads 1 --temperature 0.8 --top-p 0.9 --sample-seed 5 --quiet || fail "sample -T"
tokens() { h5dump -d /traces/tokens -y -w 0 "$1" | sed -n '/DATA {/,/}/p'; }
diff <(tokens temp.h5) <(tokens temps.h5) >/dev/null || fail "run --temperature samples differently from sample"
! diff <(tokens temp.h5) <(tokens one.h5) >/dev/null || fail "--temperature did not change the traces"

# an existing run file is neither replaced nor reused by accident
rc=0; "$LR_BIN" run "${args[@]}" --out one.h5 --quiet 2>err.txt || rc=$?
[ "$rc" = 2 ] && grep -q "exists" err.txt || fail "rerun without --resume/--overwrite: exit $rc ($(cat err.txt))"
# --resume on a finished run: nothing is redone
"$LR_BIN" run "${args[@]}" --out one.h5 --resume >resume.txt 2>resume.err || { cat resume.err; fail "--resume failed"; }
grep -q "already holds the sampled and trained run" resume.err || fail "--resume redid sampling/training"
diff <(grep "expert accuracy" one.txt) <(grep "expert accuracy" resume.txt) || fail "--resume changed the result"

# SIGKILL after training step 3 (checkpoint at 2), then --resume
rc=0; LR_TEST_DIE_AT=step:3 "$LR_BIN" run "${args[@]}" --out kill.h5 --no-eval --quiet >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ ! -e kill.h5 ] || fail "the killed run left a run file (exit $rc)"
"$LR_BIN" run "${args[@]}" --out kill.h5 --no-eval --resume --quiet >/dev/null 2>kill.err || { cat kill.err; fail "resume"; }
diff <(losses one.h5) <(losses kill.h5) >/dev/null || fail "resume after SIGKILL differs from the uninterrupted run"

# The MPI job: roles at once. Open MPI keeps process-lifetime allocations
# (in dlopen'ed components the suppressions cannot name): no leak check.
MPIRUN="env ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe"
if command -v mpirun >/dev/null; then
  $MPIRUN -np 3 "$LR_BIN" run "${args[@]}" --out three.h5 >three.txt 2>three.err \
    || { cat three.err; fail "mpirun -np 3 run exited $?"; }
  grep -q "3 ranks: \[0, 2) sample (1 scorer, 1 sampler), \[2, 3) train" three.err || fail "roles: $(head -3 three.err)"
  diff <(losses one.h5) <(losses three.h5) >/dev/null || fail "3 ranks (1 trainer) train differently from 1 process"
  diff <(grep "expert accuracy" one.txt) <(grep "expert accuracy" three.txt) || fail "3 ranks: other accuracies"
  # two trainer ranks: the allreduce sums in another order
  $MPIRUN -np 4 "$LR_BIN" run "${args[@]}" --out four.h5 --trainers 2 --no-eval --quiet >/dev/null 2>four.err \
    || { cat four.err; fail "mpirun -np 4 run exited $?"; }
  paste <(losses one.h5 | tr -d ',' | grep -v '[{}]') <(losses four.h5 | tr -d ',' | grep -v '[{}]') \
    | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * ($1 > 1 ? $1 : 1)) bad++ } END { exit bad > 0 }' \
    || fail "2 trainer ranks: losses beyond fp32 summation order"
  # SIGKILL of the trainer rank ends the job; --resume finishes it identically
  rc=0; LR_TEST_DIE_AT=step:3 $MPIRUN -np 3 "$LR_BIN" run "${args[@]}" --out mkill.h5 --no-eval --quiet \
    >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "the killed MPI run exited 0"
  $MPIRUN -np 3 "$LR_BIN" run "${args[@]}" --out mkill.h5 --no-eval --resume --quiet >/dev/null 2>mk.err \
    || { cat mk.err; fail "MPI resume"; }
  diff <(losses one.h5) <(losses mkill.h5) >/dev/null || fail "MPI resume after SIGKILL differs"
  # impossible role counts
  rc=0; $MPIRUN -np 2 "$LR_BIN" run "${args[@]}" --out bad.h5 --trainers 2 --quiet 2>bad.err || rc=$?
  [ "$rc" = 2 ] && [ "$(grep -c "cannot hold" bad.err)" = 1 ] || fail "--trainers 2 of 2 ranks: exit $rc ($(cat bad.err))"
fi
rc=0; "$LR_BIN" run --expert "$S/expert" --out x.h5 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--expert without --amateur/--problems: exit $rc"
rc=0; "$LR_BIN" run "${args[@]}" --out z.h5 --benchmark no-such-benchmark 2>z.err || rc=$?
[ "$rc" = 2 ] && grep -q "unknown benchmark" z.err && [ ! -e z.h5 ] || fail "a bad benchmark must stop run before sampling"
rc=0; "$LR_BIN" run "${args[@]}" --out y.h5 --shuffle-buffer 4 --start-after 8 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--start-after above --shuffle-buffer: exit $rc"
echo "test_pipeline_run: ok"
