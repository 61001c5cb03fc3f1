#!/usr/bin/env python3
"""Cross-check of the demo result with the reference stack: LoRA training of
the demo expert with transformers + peft (PyTorch, CPU) on the SAME samples
that `lightreasoner run` selected (read from its run file), then greedy
accuracy on the demo test set with transformers.

It answers one question: is the demo's accuracy change a property of the
method on this toy, or of this project's implementation? The training
follows SPEC §2 (KL(w || softmax(z_last)) summed over the batch / batch size,
AdamW, linear decay to 0 without warm-up, clip 1.0, LoRA r 8 / alpha 16 /
dropout 0.05 on q_proj,v_proj); only the sample order is PyTorch's own
shuffling, so the numbers match the trend, not the last digit.

    python3 tools/demo_reference.py demo-run.h5 --seeds 42 1 2     # torch, transformers, peft, h5py
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_demo  # noqa: E402  (prompt format and the greedy accuracy check)


def load_samples(path):
    f = h5py.File(path, "r")
    tok, off, plen = f["traces/tokens"][:], f["traces/token_offsets"][:], f["traces/prompt_len"][:]
    s = f["samples"]
    tr, st, lo = s["trace"][:], s["step"][:], s["label_offsets"][:]
    ids, w = s["label_ids"][:], s["label_weights"][:]
    out = []
    for i in range(len(tr)):
        a = off[tr[i]]
        x = tok[a:a + plen[tr[i]] + st[i]].astype(np.int64)
        out.append((torch.from_numpy(x), torch.from_numpy(ids[lo[i]:lo[i + 1]].astype(np.int64)),
                    torch.from_numpy(w[lo[i]:lo[i + 1]].astype(np.float32))))
    return out


def train(expert, samples, seed, lr, steps, batch=16):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2ForCausalLM
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM.from_pretrained(expert, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                             target_modules=["q_proj", "v_proj"]))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1.0 - k / steps))
    g = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(samples), generator=g).tolist(), 0
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        total = 0.0
        for _ in range(batch):
            if pos == len(order):
                order, pos = torch.randperm(len(samples), generator=g).tolist(), 0
            x, ids, w = samples[order[pos]]
            pos += 1
            z = model(input_ids=x[None]).logits[0, -1]
            logp = torch.log_softmax(z.float(), -1)[ids]
            loss = (w * (torch.log(w) - logp)).sum() / batch
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run file of `lightreasoner run` on the demo")
    ap.add_argument("--demo", default=os.path.join(os.path.dirname(__file__), "..", "data", "demo"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=150)
    a = ap.parse_args()
    torch.set_num_threads(2)
    from tokenizers import Tokenizer
    from transformers import Qwen2ForCausalLM
    expert = os.path.join(a.demo, "expert")
    tok = Tokenizer.from_file(os.path.join(expert, "tokenizer.json"))
    ids = {s: tok.token_to_id(s) for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
    with open(os.path.join(a.demo, "test.jsonl")) as f:
        test = [json.loads(line) for line in f]
    samples = load_samples(a.run)
    base = make_demo.accuracy(Qwen2ForCausalLM.from_pretrained(expert).eval(), tok, ids, test, "cpu")
    print(f"samples {len(samples)}; expert before: {100 * base:.1f}%", flush=True)
    for seed in a.seeds:
        acc = make_demo.accuracy(train(expert, samples, seed, a.lr, a.steps), tok, ids, test, "cpu")
        print(f"seed {seed}: after {100 * acc:.1f}% ({100 * (acc - base):+.1f} points)", flush=True)


if __name__ == "__main__":
    main()
