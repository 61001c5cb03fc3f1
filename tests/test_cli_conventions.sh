#!/usr/bin/env bash
# Flag conventions shared by every command (src/cli/args.c): --config in JSON
# or YAML with snake_case or dash keys and per-command sections (run reads
# sample:/train:/eval:), LR_<FLAG> environment variables, precedence
# command line > environment > config > default, --x/--no-x switches (and the
# older "--x 0|1"), real defaults in --help, deprecated spellings with a note
# that --quiet silences. Observed through `tokenize` (cheap, deterministic)
# and through range errors that name the flag a config key resolved to.
set -u
: "${LR_BIN:?}" "${LR_REPO_DATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tok=$LR_REPO_DATA/tokenizers/qwen2
ids() { printf 'What is 2+2?\n' | "$LR_BIN" tokenize --tokenizer "$tok" "$@" 2>"$work/err"; }
plain=$(ids)
chat=$(ids --chat)
sys=$(ids --chat --system "Be brief.")
[ "$plain" != "$chat" ] && [ "$chat" != "$sys" ] || fail "tokenize --chat/--system do not change the ids"

# YAML with snake_case keys; JSON with dash keys; the command's own section.
printf 'chat: true\nsystem: "Be brief."\n' >"$work/c.yaml"
[ "$(ids --config "$work/c.yaml")" = "$sys" ] || fail "YAML config not applied"
printf '{"chat": true, "chat_template": "plain"}' >"$work/c.json"
[ "$(ids --config "$work/c.json")" = "$plain" ] || fail "JSON config with a snake_case key not applied"
printf 'tokenize:\n  chat: yes\ntrain:\n  lr: 1e-4\n' >"$work/s.yaml"
[ "$(ids --config "$work/s.yaml")" = "$chat" ] || fail "own section not applied (or another command's section not skipped)"

# Precedence: command line > environment > config > default.
[ "$(LR_SYSTEM='Be brief.' ids --chat)" = "$sys" ] || fail "LR_SYSTEM not applied"
printf 'chat: true\nsystem: other\n' >"$work/o.yaml"
[ "$(LR_SYSTEM='Be brief.' ids --config "$work/o.yaml")" = "$sys" ] || fail "environment does not beat config"
[ "$(LR_SYSTEM=other ids --chat --system 'Be brief.')" = "$sys" ] || fail "command line does not beat environment"
[ "$(LR_CHAT=1 ids --no-chat)" = "$plain" ] || fail "--no-chat does not beat LR_CHAT=1"

# Switches.
[ "$(ids --chat --no-chat)" = "$plain" ] || fail "--no-chat"
[ "$(ids --chat=0)" = "$plain" ] || fail "--chat=0"

# Errors: exit 2 naming the file or the flag.
expect2() { # expect2 WORDS CMD...: exit 2 with WORDS in the error
  local words=$1 rc=0 err
  shift
  err=$("$@" 2>&1 </dev/null >/dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "$*: exit $rc, want 2 ($err)"
  grep -qF -- "$words" <<<"$err" || fail "$*: error lacks '$words': $err"
}
printf 'max_new_tokens: 5\n' >"$work/u.yaml"
expect2 "unknown option 'max_new_tokens' for 'tokenize'" "$LR_BIN" tokenize --tokenizer "$tok" --config "$work/u.yaml"
printf 'a: [unclosed\n' >"$work/bad.yaml"
expect2 "neither JSON nor valid YAML" "$LR_BIN" tokenize --tokenizer "$tok" --config "$work/bad.yaml"
printf 'bogus:\n  x: 1\n' >"$work/sec.yaml"
expect2 "unknown option 'bogus'" "$LR_BIN" tokenize --tokenizer "$tok" --config "$work/sec.yaml"
expect2 "LR_CHAT: --chat is a switch" env LR_CHAT=maybe "$LR_BIN" tokenize --tokenizer "$tok"

# run: nested stage sections resolve to the stage's flags (--S-K, else --K),
# checked before any work through the flags' range errors.
printf 'eval:\n  limit: -5\n' >"$work/r1.yaml"
expect2 "--eval-limit must be in" "$LR_BIN" run --config "$work/r1.yaml"
printf 'sample:\n  seed: -1\n' >"$work/r2.yaml"
expect2 "--sample-seed must be in" "$LR_BIN" run --config "$work/r2.yaml"
printf 'train:\n  lora_alpha: -3\n  seed: 1\n' >"$work/r3.yaml"
expect2 "--lora-alpha must be in" "$LR_BIN" run --config "$work/r3.yaml"
printf 'eval:\n  max_new_tokens: 0\n' >"$work/r4.yaml"
expect2 "--eval-max-new-tokens must be in" "$LR_BIN" run --config "$work/r4.yaml"
expect2 "--max-steps must be in" env LR_MAX_STEPS=0 "$LR_BIN" run
# the trainer's environment too: `run` trains after sampling, so a bad value must stop it first
expect2 "LR_TRAIN_WEIGHTS: 'fp16' is not f32, bf16 or bf16-round" env LR_TRAIN_WEIGHTS=fp16 "$LR_BIN" run --out "$work/never.h5"
[ ! -e "$work/never.h5" ] && [ ! -e "$work/never.h5.d" ] || fail "run with a bad LR_TRAIN_WEIGHTS left files"

# A YAML config with stage sections drives a whole (tiny) run.
S=${LR_TEST_DATA:-$LR_REPO_DATA/../tests/data}/sample
if [ -d "$S" ] && command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  cat >"$work/run.yaml" <<YAML
expert: $S/expert
amateur: $S/amateur
problems: $S/problems.jsonl
benchmark: $S/problems.jsonl
out: $work/yrun.h5
threads: 1
quiet: true
sample:
  max_new_tokens: 8
  seed: 3          # --sample-seed
train:
  max_steps: 2
  micro_batch: 2
  grad_accum: 1
  lora_alpha: 8
eval:
  limit: 2         # --eval-limit
  max_new_tokens: 4
YAML
  OMP_NUM_THREADS=1 "$LR_BIN" run --config "$work/run.yaml" >"$work/run.log" 2>&1 || fail "run --config run.yaml: $(cat "$work/run.log")"
  /usr/bin/python3 - "$work/yrun.h5" <<'PY' || fail "the YAML config did not drive the run"
import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
c = json.loads(f.attrs["config"])
assert c["max-new-tokens"] == 8 and c["seed"] == 3, c  # the sampling stage's record: seed = its sampling seed
assert f["traces/n_generated"][:].max() <= 8
t = f["train"].attrs
assert int(t["steps_done"]) == 2 and float(t["lora_alpha"]) == 8, dict(t)
assert sorted(f["eval"].keys()) == ["after", "before"] and int(f["eval/after"].attrs["n_problems"]) == 2
assert int(f["eval/after"].attrs["max_new_tokens"]) == 4
PY
else
  echo "skip: the YAML-driven run needs tests/data/sample and python3-h5py"
fi

# Real defaults in --help, the same across commands.
for c in run sample train eval export generate select tokenize merge logprobs inspect; do
  "$LR_BIN" $c --help >"$work/help" 2>&1 || fail "$c --help exited $?"
  if grep -E "default: -[0-9]" "$work/help" >"$work/sentinel"; [ -s "$work/sentinel" ]; then
    fail "$c --help shows a sentinel default: $(cat "$work/sentinel")"
  fi
done
"$LR_BIN" run --help | grep -qF -- "--lr LR                      peak learning rate (default: 5e-05 (demo: 0.0001))" ||
  fail "run --help lacks the real --lr default"
ra=$("$LR_BIN" run --help | grep -- "--lora-alpha" | grep -o "default: [0-9.]*")
ta=$("$LR_BIN" train --help | grep -- "--lora-alpha" | grep -o "default: [0-9.]*")
[ -n "$ra" ] && [ "$ra" = "$ta" ] || fail "--lora-alpha defaults differ: run '$ra', train '$ta'"
"$LR_BIN" train --help | grep -qF -- "--shuffle, --no-shuffle" || fail "train --shuffle is not a switch"
"$LR_BIN" sample --help | grep -qF -- "--sample-seed N" || fail "sample lacks --sample-seed"

# Deprecated spelling: a note, silenced by --quiet (warnings are quiet too).
err=$("$LR_BIN" sample --seed 3 2>&1 >/dev/null)
grep -qF "sample: --seed is deprecated, use --sample-seed" <<<"$err" || fail "no deprecation note: $err"
err=$("$LR_BIN" sample --seed 3 --quiet 2>&1 >/dev/null)
grep -qF "deprecated" <<<"$err" && fail "--quiet does not silence the deprecation note: $err"
# the older "--shuffle 0" still parses (then train stops at the missing run file)
err=$("$LR_BIN" train --run "$work/none.h5" --shuffle 0 --quiet 2>&1 >/dev/null)
grep -qF "shuffle" <<<"$err" && fail "--shuffle 0 refused: $err"

[ "$fails" = 0 ] && echo "test_cli_conventions: ok"
exit $((fails > 0))
