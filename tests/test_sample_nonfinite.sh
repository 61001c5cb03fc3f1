#!/bin/bash
# Non-finite weights and logits (issue 12, High 3 / Medium 9 / Deliver 4):
# `tensors` counts NaN/Inf per tensor, loading warns, `generate` stops a
# sequence at a non-finite logits row and says so, `sample` records such
# steps (KL NaN), counts them and never selects them -- never a crash.
source "$(dirname "$0")/test_sample_common.sh"

# poison DIR TENSOR VALUE: overwrite every element of an F32 tensor in place
poison() {
    $PY - "$1/model.safetensors" "$2" "$3" <<'PYEOF'
import json, struct, sys, array
path, name, val = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = bytearray(open(path, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
t = json.loads(b[8:8 + n])[name]
assert t['dtype'] == 'F32'
a, e = t['data_offsets']
b[8 + n + a:8 + n + e] = array.array('f', [val] * ((e - a) // 4)).tobytes()
open(path, 'wb').write(b)
PYEOF
}
cp -r "$DATA/expert" "$WORK/e_inf"
poison "$WORK/e_inf" model.layers.0.mlp.up_proj.weight inf
cp -r "$DATA/amateur" "$WORK/a_nan"
poison "$WORK/a_nan" model.norm.weight nan
P3=(--problems "$DATA/problems.jsonl" --max-problems 3 --max-new-tokens 6 --batch 3)

# tensors: per-tensor counts and a summary line
out=$("$BIN" tensors "$WORK/a_nan" 2>&1); rc=$?
expect "tensors on a NaN model exits 0 (rc $rc)" [ $rc -eq 0 ]
grep -Eq '^model\.norm\.weight +F32 +\[32\] +128 +32 +0$' <<<"$out"; expect "tensors: 32 NaN in model.norm.weight" [ $? -eq 0 ]
grep -Eq '^model\.embed_tokens\.weight .* 0 +0$' <<<"$out"; expect "tensors: clean tensor has 0 / 0" [ $? -eq 0 ]
grep -q "# non-finite: 32 NaN/Inf values in 1 tensor" <<<"$out"; expect "tensors: summary line: $out" [ $? -eq 0 ]
out=$("$BIN" tensors "$WORK/e_inf" 2>&1)
grep -Eq '^model\.layers\.0\.mlp\.up_proj\.weight .* 0 +8192$' <<<"$out"; expect "tensors: 8192 Inf counted" [ $? -eq 0 ]

# generate: warned at load, the sequence stops at the first row and says so
out=$("$BIN" generate --model "$WORK/a_nan" --prompt "hi" --max-new-tokens 5 2>&1); rc=$?
expect "generate on a NaN model -> exit 2 (rc $rc)" [ $rc -eq 2 ]
grep -q "warning: .*a_nan/model.safetensors: tensor 'model.norm.weight' holds 32 NaN" <<<"$out"
expect "load warns naming the tensor: $out" [ $? -eq 0 ]
grep -q "sequence 0 stopped after 0 tokens: the model's logits are not finite" <<<"$out"
expect "generate says the sequence stopped" [ $? -eq 0 ]
grep -q '!!!!' <<<"$out"; expect "no garbage text printed" [ $? -ne 0 ]
printf '{"prompt": "a"}\n{"prompt": "b"}\n' > "$WORK/p.jsonl"
out=$("$BIN" generate --model "$WORK/e_inf" --prompts "$WORK/p.jsonl" --max-new-tokens 5 2>/dev/null)
expect "jsonl output marks finish_reason nonfinite: $out" [ "$(grep -c '"finish_reason":"nonfinite","n_tokens":0' <<<"$out")" -eq 2 ]

# eval: the sequences stop, are scored on the text before the NaN row, and are counted
printf '{"question": "What is 1+1?", "answer": "2"}\n{"question": "What is 2+2?", "answer": "4"}\n' > "$WORK/ev.jsonl"
out=$("$BIN" eval --model "$WORK/a_nan" --benchmark "$WORK/ev.jsonl" --out "$WORK/ev.h5" --max-new-tokens 4 --quiet 2>&1); rc=$?
expect "eval on a NaN model: no crash (rc $rc)" [ $rc -eq 0 ]
grep -q "stopped at non-finite logits: 2" <<<"$out"; expect "eval summary counts them: $out" [ $? -eq 0 ]
expect "eval records finish_reason 4" $PY -c "
import h5py, sys; f = h5py.File('$WORK/ev.h5', 'r'); g = f['eval'][list(f['eval'].keys())[0]]
sys.exit(0 if list(g['finish_reason'][:]) == [4, 4] else 1)"

# sample with an Inf expert (was: exit 139, store to a null pointer in contrast.c)
out=$("$BIN" sample --expert "$WORK/e_inf" --amateur "$DATA/amateur" "${P3[@]}" --out "$WORK/e.h5" 2>&1); rc=$?
expect "sample with an Inf expert -> no crash, exit 0 (rc $rc)" [ $rc -eq 0 ]
grep -q "3 steps non-finite" <<<"$out"; expect "summary counts the non-finite steps: $out" [ $? -eq 0 ]
expect "Inf expert: every trace stopped (finish 4), its step recorded NaN, nothing selected" $PY -c "
import h5py, math, sys; f = h5py.File('$WORK/e.h5', 'r')
fin = list(f['traces/finish_reason'][:]); kl = f['divergence/kl'][:]
ok = fin == [4, 4, 4] and len(kl) == 3 and all(math.isnan(x) for x in kl)
ok = ok and f.attrs['n_nonfinite_steps'] == 3 and f.attrs['n_nonfinite_traces'] == 3
ok = ok and f['samples'].attrs['n_samples'] == 0 and f['divergence/cand_offsets'][-1] == 3
sys.exit(0 if ok else 1)"

out=$("$BIN" inspect "$WORK/e.h5" 2>&1)
grep -q "3 non-finite expert logits" <<<"$out" && grep -q "3 scored (store alpha 0.01), 3 non-finite" <<<"$out"
expect "inspect counts non-finite traces and steps: $out" [ $? -eq 0 ]

# sample with a NaN amateur (was: exit 0 with every KL NaN, unflagged)
out=$("$BIN" sample --expert "$DATA/expert" --amateur "$WORK/a_nan" "${P3[@]}" --out "$WORK/a.h5" 2>&1); rc=$?
expect "sample with a NaN amateur -> exit 0 (rc $rc)" [ $rc -eq 0 ]
grep -q "non-finite steps" <<<"$out"; expect "progress line counts non-finite steps" [ $? -eq 0 ]
expect "NaN amateur: all steps non-finite and counted, none selected, select keeps none" $PY -c "
import h5py, math, sys; f = h5py.File('$WORK/a.h5', 'r')
kl = f['divergence/kl'][:]; n = len(kl)
ok = n > 3 and all(math.isnan(x) for x in kl) and f.attrs['n_nonfinite_steps'] == n
ok = ok and f.attrs['n_nonfinite_traces'] == 0 and f['samples'].attrs['n_samples'] == 0
sys.exit(0 if ok else 1)"
"$BIN" select --run "$WORK/a.h5" --beta -1e9 --quiet; rc=$?
expect "select --beta -1e9 on non-finite steps: no crash (rc $rc)" [ $rc -eq 0 ]
expect "select never selects a NaN step" $PY -c "
import h5py, sys; f = h5py.File('$WORK/a.h5', 'r'); sys.exit(0 if f['samples'].attrs['n_samples'] == 0 else 1)"

# clean models: nothing flagged
out=$("$BIN" sample --expert "$DATA/expert" --amateur "$DATA/amateur" "${P3[@]}" --out "$WORK/c.h5" 2>&1)
grep -q "non-finite" <<<"$out"; expect "clean run: no non-finite mention" [ $? -ne 0 ]
expect "clean run: n_nonfinite_steps 0" $PY -c "
import h5py, sys; f = h5py.File('$WORK/c.h5', 'r'); sys.exit(0 if f.attrs['n_nonfinite_steps'] == 0 else 1)"
finish
