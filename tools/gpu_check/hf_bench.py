#!/usr/bin/env python3
"""HF transformers bf16 on the same GPU and the same shapes as `gpu_test
perf` (tools/gpu_check.sh): scoring tokens/s (256-token sequences, logits of
the last position only), greedy decode tokens/s at batch 1, 64 and 256 (a
32-token prompt, then one token per step through the model with its KV
cache, the next ids from the logits on the GPU), and `generate` at batch 64
(greedy, 64 new tokens: the baseline of issue 15's ">= 5x HF generate").
TF32 off. Writes JSON.

    python3 tools/gpu_check/hf_bench.py --model DIR --json FILE"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--score-tokens", type=int, default=4096)
    ap.add_argument("--decode-steps", type=int, default=32)
    a = ap.parse_args()
    out = {"stage": "hf", "model": a.model, "checks": []}

    def record(name, ok=True, **kw):
        out["checks"].append(dict(name=name, **{"pass": ok}, **kw))
        print(f"  {'ok' if ok else 'FAIL':4} {name:44} {json.dumps(kw)}", flush=True)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)

    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM
    except Exception as e:  # noqa: BLE001
        record("hf import", False, error=str(e))
        return 1
    out.update(torch=torch.__version__, transformers=transformers.__version__)
    if not torch.cuda.is_available():
        record("hf cuda", False, error="torch.cuda.is_available() is False")
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.time()
    major = int(transformers.__version__.split(".")[0])
    kw = {"dtype": torch.bfloat16} if major >= 5 else {"torch_dtype": torch.bfloat16}
    m = AutoModelForCausalLM.from_pretrained(a.model, **kw)
    m = m.cuda().eval()
    V = m.config.vocab_size
    record("hf load", seconds=round(time.time() - t0, 2), device=torch.cuda.get_device_name(0))
    g = torch.Generator(device="cuda").manual_seed(0)

    def fwd(ids, **kw):
        try:
            return m(ids, logits_to_keep=1, **kw)
        except TypeError:
            return m(ids, num_logits_to_keep=1, **kw)

    with torch.inference_mode():
        L = 256
        n = max(1, a.score_tokens // L)
        ids = torch.randint(0, V, (n, L), device="cuda", generator=g)
        fwd(ids)
        torch.cuda.synchronize()
        iters = 3
        t0 = time.time()
        for _ in range(iters):
            fwd(ids)
        torch.cuda.synchronize()
        dt = (time.time() - t0) / iters
        record("hf scoring", tokens_per_pass=n * L, seconds_per_pass=round(dt, 4), tokens_per_s=round(n * L / dt))
        for B in (1, 64, 256):
            ids = torch.randint(0, V, (B, 32), device="cuda", generator=g)
            o = fwd(ids, use_cache=True)
            past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            warm, steps = 2, a.decode_steps
            for s in range(warm + steps):
                if s == warm:
                    torch.cuda.synchronize()
                    t0 = time.time()
                o = fwd(nxt, past_key_values=past, use_cache=True)
                past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            dt = (time.time() - t0) / steps
            record(f"hf decode batch {B}", batch=B, steps=steps, ms_per_step=round(dt * 1e3, 3),
                   tokens_per_s=round(B / dt))
        B, new = 64, 64
        ids = torch.randint(0, V, (B, 32), device="cuda", generator=g)
        gen = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
        m.generate(ids, **dict(gen, max_new_tokens=4, min_new_tokens=4))  # warm-up
        torch.cuda.synchronize()
        t0 = time.time()
        o = m.generate(ids, **gen)
        torch.cuda.synchronize()
        dt = time.time() - t0
        made = int(o.shape[1] - ids.shape[1]) * B
        record("hf generate batch 64", batch=B, new_tokens=new, seconds=round(dt, 3), tokens_per_s=round(made / dt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
