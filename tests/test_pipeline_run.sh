#!/usr/bin/env bash
# `run` on the tiny test models: the whole chain (sample -> eval before ->
# train -> merge -> eval after) lands in one run file; --resume finishes a
# complete run without redoing work; stages under an MPI launcher give the
# same run file content; misuse exits 2.
. "$(dirname "$0")/test_pipeline_common.sh"
cd "$work"
args=(--expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --benchmark "$S/problems.jsonl"
      --max-new-tokens 24 --eval-max-new-tokens 16 --max-steps 4 --threads 1)
"$LR_BIN" run "${args[@]}" --out one.h5 >one.txt 2>one.err || { cat one.err; fail "run exited $?"; }
cat one.txt
grep -q "expert accuracy before" one.txt || fail "no 'before' accuracy in the summary"
grep -q "expert accuracy after" one.txt || fail "no 'after' accuracy in the summary"
[ -f one.h5.d/adapter/adapter_model.safetensors ] || fail "no exported adapter"
"$LR_BIN" inspect one.h5 >inspect.txt || fail "inspect of the run file failed"
for want in "traces     10," "train      complete: 4 of 4" "eval before" "eval after"; do
  grep -qF "$want" inspect.txt || fail "run file lacks '$want'"
done

# an existing run file is neither replaced nor reused by accident
rc=0; "$LR_BIN" run "${args[@]}" --out one.h5 --quiet 2>err.txt || rc=$?
[ "$rc" = 2 ] && grep -q "exists" err.txt || fail "rerun without --resume/--overwrite: exit $rc ($(cat err.txt))"
# --resume on a finished run: every stage reports itself complete
"$LR_BIN" run "${args[@]}" --out one.h5 --resume >resume.txt 2>resume.err || { cat resume.err; fail "--resume failed"; }
grep -q "already complete" resume.err || fail "--resume redid work"
diff <(grep "expert accuracy" one.txt) <(grep "expert accuracy" resume.txt) || fail "--resume changed the result"

# each stage under an MPI launcher: 2 ranks (1 sampler + 1 scorer; 2 trainers)
# Open MPI keeps process-lifetime allocations (in dlopen'ed components that
# the suppressions cannot name): no leak check for MPI-initialised ranks.
MPIRUN="env ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe"
if command -v mpirun >/dev/null; then
  "$LR_BIN" run "${args[@]}" --out two.h5 --quiet --launcher "$MPIRUN -np 2" >two.txt 2>two.err \
    || { cat two.err; fail "run with --launcher mpirun exited $?"; }
  grep -q "expert accuracy after" two.txt || fail "no summary with --launcher"
  # the sampled data do not depend on the number of ranks
  diff <(grep "^samples" one.txt) <(grep "^samples" two.txt) || fail "samples differ with 2 ranks"
  # `run` itself is the orchestrator: refused as an MPI job of several ranks
  rc=0; $MPIRUN -np 2 "$LR_BIN" run "${args[@]}" --out three.h5 --quiet >/dev/null 2>err3.txt || rc=$?
  [ "$rc" = 2 ] && grep -q -- "--launcher" err3.txt || fail "run under mpirun -np 2: exit $rc ($(cat err3.txt))"
fi
rc=0; "$LR_BIN" run --expert "$S/expert" --out x.h5 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--expert without --amateur/--problems: exit $rc"
echo "test_pipeline_run: ok"
