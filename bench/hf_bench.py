#!/usr/bin/env python3
"""The PyTorch / Hugging Face transformers side of the bench scenarios, with
the same flags and the same JSON line as bench_runtime (impl "theirs"). One
scenario per process, so that ru_maxrss is that scenario's peak RSS.

    python3 bench/hf_bench.py --model DIR --scenario score  [--batch 8] [--seq-len 256]
    python3 bench/hf_bench.py --model DIR --scenario decode [--batch 1] [--prompt-len 16] [--new-tokens 128]
    common: [--threads N] [--repeats R] [--warmup 1] [--seed 1] [--attn sdpa|eager]

score : model(input_ids).logits in fp32 at every position (what the scorer
        needs), under torch.inference_mode.
decode: model.generate greedy, min_new_tokens = max_new_tokens so nothing
        stops early, KV cache on; decode-only time from a logits processor
        that timestamps every step (the same place bench_runtime's on_step
        callback fires).
The token ids are bench_util.c's splitmix64 stream, so both sides run the
same batch."""
import argparse
import json
import os
import resource
import sys
import time

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def bench_token(seed, i, vocab):
    return splitmix64((seed * 1000003 + i) & MASK) % vocab


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def torch_sgemm(torch, threads, repeats):
    """The BLAS PyTorch brings (MKL on x86 wheels), for context next to
    bench_sgemm's OpenBLAS numbers: best GFLOP/s, x @ W^T as nn.Linear does."""
    shapes = [("square2048", 2048, 2048, 2048), ("square4096", 4096, 4096, 4096),
              ("gate_up 4864x896", 2048, 4864, 896), ("down 896x4864", 2048, 896, 4864)]
    best_all = 0.0
    for name, m, n, k in shapes:
        x, w = torch.randn(m, k), torch.randn(n, k)
        f = (lambda: x @ w) if name.startswith("square") and m == n == k else (lambda: torch.nn.functional.linear(x, w))
        f()
        best = min(timeit(f) for _ in range(max(repeats, 1)))
        g = 2.0 * m * n * k / best * 1e-9
        best_all = max(best_all, g)
        print(json.dumps({"bench": "torch_sgemm", "shape": name, "m": m, "n": n, "k": k, "gflops": g,
                          "threads": torch.get_num_threads()}), flush=True)
    print(json.dumps({"bench": "torch_sgemm", "shape": "peak", "gflops": best_all, "torch": torch.__version__,
                      "blas": "mkl" if torch.backends.mkl.is_available() else "?"}), flush=True)


def timeit(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--scenario", choices=["score", "decode", "sgemm"], default="score")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="the model's compute dtype (logits are returned in fp32 either way)")
    a = ap.parse_args()
    batch = a.batch or (8 if a.scenario == "score" else 1)
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count()

    import torch
    from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList

    torch.set_num_threads(threads)
    rss_after_import = peak_rss_kb()
    if a.scenario == "sgemm":
        return torch_sgemm(torch, threads, a.repeats)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype), attn_implementation=a.attn).eval()
    load_s = time.perf_counter() - t0
    rss_after_load = peak_rss_kb()
    cfg = model.config
    V = cfg.vocab_size
    res = {"bench": "model", "impl": "theirs", "scenario": a.scenario, "batch": batch, "threads": threads,
           "torch_threads": torch.get_num_threads(), "attn": model.config._attn_implementation,
           "torch": torch.__version__, "load_s": load_s, "dtype": a.dtype}
    times = []
    if a.scenario == "score":
        ids = torch.tensor([[bench_token(a.seed + b, i, V) for i in range(a.seq_len)] for b in range(batch)],
                           dtype=torch.long)
        with torch.inference_mode():
            for r in range(-a.warmup, a.repeats):
                t = time.perf_counter()
                out = model(input_ids=ids, use_cache=False)
                logits = out.logits.float()  # a no-op in fp32
                assert logits.dtype == torch.float32 and logits.shape == (batch, a.seq_len, V)
                e = time.perf_counter() - t
                del out, logits
                if r >= 0:
                    times.append(e)
        res.update(seq_len=a.seq_len, tokens=batch * a.seq_len, via="model.forward")
    else:
        ids = torch.tensor([[bench_token(a.seed + 100 + b, i, V) for i in range(a.prompt_len)] for b in range(batch)],
                           dtype=torch.long)

        class Clock(LogitsProcessor):
            def __init__(self):
                self.t = []

            def __call__(self, input_ids, scores):
                self.t.append(time.perf_counter())
                return scores

        dec = []
        with torch.inference_mode():
            for r in range(-a.warmup, a.repeats):
                nt = 8 if r < 0 else a.new_tokens
                clk = Clock()
                t = time.perf_counter()
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                     max_new_tokens=nt, min_new_tokens=nt, use_cache=True,
                                     logits_processor=LogitsProcessorList([clk]), pad_token_id=0)
                e = time.perf_counter() - t
                assert out.shape == (batch, a.prompt_len + nt), out.shape
                if r >= 0:
                    times.append(e)
                    dec.append(clk.t[-1] - clk.t[0])
        steps = a.new_tokens - 1
        dmed = median(dec)
        res.update(prompt_len=a.prompt_len, new_tokens=a.new_tokens, tokens=batch * a.new_tokens,
                   via="model.generate", decode_times_s=dec, decode_tok_s=batch * steps / dmed, step_s=dmed / steps)
    med = median(times)
    res.update(times_s=times, median_s=med, tok_s=res["tokens"] / med, peak_rss_kb=peak_rss_kb(),
               rss_after_load_kb=rss_after_load, rss_after_import_kb=rss_after_import)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
