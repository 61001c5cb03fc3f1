#!/usr/bin/env python3
"""One LoRA training step with PyTorch + peft, the way the LightReasoner
reference trains (bench/TRAIN.md): fp32 Qwen2ForCausalLM + peft LoRA; per
micro-batch a right-padded forward (HF computes logits at every position),
the logits at each sample's own last position, the SPEC KL loss / samples
per step, backward (gradient accumulation over the step's micro-batches);
then clip_grad_norm_(1.0) and an AdamW step. The sample sets, ids, labels and
order are bench/train_samples.c's (same samples as bench_train). Prints one
JSON line: median step time, tokens and supervised positions per second,
peak RSS.

  python3 bench/train_bench.py --model DIR [--micro-batch 8] [--threads N] [--repeats R] [--warmup W]
         [--samples stream] [--seq-len 256]    micro-batch x seq-len tokens, one micro-batch
         [--logits-to-keep 0|1]   # 1: ask HF for the last position's logits only (not what the reference does)
         [--samples traces] [--traces 2] [--n-samples 16] [--prompt-len 128] [--gen-len 128]
                                  # x||y_<t per sample, micro-batches of --micro-batch
         [--device cuda --dtype bf16]  # the GPU baseline (tools/gpu_check.sh): the frozen model in
                                  # bf16 on the GPU, LoRA in fp32 (peft's autocast_adapter_dtype),
                                  # synchronised timings, peak GPU memory
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_bench import bench_token  # noqa: E402  (the same splitmix64 token stream as bench_util.c)


def sample_set(a, V):
    """The micro-batches of one step as lists of (token ids, sample index):
    bench/train_samples.c's stream set, or its traces set per sample (the
    seeded Fisher-Yates order of the samples, micro-batches in that order)."""
    if a.samples == "stream":
        L = a.seq_len
        return [[([bench_token(a.seed, s * L + i, V) for i in range(L)], s) for s in range(a.micro_batch)]]
    P, G, Tn, S = a.prompt_len, a.gen_len, a.traces, a.n_samples
    if not (1 <= Tn <= S <= Tn * G and P >= 1):
        sys.exit("train_bench: sample set out of range (needs traces <= samples <= traces * gen-len)")
    where = []  # sample s (trace order) -> (trace, reply position t)
    for i in range(Tn):
        k = S // Tn + (1 if i < S % Tn else 0)
        where += [(i, (2 * j + 1) * G // (2 * k)) for j in range(k)]
    order = list(range(S))
    for i in range(S - 1, 0, -1):
        j = bench_token(a.seed + 300, i, i + 1)
        order[i], order[j] = order[j], order[i]
    seq = [[bench_token(a.seed, tr * (P + G) + p, V) for p in range(P + t)] for tr, t in where]
    return [[(seq[s], s) for s in order[m:m + a.micro_batch]] for m in range(0, S, a.micro_batch)]


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
    ap.add_argument("--samples", choices=("stream", "traces"), default="stream")
    ap.add_argument("--traces", type=int, default=2)
    ap.add_argument("--n-samples", type=int, default=16)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen-len", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    a = ap.parse_args()
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    t0 = time.time()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype, attn_implementation=a.attn).to(a.device)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    load_s = time.time() - t0
    cfg = LoraConfig(r=a.r, lora_alpha=16, lora_dropout=0.05, target_modules=a.targets.split(","),
                     task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    V = model.config.vocab_size
    mbs = []  # (ids (B, Lmax) right-padded, attention mask, last positions, label ids, label weights)
    for mb in sample_set(a, V):
        lens = [len(t) for t, _ in mb]
        Lm = max(lens)
        ids = torch.tensor([t + [0] * (Lm - len(t)) for t, _ in mb], dtype=torch.long)
        mask = torch.tensor([[1] * n + [0] * (Lm - n) for n in lens], dtype=torch.long)
        lab_ids = torch.tensor([[(bench_token(a.seed + 100, s, V) + 977 * j) % V for j in range(4)] for _, s in mb])
        lab_w = torch.tensor([0.4, 0.3, 0.2, 0.1]).expand(len(mb), 4)
        mbs.append(tuple(x.to(dev) for x in (ids, mask, torch.tensor(lens) - 1, lab_ids, lab_w)))
    S = sum(len(m[0]) for m in mbs)
    tokens = sum(int(m[1].sum()) for m in mbs)
    padded = sum(m[0].numel() for m in mbs)
    if a.logits_to_keep and tokens != padded:
        sys.exit("train_bench: --logits-to-keep 1 needs equal lengths (--samples stream)")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times, cpu, loss_v, loss0 = [], [], 0.0, 0.0
    kw = {"logits_to_keep": 1} if a.logits_to_keep else {}
    for it in range(a.warmup + a.repeats):
        sync()
        t0, c0 = time.time(), time.process_time()
        opt.zero_grad()
        loss_v = 0.0
        for ids, mask, last, lab_ids, lab_w in mbs:  # gradient accumulation over the step's micro-batches
            logits = model(input_ids=ids, attention_mask=mask, **kw).logits
            z = logits[:, -1, :] if a.logits_to_keep else logits[torch.arange(len(last), device=dev), last]
            lsm = torch.log_softmax(z.float(), -1)
            loss = (lab_w * (torch.log(lab_w) - lsm.gather(1, lab_ids))).sum() / S
            loss.backward()
            loss_v += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sync()
        dt, dc = time.time() - t0, time.process_time() - c0
        if it == 0:
            loss0 = loss_v
        print(f"train_bench: step {it}: {dt:.2f} s, loss {loss_v:.5f}", file=sys.stderr)
        if it >= a.warmup:
            times.append(dt)
            cpu.append(dc)

    def median(x):
        s = sorted(x)
        return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])

    med = median(times)
    scenario = ("train" + ("_logits_to_keep" if a.logits_to_keep else "")) if a.samples == "stream" else "per_sample"
    row = {"side": "torch+peft", "scenario": scenario, "threads": threads, "micro_batch": a.micro_batch,
           "seq_len": a.seq_len, "samples": a.samples}
    if a.samples == "traces":
        row.update(traces=a.traces, prompt_len=a.prompt_len, gen_len=a.gen_len)
    row.update(micro_batches=len(mbs), supervised=S, tokens=tokens, tokens_padded=padded,
               tokens_per_sample_set=tokens, tokens_per_supervised=padded / S,
               attn_pairs=sum(m[0].numel() * (m[0].shape[1] + 1) / 2 for m in mbs),  # padded rows are computed too
               logit_positions=S if a.logits_to_keep else padded,  # HF: every (padded) position
               attn=a.attn, load_s=load_s,
               step_s=med, step_times=times, step_cpu_s=median(cpu), tokens_per_s=tokens / med,
               supervised_per_s=S / med, loss0=loss0, loss=loss_v,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, torch=torch.__version__,
               device=a.device, dtype=a.dtype)
    if dev.type == "cuda":
        row.update(gpu=torch.cuda.get_device_name(dev), peak_gpu_mb=torch.cuda.max_memory_allocated(dev) / 2**20)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
