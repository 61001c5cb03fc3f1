#!/usr/bin/env bash
# Preemption without a batch system (issue 18): SIGTERM (raised by the
# LR_TEST_SIGNAL_AT hook through the real handler) makes each stage finish
# its unit, save, and exit 3; --resume then gives the uninterrupted result.
#   - train: stop after step 5 of 8 -> 3, resume == uninterrupted (losses,
#     final adapter, checkpoint list); extension 4 -> 8 steps records a
#     second schedule segment and its learning rates; a --max-steps inside the
#     schedule is refused (2);
#   - run, one process: stop in sampling (after shard 2), in training (step
#     3), in eval (chunk 1) -> 3 each, resume == uninterrupted;
#   - run, 3 MPI ranks, only the scorer is signalled: the trainer learns from
#     the shard directory and stops too; resume == uninterrupted;
#   - --resume on an empty run file starts it (sample, eval).
. "$(dirname "$0")/test_pipeline_common.sh"
cd "$work"
B=$LR_BIN
losses() { h5dump -d /train/log/loss -y -w 0 -m "%.17g" "$1" | sed -n '/DATA {/,/}/p'; }
lrs() { h5dump -d /train/log/lr -y -w 0 -m "%.17g" "$1" | sed -n '/DATA {/,/}/p' | grep -v 'DATA\|}' | tr -d ' \n' | cut -d'"' -f1; }
ckpts() { h5ls "$1/train/checkpoints" | awk '{print $1}'; }
final_lora() { h5dump -g "/train/checkpoints/$(ckpts "$1" | tail -1)" -m "%.9g" "$1" | grep -v "^HDF5\|GROUP \"/\|^}"; }
expect_rc() { local want=$1; shift; local rc=0; "$@" >/dev/null 2>>"$work/err.txt" || rc=$?; [ "$rc" = "$want" ] || { tail -5 "$work/err.txt"; fail "exit $rc, expected $want: $*"; }; }

"$B" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out base.h5 \
  --max-new-tokens 24 --threads 1 --quiet
cp base.h5 ref.h5; cp base.h5 int.h5; cp base.h5 ext.h5
tr=(--max-steps 8 --save-every 4 --threads 1 --quiet)
"$B" train --run ref.h5 "${tr[@]}"
LR_TEST_SIGNAL_AT=step:5 expect_rc 3 "$B" train --run int.h5 "${tr[@]}"
grep -q "interrupted by SIGTERM after step 5 of 8" err.txt || fail "train: no interruption message"
expect_rc 0 "$B" train --run int.h5 "${tr[@]}" --resume
diff <(losses ref.h5) <(losses int.h5) >/dev/null || fail "train: interrupted + resumed losses differ"
diff <(final_lora ref.h5) <(final_lora int.h5) >/dev/null || fail "train: final adapter differs"
diff <(ckpts ref.h5) <(ckpts int.h5) >/dev/null || fail "train: checkpoint list differs ($(ckpts int.h5 | tr '\n' ' '))"

# extension: 4 steps, then --resume --max-steps 8: lr 5e-5 * (4-i)/4 twice
"$B" train --run ext.h5 --max-steps 4 --save-every 4 --threads 1 --quiet
expect_rc 0 "$B" train --run ext.h5 --max-steps 8 --save-every 4 --threads 1 --quiet --resume
[ "$(lrs ext.h5)" = "5.0000000000000002e-05,3.7500000000000003e-05,2.5000000000000001e-05,1.2500000000000001e-05,5.0000000000000002e-05,3.7500000000000003e-05,2.5000000000000001e-05,1.2500000000000001e-05" ] \
  || fail "extension: learning rates $(lrs ext.h5)"
h5dump -a /train/lr_schedule ext.h5 | grep -qF '[{"from":0,"to":4,"zero":4,"lr":5.0000000000000002e-05},{"from":4,"to":8,"zero":8,"lr":5.0000000000000002e-05}]' \
  || fail "extension: /train lr_schedule $(h5dump -a /train/lr_schedule ext.h5 | grep '(0)')"
h5dump -a /train/status ext.h5 | grep -q '"complete"' || fail "extension: not complete"
cp base.h5 half.h5
LR_TEST_SIGNAL_AT=step:2 expect_rc 3 "$B" train --run half.h5 "${tr[@]}"
expect_rc 2 "$B" train --run half.h5 --max-steps 6 --save-every 4 --threads 1 --quiet --resume
grep -q "schedule ends at step 8" err.txt || fail "no message for a --max-steps inside the schedule"

# run, one process
args=(--expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --benchmark "$S/problems.jsonl"
      --max-new-tokens 24 --eval-max-new-tokens 16 --max-steps 6 --save-every 2 --batch 2
      --shuffle-buffer 16 --start-after 8 --threads 1 --quiet)
"$B" run "${args[@]}" --out one.h5 >one.txt
acc() { h5dump -a /eval/$2/accuracy "$1" | grep "(0)"; }
for at in shard:2 step:3 chunk:1; do
  rm -rf r.h5*
  LR_TEST_SIGNAL_AT=$at expect_rc 3 "$B" run "${args[@]}" --out r.h5
  expect_rc 0 "$B" run "${args[@]}" --out r.h5 --resume
  diff <(losses one.h5) <(losses r.h5) >/dev/null || fail "run stopped at $at: losses differ"
  [ "$(acc one.h5 after)" = "$(acc r.h5 after)" ] || fail "run stopped at $at: accuracy differs"
  [ ! -e r.h5.shards ] && [ ! -e r.h5.eval-before.parts ] || fail "run stopped at $at: leftovers"
done

# 3 MPI ranks; only rank 0 (the scorer) gets the signal
if command -v mpirun >/dev/null; then
  export OMPI_MCA_rmaps_base_oversubscribe=1
  MPIRUN="env ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe -np 3"
  rm -rf m.h5*
  LR_TEST_SIGNAL_AT=shard:2 expect_rc 3 timeout 120 $MPIRUN "$B" run "${args[@]}" --out m.h5 --no-eval
  expect_rc 0 timeout 120 $MPIRUN "$B" run "${args[@]}" --out m.h5 --no-eval --resume
  diff <(losses one.h5) <(losses m.h5) >/dev/null || fail "MPI run stopped in sampling: losses differ"
else
  echo "SKIP part: mpirun not installed"
fi

# --resume of an empty run file: starts
: >empty.h5
expect_rc 0 "$B" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out empty.h5 \
  --max-new-tokens 8 --threads 1 --quiet --resume
: >empty2.h5
expect_rc 0 "$B" eval --model "$S/expert" --benchmark "$S/problems.jsonl" --out empty2.h5 --name x --limit 2 \
  --max-new-tokens 4 --threads 1 --quiet --resume
echo "test_preempt: ok"
