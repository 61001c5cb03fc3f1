#!/bin/bash
# Inputs that lie (issue 12: High 4, Medium 7/8, Low 10-14, 16, 17): each is
# an error naming the file or flag with exit 2, never an allocation sized
# from the lie, a heap overflow, a silent default or a silently cut string.
source "$(dirname "$0")/test_sample_common.sh"
run() { out=$("$@" 2>&1); rc=$?; }
# edit_json FILE PYTHON-EXPR-ON-d: rewrite a JSON file in place
edit_json() { $PY -c "import json,sys; p=sys.argv[1]; d=json.load(open(p)); $2; json.dump(d, open(p,'w'))" "$1"; }

# ---- Medium 7: config.json disagreeing with the weights is refused before any allocation
cp -r "$DATA/expert" "$WORK/big_vocab"
edit_json "$WORK/big_vocab/config.json" "d['vocab_size'] = 1 << 30"
run env LR_TEST_MAX_RSS=1 "$BIN" generate --model "$WORK/big_vocab" --prompt-ids "1 2" --max-new-tokens 1
expect "vocab_size 2^30 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "model.safetensors: tensor 'model.embed_tokens.weight' has shape \[408, 64\], expected \[1073741824, 64\]" <<<"$out"
expect "names the tensor and both shapes, no out-of-memory: $out" [ $? -eq 0 ]
cp -r "$DATA/expert" "$WORK/many_layers"
edit_json "$WORK/many_layers/config.json" "d['num_hidden_layers'] = 10**9; d.pop('layer_types', None)"
run "$BIN" generate --model "$WORK/many_layers" --prompt-ids "1 2" --max-new-tokens 1
expect "num_hidden_layers 1e9 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "missing tensor 'model.layers.2.input_layernorm.weight'" <<<"$out"; expect "names the first missing layer: $out" [ $? -eq 0 ]

# ---- Medium 8: vocab_size smaller than the tokenizer's ids
cp -r "$DATA/expert" "$WORK/tok_big"
edit_json "$WORK/tok_big/tokenizer.json" "d['model']['vocab']['zzz'] = 450"
run "$BIN" generate --model "$WORK/tok_big" --prompt "hi" --max-new-tokens 2
expect "tokenizer id 450 >= vocab_size 408: generate -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "tok_big/config.json: vocab_size 408 is smaller than the tokenizer's 451 ids" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
run "$BIN" sample --expert "$WORK/tok_big" --amateur "$DATA/amateur" --problems "$DATA/problems.jsonl" --out "$WORK/v.h5" --quiet
expect "... and sample refuses before sampling (rc $rc)" [ $rc -eq 2 ] && [ ! -e "$WORK/v.h5" ]

# ---- Low 12: tokenizer_config.json field types and an unknown eos_token
for bad in "d['eos_token'] = 123" "d['eos_token'] = '<|nope|>'" "d['chat_template'] = 5"; do
    rm -rf "$WORK/tc" && cp -r "$DATA/expert" "$WORK/tc"
    edit_json "$WORK/tc/tokenizer_config.json" "$bad"
    run "$BIN" tokenize --tokenizer "$WORK/tc" <<<"hello"
    expect "tokenizer_config $bad -> exit 2 (rc $rc)" [ $rc -eq 2 ]
    grep -q "tc/tokenizer_config.json: " <<<"$out"; expect "names tokenizer_config.json: $out" [ $? -eq 0 ]
done

# ---- an added token whose content is not UTF-8 is refused at load (found by fuzz_tokenizer_vocab)
rm -rf "$WORK/tu" && cp -r "$DATA/expert" "$WORK/tu"
$PY - "$WORK/tu/tokenizer.json" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
nid = max(max(t['model']['vocab'].values()), max(a['id'] for a in t['added_tokens'])) + 1
t['added_tokens'].append({'id': nid, 'content': '@@BAD@@', 'single_word': False, 'lstrip': False,
                          'rstrip': False, 'normalized': True, 'special': False})
open(sys.argv[1], 'wb').write(json.dumps(t).encode().replace(b'@@BAD@@', b'x\xc3'))
PYEOF
run "$BIN" tokenize --tokenizer "$WORK/tu" <<<"hello"
expect "added token not UTF-8 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "tu: added token with id [0-9]* is not valid UTF-8" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- Low 13: a token id of 1e9 (tokenizer.json and vocab.json) is refused at once
cp -r "$DATA/expert" "$WORK/tid"
edit_json "$WORK/tid/tokenizer.json" "d['model']['vocab']['zzz'] = 10**9"
run timeout 5 "$BIN" tokenize --tokenizer "$WORK/tid" <<<"hello"
expect "tokenizer.json id 1e9 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "token id 1000000000 is far beyond" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
mkdir -p "$WORK/vj"
$PY - "$DATA/expert/tokenizer.json" "$WORK/vj" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1])); d = sys.argv[2]
v = dict(t['model']['vocab']); v['zzz'] = 10**9
json.dump(v, open(d + '/vocab.json', 'w'))
with open(d + '/merges.txt', 'w') as f:
    f.write('#version: 0.2\n')
    for m in t['model']['merges']:
        f.write((m if isinstance(m, str) else ' '.join(m)) + '\n')
PYEOF
run timeout 5 "$BIN" tokenize --tokenizer "$WORK/vj" --source vocab.json <<<"hello"
expect "vocab.json id 1e9 -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]

# ---- Low 11 / 17: jsonl with a NUL, jsonl path that is a directory, --samplers
S=(--expert "$DATA/expert" --amateur "$DATA/amateur" --max-new-tokens 4 --quiet)
printf '{"question": "What is 1+\\u0000 1?", "answer": "2"}\n' > "$WORK/nul.jsonl"
run "$BIN" sample "${S[@]}" --problems "$WORK/nul.jsonl" --out "$WORK/n.h5"
expect "\\u0000 in a question -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "nul.jsonl:1: line holds a \\\\u0000 (NUL) escape" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
printf '{"question": "What is 1+\0 1?", "answer": "2"}\n' > "$WORK/nul2.jsonl"
run "$BIN" sample "${S[@]}" --problems "$WORK/nul2.jsonl" --out "$WORK/n.h5"
expect "raw NUL byte -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "nul2.jsonl:1: line holds a raw NUL byte" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
printf '{"question": "a \\\\u0000 b", "answer": "2"}\n' > "$WORK/esc.jsonl"
run "$BIN" sample "${S[@]}" --problems "$WORK/esc.jsonl" --out "$WORK/esc.h5"
expect "an escaped backslash before u0000 is text, not NUL (rc $rc): $out" [ $rc -eq 0 ]
mkdir -p "$WORK/dir.jsonl"
run "$BIN" sample "${S[@]}" --problems "$WORK/dir.jsonl" --out "$WORK/n.h5"
expect "jsonl path is a directory -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "dir.jsonl: is a directory" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
run "$BIN" sample "${S[@]}" --problems "$DATA/problems.jsonl" --samplers 5 --out "$WORK/n.h5"
expect "--samplers 5 on one process -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "error: --samplers" <<<"$out"; expect "message names the flag: $out" [ $? -eq 0 ]

# ---- Low 17: every prompt over the context -> exit 2 (as eval)
$PY -c "
import json
for i in range(2): print(json.dumps({'question': ' '.join(['Natalia sold clips in April and May.'] * 80), 'answer': '3'}))" > "$WORK/long.jsonl"
run "$BIN" sample "${S[@]}" --problems "$WORK/long.jsonl" --out "$WORK/long.h5"
expect "all prompts over the context -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "long.jsonl: all 2 problems were skipped" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- a run file for the train/select cases
"$BIN" sample "${COMMON[@]}" --max-problems 6 --out "$WORK/r.h5" || bad "sample for the run file"

# ---- Low 17: --run on a directory, a FIFO
mkdir -p "$WORK/rundir"
run "$BIN" train --run "$WORK/rundir" --max-steps 1 --quiet
expect "train --run DIR -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "rundir: is a directory, not a run file" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
mkfifo "$WORK/fifo.h5"
run timeout 10 "$BIN" select --run "$WORK/fifo.h5" --quiet
expect "select --run FIFO -> exit 2, no hang (rc $rc)" [ $rc -eq 2 ]
grep -q "fifo.h5: is not a regular file" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- Low 17: a shard that is a directory or a FIFO is named as such, set aside and redone
LOUD=("${COMMON[@]:0:${#COMMON[@]}-1}") # COMMON without its last flag, --quiet: warnings shown
[ "${COMMON[-1]}" = --quiet ] || bad "COMMON no longer ends with --quiet"
LR_TEST_DIE_AT=shard:1 "$BIN" sample "${COMMON[@]}" --max-problems 6 --out "$WORK/k.h5" >/dev/null 2>&1
mkdir "$WORK/k.h5.shards/chunk-1.h5"
run "$BIN" sample "${LOUD[@]}" --max-problems 6 --out "$WORK/k.h5" --resume
expect "resume over a shard that is a directory (rc $rc)" [ $rc -eq 0 ]
grep -q "chunk-1.h5: is a directory, not a shard; set aside as" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
expect "... and its chunk redone: same as a clean run" same_runs "$WORK/r.h5" "$WORK/k.h5"
LR_TEST_DIE_AT=shard:1 "$BIN" sample "${COMMON[@]}" --max-problems 6 --out "$WORK/q.h5" >/dev/null 2>&1
mkfifo "$WORK/q.h5.shards/chunk-1.h5"
run timeout 60 "$BIN" sample "${LOUD[@]}" --max-problems 6 --out "$WORK/q.h5" --resume
expect "resume over a FIFO shard: no hang (rc $rc)" [ $rc -eq 0 ]
grep -q "chunk-1.h5: is not a regular file, not a shard" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- High 4: /samples/label_offsets that lie but still end at the label count
cp "$WORK/r.h5" "$WORK/lie.h5"
$PY - "$WORK/lie.h5" <<'PYEOF'
import h5py, sys
f = h5py.File(sys.argv[1], 'r+')
o = f['samples/label_offsets']; v = o[:]
assert len(v) >= 3, v
v[1] = v[-1] + 1000  # row 0 claims far more labels than exist, row 1 goes backwards
o[...] = v
PYEOF
run "$BIN" train --run "$WORK/lie.h5" --max-steps 1 --threads 1 --quiet
expect "lying label_offsets -> exit 2, no heap overflow (rc $rc)" [ $rc -eq 2 ]
grep -q "label_offsets are not strictly increasing at row 0" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- Low 16: select refuses candidate ids outside the shared vocabulary
cp "$WORK/r.h5" "$WORK/ids.h5"
$PY - "$WORK/ids.h5" <<'PYEOF'
import h5py, sys
f = h5py.File(sys.argv[1], 'r+')
c = f['divergence/cand_ids']; v = c[:]; v[0] = 100000; c[...] = v
PYEOF
run "$BIN" select --run "$WORK/ids.h5" --quiet
expect "select with cand_ids >= vocab -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "cand_ids\[0\] = 100000 is outside the shared vocabulary" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- /train attributes that lie about the adapter size (found writing fuzz_runfile; was exit 1, out of memory)
$PY - "$WORK/tr.h5" <<'PYEOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1], 'w')
f.attrs['schema'] = 'lightreasoner.run'; f.attrs['schema_version'] = 1; f.attrs['complete'] = 1
g = f.create_group('train')
g.attrs['schema'] = 'lightreasoner.train'; g.attrs['schema_version'] = 1; g.attrs['status'] = 'complete'
for k, v in dict(r=8, use_rslora=0, model_n_layers=1000, model_hidden_size=2**31 - 1, model_q_dim=2**31 - 1,
                 model_kv_dim=1, model_intermediate_size=1, steps_done=1).items():
    g.attrs[k] = np.int64(v)
g.attrs['lora_alpha'] = 16.0; g.attrs['lora_dropout'] = 0.0; g.attrs['target_modules'] = 'q_proj,v_proj'
g.create_group('checkpoints/step_00000001')
PYEOF
run "$BIN" export --run "$WORK/tr.h5" --out "$WORK/exp"
expect "export of a /train with lying sizes -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "/train attributes describe an adapter of .* more than the file holds" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- select on cand_offsets whose first step claims 2^42 candidates (found by fuzz_runfile: was exit 1, out of memory)
cp "$WORK/r.h5" "$WORK/off.h5"
$PY - "$WORK/off.h5" <<'PYEOF'
import h5py, sys
f = h5py.File(sys.argv[1], 'r+')
c = f["divergence/cand_offsets"]; v = c[:]; v[1:] += 1 << 42; c[...] = v
PYEOF
run "$BIN" select --run "$WORK/off.h5" --quiet
expect "select with a lying cand_offsets -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "cand_offsets is inconsistent at row 0" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
# ... and offsets whose differences overflow int64 (found by fuzz_runfile: UBSan signed overflow in select)
cp "$WORK/r.h5" "$WORK/ovf.h5"
$PY - "$WORK/ovf.h5" <<'PYEOF'
import h5py, sys
f = h5py.File(sys.argv[1], 'r+')
c = f["divergence/cand_offsets"]; v = c[:]; v[0] = -(1 << 63) + 5; c[...] = v
PYEOF
run "$BIN" select --run "$WORK/ovf.h5" --quiet
expect "select with cand_offsets[0] = -2^63 + 5 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "cand_offsets is inconsistent at row 0" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- Low 14: a shuffle buffer far beyond the data is bounded by the data
run "$BIN" train --run "$WORK/r.h5" --max-steps 2 --shuffle-buffer 1000000000000 --threads 1 --quiet
expect "train --shuffle-buffer 1e12 runs (rc $rc): $out" [ $rc -eq 0 ]

run "$BIN" train --run "$WORK/r.h5" --max-steps 1 --micro-batch 1048576 --threads 1 --quiet --overwrite
expect "train --micro-batch 1048576 -> exit 2, not out of memory (rc $rc)" [ $rc -eq 2 ]
grep -q -- "--micro-batch: 1048576 is more than the" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
# `run` streams its samples (their number is unknown when the trainer sizes
# its buffers): a micro-batch the problems cannot fill is refused before
# sampling; one the selected samples then fall short of trains with repeats
run "$BIN" run "${COMMON[@]}" --max-problems 6 --threads 1 --max-steps 1 --no-eval --micro-batch 1000000 --out "$WORK/mb.h5"
expect "run --micro-batch 1e6 -> exit 2, not out of memory (rc $rc)" [ $rc -eq 2 ]
grep -q -- "--micro-batch: 1000000 is more than the 240 samples 6 problems of --max-new-tokens 40 can give" <<<"$out"
expect "message: $out" [ $? -eq 0 ]
expect "... before sampling: no shard" [ -z "$(ls "$WORK/mb.h5.shards" 2>/dev/null | grep chunk)" ]
run "$BIN" run "${LOUD[@]}" --max-problems 6 --threads 1 --max-steps 1 --no-eval --micro-batch 240 --out "$WORK/mb2.h5"
expect "run --micro-batch 240 > the samples selected -> runs, samples repeat (rc $rc)" [ $rc -eq 0 ]
grep -q -- "--micro-batch 240 is more than the [0-9]* samples the sampling gave: samples repeat" <<<"$out"
expect "warning: $out" [ $? -eq 0 ]
run "$BIN" run "${COMMON[@]}" --max-problems 6 --threads 1 --max-steps 2 --no-eval --shuffle-buffer 1000000000000 \
    --out "$WORK/sb.h5"
expect "run --shuffle-buffer 1e12 runs (rc $rc): $out" [ $rc -eq 0 ]

# ---- an added token that is not UTF-8, normalized, in tokenizer_config.json (found by fuzz_tokenizer_vocab:
# was exit 1 in lr_nfc): refused at load like the tokenizer.json one above
mkdir -p "$WORK/au"
$PY - "$DATA/expert/tokenizer.json" "$WORK/au" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1])); d = sys.argv[2]
json.dump(t['model']['vocab'], open(d + '/vocab.json', 'w'))
with open(d + '/merges.txt', 'w') as f:
    f.write('#version: 0.2\n')
    for m in t['model']['merges']:
        f.write((m if isinstance(m, str) else ' '.join(m)) + '\n')
with open(d + '/tokenizer_config.json', 'wb') as f:
    f.write(b'{"added_tokens_decoder": {"5": {"content": "\xcc\x80\xff", "special": false, "normalized": true}}}')
PYEOF
run "$BIN" tokenize --tokenizer "$WORK/au" --source vocab.json <<<"hello"
expect "added token that is not UTF-8 -> exit 2 (rc $rc): $out" [ $rc -eq 2 ]
grep -q "au: added token with id 5 is not valid UTF-8" <<<"$out"; expect "message: $out" [ $? -eq 0 ]

# ---- Low 10: run flags refuse what train refuses
run "$BIN" run --lr -0.1 --no-eval --out "$WORK/run.h5"
expect "run --lr -0.1 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q -- "--lr must be in" <<<"$out"; expect "message: $out" [ $? -eq 0 ]
run "$BIN" run --max-steps -1 --no-eval --out "$WORK/run.h5"
expect "run --max-steps -1 -> exit 2 (rc $rc)" [ $rc -eq 2 ]
expect "nothing written" [ ! -e "$WORK/run.h5" ]
finish
