#!/usr/bin/env python3
"""Creates a Qwen2.5-0.5B-shaped model with random weights as a Hugging Face
directory (config.json, generation_config.json, fp32 model.safetensors).

    python3 bench/make_model.py OUT_DIR [--tiny]

--tiny makes a 2-layer, small-vocab model of the same family (for smoke-testing
the bench harness). Skips work when OUT_DIR/.complete exists with the same
shape. Deterministic (torch.manual_seed(0))."""
import argparse
import json
import os
import sys
import time

SHAPES = {
    "qwen2.5-0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2),
    "tiny": dict(vocab_size=4096, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    name = "tiny" if a.tiny else "qwen2.5-0.5b"
    stamp = os.path.join(a.out, ".complete")
    if os.path.exists(stamp) and open(stamp).read().strip() == name:
        print(f"make_model: {a.out} already holds {name}", file=sys.stderr)
        return
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(**SHAPES[name], max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, hidden_act="silu", bos_token_id=151643 if not a.tiny else 1,
                      eos_token_id=151643 if not a.tiny else 2, use_sliding_window=False)
    t0 = time.time()
    model = Qwen2ForCausalLM(cfg).to(torch.float32).eval()
    os.makedirs(a.out, exist_ok=True)
    model.save_pretrained(a.out, max_shard_size="50GB")
    GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, do_sample=False).save_pretrained(a.out)
    # Real Qwen2.5 checkpoints (written by transformers 4.x) carry rope_theta and
    # torch_dtype at the top level; keep both spellings so either loader reads it.
    cpath = os.path.join(a.out, "config.json")
    c = json.load(open(cpath))
    c.setdefault("rope_theta", cfg.rope_parameters["rope_theta"] if getattr(cfg, "rope_parameters", None) else 1e6)
    c.setdefault("torch_dtype", "float32")
    json.dump(c, open(cpath, "w"), indent=2)
    n = sum(p.numel() for p in model.parameters())
    with open(stamp, "w") as f:
        f.write(name + "\n")
    print(f"make_model: {name}: {n/1e6:.1f}M parameters -> {a.out} ({time.time()-t0:.0f} s)", file=sys.stderr)
    json.dump({"params": n}, open(os.path.join(a.out, ".bench_info.json"), "w"))


if __name__ == "__main__":
    main()
