#!/usr/bin/env bash
# The adapter directory as peft writes it: adapter_config.json holds exactly
# the keys (and defaults) of peft 0.21.2's (golden from
# tests/reference/make_peft_keys.py, which also loads our adapter with peft),
# peft_version included; base_model_name_or_path is the base model as given
# (a Hub id when the directory has one: a Hugging Face cache snapshot, or a
# config.json _name_or_path "org/name"); README.md is the model card with
# save_pretrained's metadata.
. "$(dirname "$0")/test_pipeline_common.sh"
PY=/usr/bin/python3
run=$work/run.h5
"$LR_BIN" sample --expert "$S/expert" --amateur "$S/amateur" --problems "$S/problems.jsonl" --out "$run" \
  --max-new-tokens 12 --threads 1 --quiet
"$LR_BIN" train --run "$run" --max-steps 2 --lora-r 8 --lora-alpha 16 --dropout 0.05 --threads 1 --quiet \
  --export "$work/a1" || fail "train --export"
# a Hugging Face cache layout, and a directory whose config.json names its Hub model
mkdir -p "$work/hub/models--SomeOrg--Tiny-Math-1B/snapshots/0123abc"
cp "$S/expert/"* "$work/hub/models--SomeOrg--Tiny-Math-1B/snapshots/0123abc/"
"$LR_BIN" export --run "$run" --out "$work/a2" --base-model "$work/hub/models--SomeOrg--Tiny-Math-1B/snapshots/0123abc" \
  --quiet || fail "export (cache)"
cp -r "$S/expert" "$work/named"
$PY - "$work/named/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["_name_or_path"] = "Qwen/Qwen2.5-Math-1.5B"
json.dump(c, open(sys.argv[1], "w"))
PY
"$LR_BIN" export --run "$run" --out "$work/a3" --base-model "$work/named" --quiet || fail "export (named)"
"$LR_BIN" export --run "$run" --out "$work/a4" --base-model "my/local-name" --quiet || fail "export (id)"
$PY - "$LR_TEST_DATA/train/peft_adapter_config.json" "$work" "$S/expert" <<'PY' || fail "adapter checks"
import json, os, sys
golden, work, expert = sys.argv[1], sys.argv[2], sys.argv[3]
ref = json.load(open(golden))
cfg = json.load(open(os.path.join(work, "a1", "adapter_config.json")))
assert set(cfg) == set(ref), ("ours only", sorted(set(cfg) - set(ref)), "peft only", sorted(set(ref) - set(cfg)))
assert cfg["peft_version"] == ref["peft_version"], cfg["peft_version"]
for k, v in ref.items():
    if k in ("base_model_name_or_path",):
        continue
    got = sorted(cfg[k]) if k == "target_modules" else cfg[k]
    assert got == v, (k, got, v)
assert cfg["base_model_name_or_path"] == expert, cfg["base_model_name_or_path"]
want = {"a2": "SomeOrg/Tiny-Math-1B", "a3": "Qwen/Qwen2.5-Math-1.5B", "a4": "my/local-name"}
for d, name in want.items():
    c = json.load(open(os.path.join(work, d, "adapter_config.json")))
    assert c["base_model_name_or_path"] == name, (d, c["base_model_name_or_path"])
    card = open(os.path.join(work, d, "README.md")).read()
    front = card.split("---\n")[1]
    assert f"base_model: {name}\n" in front and "library_name: peft\n" in front, front
    assert f"- base_model:adapter:{name}\n" in front and "- lora\n" in front, front
    assert "### Framework versions" in card and f"- PEFT {ref['peft_version']}" in card
print("adapter_config.json: peft's %d keys, peft_version %s; base names and model cards ok" % (len(ref), ref["peft_version"]))
PY
echo "test_peft_keys: ok"
