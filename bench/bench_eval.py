#!/usr/bin/env python3
"""Evaluation throughput: `lightreasoner eval` vs Hugging Face generate on the
same model, problems, prompts and batch size (SPEC §6, issue 6).

    python3 bench/bench_eval.py --bin build-bench/lightreasoner --model DIR \
        [--tokenizer DIR] [--benchmark gsm8k] [--limit 16] [--batch 8] \
        [--max-new-tokens 64] [--threads N] [--out results.jsonl]

Both sides: greedy, ChatML prompt with the SPEC evaluation system prompt,
stop at <|im_end|>/<|endoftext|>, `--batch` sequences decoded together, the
same thread count (OMP/OPENBLAS/MKL_NUM_THREADS and torch.set_num_threads).
The HF side batches statically (left padding, one generate call per batch;
HF has no slot refill), fp32, sdpa attention, inference_mode. Times are
end-to-end wall clock including model loading (ours: the whole process;
theirs: from from_pretrained to the last batch, the torch import excluded).
With random weights EOS is rare, so both sides usually run to
max_new_tokens; generated tokens are counted on both sides and reported.
Peak RSS: ours from wait4() of the child, theirs ru_maxrss of this process
(includes the PyTorch import).

A model directory without tokenizer files gets them from --tokenizer (e.g.
the Qwen2 tokenizer in the shared data) through a directory of symlinks.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
TOK_FILES = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json",
             "special_tokens_map.json"]


def with_tokenizer(model, tok_dir, tmp):
    if any(os.path.exists(os.path.join(model, f)) for f in ("tokenizer.json", "vocab.json")) or not tok_dir:
        return model
    d = os.path.join(tmp, "model")
    os.makedirs(d)
    for f in os.listdir(model):
        os.symlink(os.path.abspath(os.path.join(model, f)), os.path.join(d, f))
    for f in TOK_FILES:
        p = os.path.join(tok_dir, f)
        if os.path.exists(p) and not os.path.exists(os.path.join(d, f)):
            os.symlink(os.path.abspath(p), os.path.join(d, f))
    return d


def load_questions(root, bench, limit):
    path = os.path.join(root, "data", "benchmarks", bench, "test.jsonl")
    qs = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if bench == "svamp":
                q = r["Body"].strip() + " " + r["Question"].strip()
            elif bench == "asdiv":
                q = r["body"].strip() + " " + r["question"].strip()
            elif bench == "math500":
                q = r["problem"].strip()
            else:
                q = r["question"].strip()
            qs.append(q)
            if len(qs) == limit:
                break
    return qs


def run_ours(a, model, tmp, env):
    out = os.path.join(tmp, "ours.h5")
    cmd = [a.bin, "eval", "--model", model, "--benchmark", a.benchmark, "--limit", str(a.limit), "--batch",
           str(a.batch), "--chunk", str(a.limit), "--max-new-tokens", str(a.max_new_tokens), "--threads",
           str(a.threads), "--out", out, "--quiet"]
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.time() - t0
    so, se = p.stdout.read(), p.stderr.read()
    if status != 0:
        sys.exit("ours failed (%d): %s %s" % (status, so, se))
    tokens = None
    if shutil.which("h5dump"):
        d = subprocess.run(["h5dump", "-y", "-d", "/eval/%s/generated_tokens" % a.benchmark, out], capture_output=True,
                           text=True).stdout
        body = d.split("DATA {", 1)[-1]
        tokens = sum(int(x) for x in re.findall(r"(?<=[ ,])(\d+)(?=[,\n ])", body.split("}", 1)[0]))
    return dict(side="ours", wall_s=wall, peak_rss_mb=ru.ru_maxrss / 1024, generated_tokens=tokens,
                summary=so.strip())


def run_hf(a, model, questions):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(a.threads)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(model)
    tok.padding_side = "left"
    m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="sdpa").eval()
    load = time.time() - t0
    eos = [i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>"))
           if i is not None and i >= 0]
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos[-1]
    prompts = ["<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"
               % (SYSTEM, q) for q in questions]
    tokens = 0
    with torch.inference_mode():
        for i in range(0, len(prompts), a.batch):
            enc = tok(prompts[i:i + a.batch], return_tensors="pt", padding=True, add_special_tokens=False)
            out = m.generate(**enc, do_sample=False, max_new_tokens=a.max_new_tokens, eos_token_id=eos,
                             pad_token_id=pad)
            gen = out[:, enc["input_ids"].shape[1]:]
            for row in gen.tolist():
                n = len(row)
                for k, t in enumerate(row):
                    if t in eos:
                        n = k + 1
                        break
                tokens += n
    wall = time.time() - t0
    return dict(side="hf", wall_s=wall, load_s=load, generate_s=wall - load, generated_tokens=tokens,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(root, "build-bench", "lightreasoner"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--benchmark", default="gsm8k", choices=["gsm8k", "svamp", "asdiv", "math500"])
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None, help="append result lines (JSON) here")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads))
    os.environ.update(OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    with tempfile.TemporaryDirectory() as tmp:
        model = with_tokenizer(a.model, a.tokenizer, tmp)
        ours = run_ours(a, model, tmp, env)
        hf = run_hf(a, model, load_questions(root, a.benchmark, a.limit))
    rows = []
    for r in (ours, hf):
        r.update(problems=a.limit, batch=a.batch, max_new_tokens=a.max_new_tokens, threads=a.threads,
                 problems_per_min=60.0 * a.limit / r["wall_s"])
        rows.append(r)
    print("| side | problems/min | wall s | generated tokens | tokens/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        tps = "%.1f" % (r["generated_tokens"] / r["wall_s"]) if r["generated_tokens"] else "?"
        print("| %s | %.2f | %.1f | %s | %s | %.0f |" % (r["side"], r["problems_per_min"], r["wall_s"],
                                                        r["generated_tokens"], tps, r["peak_rss_mb"]))
    print("ratio ours/HF problems/min: %.2f  (batch %d, %d problems, %d new tokens max, %d threads; HF load %.1f s "
          "of its wall time)" % (ours["problems_per_min"] / hf["problems_per_min"], a.batch, a.limit,
                                 a.max_new_tokens, a.threads, hf["load_s"]))
    if a.out:
        with open(a.out, "a") as f:
            for r in rows:
                f.write(json.dumps(dict(scenario="eval", **r)) + "\n")


if __name__ == "__main__":
    main()
