#!/usr/bin/env python3
"""One LoRA training step with PyTorch + peft, the way the LightReasoner
reference trains (bench/TRAIN.md): fp32 Qwen2ForCausalLM + peft LoRA, forward
of micro-batch x seq-len tokens, logits[:, -1] (the reference reads the last
position of the batch), the SPEC KL loss, backward, clip_grad_norm_(1.0),
AdamW step. Same token ids and labels as bench/bench_train.c. Prints one JSON
line: median step time, tokens/s, peak RSS.

  python3 bench/train_bench.py --model DIR [--micro-batch 8] [--seq-len 256] [--threads N]
         [--logits-to-keep 0|1]   # 1: ask HF for the last position's logits only (not what the reference does)
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_bench import bench_token  # noqa: E402  (the same splitmix64 token stream as bench_util.c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--logits-to-keep", type=int, default=0)
    a = ap.parse_args()
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation=a.attn)
    load_s = time.time() - t0
    cfg = LoraConfig(r=a.r, lora_alpha=16, lora_dropout=0.05, target_modules=a.targets.split(","),
                     task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    V = model.config.vocab_size
    B, L = a.micro_batch, a.seq_len
    ids = torch.tensor([[bench_token(a.seed, s * L + i, V) for i in range(L)] for s in range(B)], dtype=torch.long)
    lab_ids = torch.tensor([[(bench_token(a.seed + 100, s, V) + 977 * j) % V for j in range(4)] for s in range(B)])
    lab_w = torch.tensor([0.4, 0.3, 0.2, 0.1]).expand(B, 4)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times, cpu, loss_v = [], [], 0.0
    kw = {"logits_to_keep": 1} if a.logits_to_keep else {}
    for it in range(a.warmup + a.repeats):
        t0, c0 = time.time(), time.process_time()
        opt.zero_grad()
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
        z = out.logits[:, -1, :]
        lsm = torch.log_softmax(z, -1)
        loss = (lab_w * (torch.log(lab_w) - lsm.gather(1, lab_ids))).sum() / B
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt, dc = time.time() - t0, time.process_time() - c0
        loss_v = float(loss)
        print(f"train_bench: step {it}: {dt:.2f} s, loss {loss_v:.5f}", file=sys.stderr)
        if it >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    def median(x):
        s = sorted(x)
        return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])

    med = median(times)
    print(json.dumps({"side": "torch+peft", "scenario": "train" + ("_logits_to_keep" if a.logits_to_keep else ""),
                      "threads": threads, "micro_batch": B, "seq_len": L, "attn": a.attn, "load_s": load_s,
                      "step_s": med, "step_times": times, "step_cpu_s": median(cpu), "tokens_per_s": B * L / med, "loss": loss_v,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
