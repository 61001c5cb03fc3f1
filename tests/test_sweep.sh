#!/usr/bin/env bash
# `lightreasoner sweep` without Slurm (issue 18): spec -> task count and
# settings (grid order, list, fixed, errors exit 2), a task file that links
# the base run (not a copy) and works with select/train/eval, and the
# aggregation (CSV, /sweep shown by inspect, SVG).
. "$(dirname "$0")/test_pipeline_common.sh"
cd "$work"
B=$LR_BIN
expect2() { local rc=0; "$@" >/dev/null 2>err.txt || rc=$?; [ "$rc" = 2 ] || fail "exit $rc, expected 2: $*"; }
cat >grid.json <<'JSON'
{"grid": {"beta": [0.2, 0.4, 0.8], "lr": [5e-5, 1e-4]}, "fixed": {"max_steps": 2, "alpha": 0.2}}
JSON
[ "$("$B" sweep count --spec grid.json)" = 6 ] || fail "grid count"
"$B" sweep task --spec grid.json --index 3 >t3.txt
diff t3.txt - <<'EOF2' || fail "task 3 settings"
index=3
beta=0.4
lr=0.0001
max_steps=2
alpha=0.2
select_flags='--beta 0.4 --alpha 0.2'
train_flags='--lr 0.0001 --max-steps 2'
EOF2
echo '[{"beta": 0.3}, {"beta": 0.5, "seed": 7}]' >list.json
[ "$("$B" sweep count --spec list.json)" = 2 ] || fail "list count"
"$B" sweep task --spec list.json --index 0 | grep -q "^train_flags=''$" || fail "list task 0: seed must stay unset"
"$B" sweep task --spec list.json --index 1 | grep -q "^train_flags='--seed 7'$" || fail "list task 1"
expect2 "$B" sweep task --spec grid.json --index 6
echo '{"grid": {"betta": [1]}}' >bad1.json; expect2 "$B" sweep count --spec bad1.json
grep -q "unknown sweep key 'betta'" err.txt || fail "unknown key message: $(cat err.txt)"
echo '{"grid": {"max_steps": [1.5]}}' >bad2.json; expect2 "$B" sweep count --spec bad2.json
echo '{"grid": {"beta": []}}' >bad3.json; expect2 "$B" sweep count --spec bad3.json
echo '{"grid": {"beta": [1]}, "list": []}' >bad4.json; expect2 "$B" sweep count --spec bad4.json
echo '{"grid": ' >bad5.json; expect2 "$B" sweep count --spec bad5.json
expect2 "$B" sweep frobnicate --spec grid.json

"$B" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out base.h5 \
  --max-new-tokens 24 --threads 1 --quiet
chmod a-w base.h5 # tasks only read it
mkdir sw
for i in 0 1 2 3 4 5; do
  settings=$("$B" sweep task --spec grid.json --index $i --base base.h5)
  select_flags="" train_flags="" expert=""
  eval "$settings"
  [ "$expert" = "$S/expert" ] || fail "task $i: expert '$expert'"
  "$B" sweep prepare --base base.h5 --out sw/task-$i.h5
  # shellcheck disable=SC2086
  "$B" select --run sw/task-$i.h5 $select_flags --quiet
  # shellcheck disable=SC2086
  "$B" train --run sw/task-$i.h5 $train_flags --threads 1 --quiet --export sw/ad$i
  "$B" eval --model "$expert" --adapter sw/ad$i --benchmark "$S/problems.jsonl" --out sw/task-$i.h5 --name after \
    --limit 4 --max-new-tokens 8 --threads 1 --quiet
  [ "$(stat -c %s sw/task-$i.h5)" -lt "$(stat -c %s base.h5)" ] || fail "task $i is not small: $(stat -c %s sw/task-$i.h5) vs base $(stat -c %s base.h5)"
done
expect2 "$B" sweep prepare --base base.h5 --out sw/task-0.h5   # exists
h5ls sw/task-0.h5 | grep -q "divergence *External Link" || fail "no external link"
"$B" sweep aggregate --spec grid.json --dir sw --out sw/sweep.h5 --csv sw/sweep.csv --svg sw/sweep.svg 2>agg.err \
  || { cat agg.err; fail "aggregate"; }
[ "$(grep -c . sw/sweep.csv)" = 7 ] || fail "csv rows"
awk -F, 'NR > 1 && ($10 == "" || $9 == "" || $6 == "") {bad++} END {exit bad > 0}' sw/sweep.csv || fail "csv blanks"
[ "$(grep -o "<circle" sw/sweep.svg | wc -l)" = 6 ] || fail "svg points"
"$B" inspect sw/sweep.h5 >ins.txt || fail "inspect sweep.h5"
grep -q "sweep      6 tasks over beta,lr,max_steps,alpha" ins.txt || fail "inspect: $(cat ins.txt)"
[ "$(grep -cE '^ +[0-9]+  beta=' ins.txt)" = 6 ] || fail "inspect rows: $(cat ins.txt)"
# a missing task: NaN in the table, a warning, still a table
rm sw/task-5.h5
"$B" sweep aggregate --spec grid.json --dir sw --out sw/sweep2.h5 --csv sw/sweep2.csv 2>agg2.err || fail "aggregate (missing)"
grep -q "warning" agg2.err || fail "no warning for the missing task"
[ "$(tail -1 sw/sweep2.csv | cut -d, -f10)" = "" ] || fail "missing task has an accuracy"
echo "test_sweep: ok"
