#!/usr/bin/env python3
"""Markdown tables of bench/train_bench.sh's JSON lines (bench/TRAIN.md).

  train_report.py stream JSONL OUT.md THREADS HOST SHAPE
  train_report.py pack JSONL OUT.md META.json   (META: command, date, cpu, threads, model, load averages)

stream: the micro-batch x seq-len step (bench/TRAIN_RESULTS.md). pack: the
16-sample step of traces per sample, packed by trace (`train --pack traces`)
and PyTorch + peft per sample, in supervised positions per second, with an
estimate of the FLOPs each side executes against the machine's sgemm peak
(bench_sgemm in the same run)."""
import json
import sys


def stream_report(rows, out_path, threads, host, shape):
    by = {(r["side"], r["scenario"]): r for r in rows}
    ref = by[("torch+peft", "train")]
    out = ["# LoRA training step: ours vs PyTorch + peft", "",
           f"Machine `{host}`, {threads} threads both sides; {shape} fp32 model, micro-batch "
           f"{ref['micro_batch']} x {ref['seq_len']} tokens, LoRA q_proj/v_proj r 8, one optimizer step "
           "(median of the repeats after one warm-up). Reference = how the LightReasoner reference trains "
           "(HF computes logits at every position; the loss reads the last one).", "",
           "| side | variant | step s (wall) | step CPU s | tokens/s | peak RSS MB | speed-up vs reference (wall / CPU) "
           "| RSS vs reference |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['side']} | {r['scenario']} | {r['step_s']:.2f} | {r['step_cpu_s']:.2f} | "
                   f"{r['tokens_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {ref['step_s'] / r['step_s']:.2f}x / "
                   f"{ref['step_cpu_s'] / r['step_cpu_s']:.2f}x | {r['peak_rss_mb'] / ref['peak_rss_mb']:.2f} |")
    out += ["", "CPU s = process CPU time of the step (all threads): on a shared machine it is less sensitive to "
            "other load than wall time. The runs are interleaved (ours, theirs, ours, theirs) so both sides see "
            "similar load."]
    return out


def secs(x):
    """Seconds to 2 decimals, small ones (the --quick model) to 3 significant digits."""
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3g}"


def step_gflop(r, cfg):
    """FLOPs one step executes (estimate): the frozen linear layers forward and
    their input gradient backward (2 x 2 x params x tokens), causal attention
    (QK^T and PV forward, twice that backward), lm_head forward and backward
    at the logit positions. LoRA, norms and the optimizer are left out."""
    d, layers, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or d // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    lin = layers * (d * (q + 2 * kv) + q * d + 3 * d * cfg["intermediate_size"])
    tokens = r.get("tokens_padded", r["tokens"])
    linear = 4.0 * lin * tokens
    attn = 3 * layers * 2 * 2.0 * q * r["attn_pairs"]
    head = 4.0 * d * V * r["logit_positions"]
    return (linear + attn + head) / 1e9


def pack_report(rows, out_path, meta):
    cfg = json.load(open(meta["model"] + "/config.json"))
    peak = next((r["gflops"] for r in rows if r.get("bench") == "sgemm" and r.get("shape") == "peak"), None)
    rows = [r for r in rows if "side" in r]
    ref = next(r for r in rows if r["side"] == "torch+peft")
    ps = next(r for r in rows if r["side"] == "ours" and r["scenario"].startswith("per_sample"))
    P, G = ref["prompt_len"], ref["gen_len"]
    out = ["# LoRA training step in supervised positions per second: per sample, `--pack traces`, PyTorch + peft",
           "",
           f"`{meta['command']}` — {meta['date']}, {meta['cpu']}, {meta['threads']} threads both sides "
           f"(`OMP/OPENBLAS/MKL_NUM_THREADS`, `torch.set_num_threads`); load average at the start "
           f"{meta['load_start']}, at the end {meta['load_end']}. {meta['note']}", "",
           f"One optimizer step of {ref['supervised']} samples (supervised positions) of the paper's lengths: "
           f"traces of a {P}-token prompt (GSM8K-style with the chat template) + {G} generated tokens, the samples "
           f"x‖y_<t at selected steps t spread over the reply (bench/train_samples.h); {meta['shape']} fp32 model, "
           "LoRA q_proj/v_proj r 8 alpha 16 dropout 0.05, forward + SPEC KL loss at each sample's position + "
           "backward + clip 1.0 + AdamW; micro-batch 8 (per sample: 2 micro-batches of 8, as the reference's "
           "8 x gradient accumulation 2; packed: whole traces up to 8 steps per micro-batch, as `train --pack "
           "traces`). Median of the repeats after one warm-up; each row its own process (peak RSS its own), "
           "run in the order listed.", "",
           "| side | variant | traces x steps | micro-batches | tokens / step | tokens per supervised position "
           "| step s (wall) | step CPU s | supervised positions / s | vs torch+peft (wall / CPU) "
           "| GFLOP / step (est.) | GFLOP/s | % of sgemm peak | peak RSS MB | step-0 loss |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        n = r["supervised"]
        split = f"{r['traces']} x {n // r['traces']}" + ("+" if n % r["traces"] else "")
        gf = step_gflop(r, cfg)
        tok = f"{r['tokens']}" + (f" ({r['tokens_padded']} padded)" if r.get("tokens_padded", r["tokens"]) !=
                                  r["tokens"] else "")
        frac = f"{100 * gf / r['step_s'] / peak:.0f}%" if peak else "—"
        out.append(f"| {r['side']} | {r['scenario']} | {split} | {r['micro_batches']} | {tok} | "
                   f"{r['tokens_per_supervised']:.1f} | {secs(r['step_s'])} | {secs(r['step_cpu_s'])} | "
                   f"{r['supervised_per_s']:.3f} | {r['supervised_per_s'] / ref['supervised_per_s']:.2f}x / "
                   f"{ref['step_cpu_s'] / r['step_cpu_s']:.2f}x | {gf:.4g} | {gf / r['step_s']:.4g} | {frac} | "
                   f"{r['peak_rss_mb']:.0f} | {r['loss0']:.5f} |")
    out += ["", f"sgemm peak of this run: {peak:.0f} GFLOP/s (bench_sgemm, best over its shapes, same threads)."
            if peak else "sgemm peak: not measured in this run."]
    if peak and any(step_gflop(r, cfg) / r["step_s"] > peak for r in rows):
        out[-1] += (" A training step ran faster than that: the machine was busier while bench_sgemm ran than "
                    "during the steps, so the % of peak column is not meaningful in this run.")
    out.append("")
    out += ["Targets (wall-time ratio of supervised positions per second vs torch+peft per sample):", ""]
    for r in rows:
        if r["side"] != "ours":
            continue
        x = r["supervised_per_s"] / ref["supervised_per_s"]
        if r["scenario"].startswith("per_sample"):
            out.append(f"- {r['scenario']}: {x:.2f}x — issue 16 asks >= 2x per sample: "
                       f"{'met' if x >= 2 else 'not met'}.")
        else:
            out.append(f"- {r['scenario']} ({r['traces']} trace(s)): {x:.2f}x, "
                       f"{ps['tokens_per_supervised'] / r['tokens_per_supervised']:.1f}x fewer tokens per supervised "
                       f"position than ours per sample — issue 16 asks >= 10x: {'met' if x >= 10 else 'not met'}; "
                       f"SPEC §6 (CPU) >= 5x: {'met' if x >= 5 else 'not met'}.")
    out += ["", "Tokens per supervised position: what each side runs through the model per sample (torch: "
            "with the right padding of each micro-batch). Per sample the set is the same for 1 or 2 traces "
            f"({ps['tokens_per_sample_set']} tokens: mean t = gen-len / 2). GFLOP / step: an estimate of what each "
            "side executes (frozen linear layers forward + input-gradient backward, causal attention, lm_head at "
            "the logit positions: ours at the loss positions, HF at every position); % of sgemm peak = that over "
            "the step's wall time. Step-0 loss: rows of the same traces x steps train on the same samples and start "
            "from the same loss (B = 0 at init); ours per sample on the 1-trace set gives the 1 x 16 row's."]
    return out


def main():
    mode, jsonl, out_path = sys.argv[1:4]
    rows = [json.loads(line) for line in open(jsonl) if line.strip()]
    if mode == "stream":
        out = stream_report(rows, out_path, *sys.argv[4:7])
    else:
        out = pack_report(rows, out_path, json.load(open(sys.argv[4])))
    open(out_path, "w").write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
