#!/usr/bin/env python3
"""The reference sampling method, timed per problem: Hugging Face generate
for the expert (greedy, output_scores), then the amateur re-run once per
prefix on the re-tokenized text of template + decode(y_<t), in padded
batches of 64, softmax of both, full-vocabulary KL with epsilon, alpha mask,
contrast softmax — the semantics of the published LightR_sampling.py,
re-implemented for the bench (bench/sample_bench.sh).

    python3 bench/sample_reference.py --expert DIR --amateur DIR --problems FILE.jsonl
        --n N --max-new-tokens 128 --threads T --out result.json
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expert", required=True)
    ap.add_argument("--amateur", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=0.2)
    ap.add_argument("--beta", type=float, default=0.4)
    ap.add_argument("--batch", type=int, default=64, help="prefixes per amateur forward (the reference uses 64)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.expert)
    expert = AutoModelForCausalLM.from_pretrained(a.expert, dtype=torch.float32).eval()
    amateur = AutoModelForCausalLM.from_pretrained(a.amateur, dtype=torch.float32).eval()
    probs = [json.loads(l) for l in open(a.problems)][: a.n]
    system = "Please reason step by step."
    per = []
    n_steps = n_samples = 0
    t_all = time.time()
    for p in probs:
        t0 = time.time()
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": p["question"]}]
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        inp = tok([text], return_tensors="pt")
        with torch.inference_mode():
            out = expert.generate(**inp, max_new_tokens=a.max_new_tokens, do_sample=False, output_scores=True,
                                  return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
        y = out.sequences[0][inp.input_ids.shape[1]:].tolist()
        pe = [F.softmax(s[0], dim=-1) for s in out.scores]
        t_gen = time.time() - t0
        batch = []
        for step in range(1, len(y)):
            batch.append(tok(text + tok.decode(y[:step]), return_tensors="pt").input_ids[0])
        pa = []
        with torch.inference_mode():
            for i in range(0, len(batch), a.batch):
                chunk = batch[i:i + a.batch]
                padded = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True, padding_value=tok.pad_token_id)
                mask = (padded != tok.pad_token_id).long()
                logits = amateur(padded, attention_mask=mask).logits
                for j, s in enumerate(chunk):
                    pa.append(F.softmax(logits[j, len(s) - 1], dim=-1))
        for step in range(1, len(y)):
            e, am = pe[step], pa[step - 1]
            v = min(e.size(0), am.size(0))
            e, am = e[:v], am[:v]
            mask = e >= a.alpha * e.max()
            kl = F.kl_div((am + 1e-12).log(), e + 1e-12, reduction="sum").item()
            n_steps += 1
            if kl >= a.beta:
                torch.softmax(((e + 1e-12).log() - (am + 1e-12).log())[mask], dim=-1)
                n_samples += 1
        per.append(dict(seconds=time.time() - t0, generate_seconds=t_gen, tokens=len(y)))
    res = dict(method="reference (HF generate + per-prefix amateur re-forward)", problems=len(per),
               seconds=time.time() - t_all, per_problem=per, steps=n_steps, samples=n_samples,
               gen_tokens=sum(x["tokens"] for x in per), threads=a.threads, prefix_batch=a.batch)
    json.dump(res, open(a.out, "w"), indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "per_problem"}))


if __name__ == "__main__":
    main()
