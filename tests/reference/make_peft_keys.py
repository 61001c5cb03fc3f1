#!/usr/bin/env python3
"""adapter_config.json as peft writes it, and our adapters loaded by peft
(pip install peft torch transformers into tests/reference/.venv).

  tests/reference/.venv/bin/python tests/reference/make_peft_keys.py [--bin build/lightreasoner]

1. peft saves a LoRA (r 8, alpha 16, dropout 0.05, q_proj + v_proj) of the tiny
   test expert: its adapter_config.json becomes
   tests/data/train/peft_adapter_config.json (base_model_name_or_path replaced
   by "<base>"), the golden that tests/test_peft_keys.sh compares our key set
   and defaults with in CI.
2. our `train --export` writes an adapter with the same settings: peft must
   load it (PeftModel.from_pretrained, no missing or unexpected keys), its
   adapter_config.json must hold exactly peft's keys with peft's values (but
   the base path), and its README.md must carry the model-card metadata
   save_pretrained writes (base_model, library_name peft, tags).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import peft
import torch
from huggingface_hub import ModelCard
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S = os.path.join(ROOT, "tests", "data", "sample")
OUT = os.path.join(ROOT, "tests", "data", "train", "peft_adapter_config.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "lightreasoner"))
    a = ap.parse_args()
    expert = os.path.join(S, "expert")
    tmp = tempfile.mkdtemp()
    base = AutoModelForCausalLM.from_pretrained(expert)
    cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                     task_type="CAUSAL_LM")
    get_peft_model(base, cfg).save_pretrained(os.path.join(tmp, "peft"))
    ref = json.load(open(os.path.join(tmp, "peft", "adapter_config.json")))
    ref["base_model_name_or_path"] = "<base>"
    ref["target_modules"] = sorted(ref["target_modules"])
    with open(OUT, "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %d keys (peft %s)" % (OUT, len(ref), peft.__version__))

    run, ours = os.path.join(tmp, "run.h5"), os.path.join(tmp, "ours")
    subprocess.run([a.bin, "sample", "--expert", expert, "--amateur", os.path.join(S, "amateur"), "--problems",
                    os.path.join(S, "problems.jsonl"), "--out", run, "--max-new-tokens", "12", "--quiet"], check=True)
    subprocess.run([a.bin, "train", "--run", run, "--max-steps", "2", "--lora-r", "8", "--lora-alpha", "16",
                    "--dropout", "0.05", "--export", ours, "--quiet"], check=True)
    mine = json.load(open(os.path.join(ours, "adapter_config.json")))
    assert mine["base_model_name_or_path"] == expert, mine["base_model_name_or_path"]
    mine["base_model_name_or_path"] = "<base>"
    mine["target_modules"] = sorted(mine["target_modules"])
    if set(mine) != set(ref):
        sys.exit("key sets differ: ours only %s, peft only %s" % (sorted(set(mine) - set(ref)),
                                                                  sorted(set(ref) - set(mine))))
    diff = {k: (mine[k], ref[k]) for k in ref if mine[k] != ref[k]}
    if diff:
        sys.exit("values differ: %s" % diff)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(expert), ours)
    bad = [str(x.message) for x in w if "missing" in str(x.message).lower() or "unexpected" in str(x.message).lower()]
    if bad:
        sys.exit("peft warns: %s" % bad)
    n_lora = sum(1 for n, _ in m.named_parameters() if "lora_" in n)
    assert n_lora > 0 and any(float(p.abs().sum()) > 0 for n, p in m.named_parameters() if "lora_B" in n)
    card = ModelCard.load(os.path.join(ours, "README.md"))
    assert card.data.base_model == expert and card.data.library_name == "peft", card.data
    assert "lora" in card.data.tags and ("base_model:adapter:" + expert) in card.data.tags, card.data.tags
    with torch.no_grad():
        ids = torch.tensor([[1, 2, 3, 4]])
        assert torch.isfinite(m(ids).logits).all()
    print("our adapter: peft's %d keys and values, loads in peft %s (%d LoRA tensors), model card ok"
          % (len(ref), peft.__version__, n_lora))


if __name__ == "__main__":
    main()
