#!/usr/bin/env python3
"""Writes a Qwen2.5-0.5B-, Qwen2.5-Math-1.5B- or -7B-shaped model with random bf16 weights
as a Hugging Face directory (config.json, generation_config.json, sharded
bf16 safetensors + index, the project's vendored Qwen2 tokenizer), with
numpy only, shard by shard (a 7B model never sits in memory).

    python3 bench/make_model_bf16.py OUT_DIR --shape 0.5b|1.5b|7b [--layers N] [--vocab V]

--layers / --vocab shrink the model while keeping a shape's heads and
widths (the GPU check's numerics contract on real head sizes, with a CPU
reference that runs in seconds).

Weights: random signs and mantissas with exponents in [2^-9, 2^-5)
(roughly N(0, 0.02)-sized), norms 1, deterministic in --seed. Skips work
when OUT_DIR/.complete names the same shape."""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

SHAPES = {
    "0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
    "1.5b": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True),
    "7b": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
}
SHARD_BYTES = 2 << 30


def rand_bf16(rng, n):
    """n random bf16 bit patterns: sign, 7 random mantissa bits, exponent 118..122."""
    r = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    sign = r & np.uint16(0x8000)
    mant = r & np.uint16(0x007F)
    exp = (np.uint16(118) + (r >> np.uint16(7)) % np.uint16(5)) << np.uint16(7)
    return sign | exp | mant


def ones_bf16(n):
    return np.full(n, 0x3F80, dtype=np.uint16)


def tensors(c):
    d, i, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    hd = d // c["num_attention_heads"]
    q, kv = d, c["num_key_value_heads"] * hd
    yield "model.embed_tokens.weight", (c["vocab_size"], d), "rand"
    for l in range(L):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", (d,), "ones"
        yield p + "post_attention_layernorm.weight", (d,), "ones"
        for nm, rows in (("q", q), ("k", kv), ("v", kv)):
            yield p + f"self_attn.{nm}_proj.weight", (rows, d), "rand"
            yield p + f"self_attn.{nm}_proj.bias", (rows,), "rand"
        yield p + "self_attn.o_proj.weight", (d, q), "rand"
        yield p + "mlp.gate_proj.weight", (i, d), "rand"
        yield p + "mlp.up_proj.weight", (i, d), "rand"
        yield p + "mlp.down_proj.weight", (d, i), "rand"
    yield "model.norm.weight", (d,), "ones"
    if not c["tie_word_embeddings"]:
        yield "lm_head.weight", (c["vocab_size"], d), "rand"


def write_shard(path, items):
    header, off = {}, 0
    for name, shape, arr in items:
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, arr in items:
            arr.tofile(f)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=0, help="decoder layers (default: the shape's)")
    ap.add_argument("--vocab", type=int, default=0, help="vocabulary size (default: the shape's)")
    a = ap.parse_args()
    c = dict(SHAPES[a.shape])
    if a.layers > 0:
        c["num_hidden_layers"] = a.layers
    if a.vocab > 0:
        c["vocab_size"] = a.vocab
    label = f"{a.shape} layers={c['num_hidden_layers']} vocab={c['vocab_size']} seed={a.seed}"
    stamp = os.path.join(a.out, ".complete")
    held = open(stamp).read().strip() if os.path.exists(stamp) else ""
    if held == label or (held == a.shape and not (a.layers or a.vocab or a.seed)):  # (older stamps: the shape)
        print(f"make_model_bf16: {a.out} already holds {label}", file=sys.stderr)
        return
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    plan, cur, size = [], [], 0
    for name, shape, kind in tensors(c):
        nbytes = int(np.prod(shape)) * 2
        if cur and size + nbytes > SHARD_BYTES:
            plan.append(cur)
            cur, size = [], 0
        cur.append((name, shape, kind))
        size += nbytes
    plan.append(cur)
    weight_map, total = {}, 0
    for si, shard in enumerate(plan):
        fname = f"model-{si + 1:05d}-of-{len(plan):05d}.safetensors"
        items = []
        for name, shape, kind in shard:
            n = int(np.prod(shape))
            items.append((name, shape, rand_bf16(rng, n) if kind == "rand" else ones_bf16(n)))
            weight_map[name] = fname
            total += n * 2
        write_shard(os.path.join(a.out, fname), items)
        print(f"make_model_bf16: {fname} ({sum(x[2].nbytes for x in items) / 2**30:.2f} GiB)", file=sys.stderr)
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    eos = min(151643, c["vocab_size"] - 1)  # a shrunk vocabulary: its last id
    cfg = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_act="silu", rms_norm_eps=1e-6,
               rope_theta=10000.0, max_position_embeddings=4096, bos_token_id=eos, eos_token_id=eos,
               torch_dtype="bfloat16", use_sliding_window=False, attention_dropout=0.0, **c)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": eos, "eos_token_id": eos, "do_sample": False}, f, indent=1)
    tok = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tokenizers", "qwen2")
    for fn in os.listdir(tok):
        shutil.copy(os.path.join(tok, fn), a.out)
    with open(stamp, "w") as f:
        f.write(label)


if __name__ == "__main__":
    main()
