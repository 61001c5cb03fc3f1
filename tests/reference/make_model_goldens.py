#!/usr/bin/env python3
"""Tiny random Qwen2 / Llama models and transformers goldens for the C model
runtime tests (tests/test_model*.c).

Writes, under tests/data/model/:
  qwen2_tied/        Qwen2, q/k/v bias, tied embeddings, fp32, config in the
                     transformers-5 form ("rope_parameters"), plus a tiny
                     Qwen2-style tokenizer (vocab.json/merges.txt cut from the
                     Qwen2 tokenizer: 256 bytes + the first 125 merges + 3
                     special tokens) and ChatML tokenizer_config.json
  qwen2_gqa_bf16/    Qwen2 untied, 8 heads : 2 kv heads (GQA 4:1), head_dim 32
                     (hidden 64 / 8 heads would be 8; transformers' Qwen2
                     honours the head_dim key), saved bf16 and sharded with
                     model.safetensors.index.json; classic config keys
                     (rope_theta, rope_scaling null) like real Qwen2.5 dirs
  llama3_scaled/     Llama, no biases, llama3 rope scaling (factor 8,
                     original_max_position_embeddings 32 so that the scaled
                     and smoothed bands are exercised by short sequences);
                     classic "rope_scaling" config key like Llama 3.1 dirs
  goldens/<name>.safetensors   per model:
     ragged_tokens  int32 (T)        4 sequences packed back to back
     ragged_lens    int32 (4)
     ragged_logits  f32   (T, V)     eager attention, fp32, each sequence alone
     logprobs       f32   (T - 4)    log p(token t+1 | tokens <= t), per sequence
     entropy        f32   (T - 4)    entropy of those next-token distributions (nats)
     greedy_prompts int32 (P)        2 prompts packed
     greedy_lens    int32 (2)
     greedy_out     int32 (2, 32)    model.generate(do_sample=False), no EOS stop
  goldens/qwen2_tied.safetensors additionally:
     chat_prompt_ids int32 (n)       ChatML rendering of CHAT_USER, tokenized by HF
     chat_greedy     int32 (16)      greedy continuation of it (no EOS stop)

  llama3_long/       Llama, llama3 rope scaling with unusual parameters
                     (factor 16, low_freq_factor 2, high_freq_factor 8,
                     original_max_position_embeddings 48, theta 5e5,
                     head_dim 24), bf16
  qwen2_long/        Qwen2.5-7B-style rope (theta 1e6, head_dim 128), bf16
  goldens/<name>.safetensors for these two (RoPE exactness over 512 tokens):
     long_tokens    int32 (512)      one random sequence
     long_positions int32 (P)        positions whose logits are stored
     long_logits    f32   (P, V)     eager attention, fp32
  rope_inv_freq.txt  transformers' inv_freq as fp32 bit patterns for a set of
                     default / linear / llama3 configurations (test_rope)

The bf16 models' goldens come from their bf16 weights upcast to fp32 (loaded
with dtype=float32), which is what the C runtime computes.

Run from anywhere with: python3 tests/reference/make_model_goldens.py
(torch + transformers + safetensors; CPU only, a few seconds).
`--only rope,long` remakes just those parts (names: short, long, rope).
"""
import argparse
import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "model")
QWEN_TOK = os.environ.get("LR_QWEN2_TOKENIZER", "/work/shared/data/tokenizers/qwen2")
RAGGED_LENS = [6, 1, 36, 9]
GREEDY_LENS = [5, 11]
N_GREEDY = 32
CHAT_USER = "What is 2+3? Think."
N_CHAT = 16
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def randomize(model, seed, std_emb=0.5, std_lin=0.08):
    """Non-trivial weights: wide embeddings/lm_head so that logits spread,
    norm weights around 1, random biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(std_emb * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std_lin * torch.randn(p.shape, generator=g))


def classic_rope_keys(path, rope_scaling):
    """Rewrites config.json's transformers-5 "rope_parameters" to the
    rope_theta / rope_scaling keys that published checkpoints carry."""
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rp["rope_theta"]
    cfg["rope_scaling"] = rope_scaling
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def write_tiny_qwen_tokenizer(dst, n_regular):
    """vocab.json/merges.txt: the 256 byte tokens + the first n_regular-256
    merges of the Qwen2 tokenizer (merge i makes id 256+i there), then the
    three special tokens at ids n_regular.. ."""
    with open(os.path.join(QWEN_TOK, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(QWEN_TOK, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [l for l in lines[1:] if l][: n_regular - 256]
    small = {t: i for t, i in vocab.items() if i < n_regular}
    assert len(small) == n_regular
    for i, m in enumerate(merges):
        a, b = m.split(" ")
        assert small[a + b] == 256 + i and a in small and b in small
    with open(os.path.join(dst, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(small, f, ensure_ascii=False)
    with open(os.path.join(dst, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    with open(os.path.join(QWEN_TOK, "tokenizer_config.json")) as f:
        tc = json.load(f)
    tc["added_tokens_decoder"] = {
        str(n_regular + i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": True}
        for i, s in enumerate(SPECIALS)
    }
    tc["model_max_length"] = 256
    with open(os.path.join(dst, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2)
    with open(os.path.join(dst, "added_tokens.json"), "w") as f:
        json.dump({s: n_regular + i for i, s in enumerate(SPECIALS)}, f, indent=2)
    for name in ("special_tokens_map.json", "LICENSE"):
        shutil.copy(os.path.join(QWEN_TOK, name), os.path.join(dst, name))


def make_qwen2_tied():
    cfg = Qwen2Config(vocab_size=384, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True,
                      bos_token_id=381, eos_token_id=383)
    m = Qwen2ForCausalLM(cfg)
    randomize(m, 1, std_emb=0.3, std_lin=0.15)
    return m, dict(dtype=torch.float32, max_shard_size=None, classic=None)


def make_qwen2_gqa_bf16():
    cfg = Qwen2Config(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=8, num_key_value_heads=2, head_dim=32, max_position_embeddings=256,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False,
                      bos_token_id=None, eos_token_id=300)
    m = Qwen2ForCausalLM(cfg)
    randomize(m, 2, std_emb=0.4, std_lin=0.15)
    att = m.model.layers[0].self_attn
    assert att.q_proj.weight.shape == (8 * 32, 64) and att.k_proj.weight.shape == (2 * 32, 64), \
        "transformers' Qwen2 ignored head_dim"
    return m, dict(dtype=torch.bfloat16, max_shard_size="60KB", classic=None)


LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 32}


def make_llama3_scaled():
    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=dict(LLAMA3_SCALING),
                      attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2)
    m = LlamaForCausalLM(cfg)
    randomize(m, 3, std_emb=0.4, std_lin=0.12)
    return m, dict(dtype=torch.float32, max_shard_size=None, classic=LLAMA3_SCALING)


def greedy_manual(model, prompt, n):
    ids = list(prompt)
    out = []
    for _ in range(n):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        top2 = torch.topk(logits, 2).values
        if float(top2[0] - top2[1]) < 2e-3:
            print(f"  warning: greedy margin {float(top2[0] - top2[1]):.2e}", file=sys.stderr)
        t = int(torch.argmax(logits))
        out.append(t)
        ids.append(t)
    return out


def generate_greedy(model, prompt, n):
    gc = GenerationConfig(do_sample=False, max_new_tokens=n, min_new_tokens=0, eos_token_id=None,
                          pad_token_id=0, bos_token_id=None)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             generation_config=gc)
    new = out[0, len(prompt):].tolist()
    assert len(new) == n, "generate stopped early"
    manual = greedy_manual(model, prompt, n)
    assert new == manual, f"generate {new} != argmax loop {manual}"
    return new


def goldens(name, model, extra=None):
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(100 + len(name))
    seqs = [torch.randint(0, V, (n,), generator=g) for n in RAGGED_LENS]
    logits, lps, ents = [], [], []
    with torch.no_grad():
        for s in seqs:
            lg = model(s[None]).logits[0].float()
            logits.append(lg)
            ls = torch.log_softmax(lg, dim=-1)
            lps.append(ls[:-1].gather(1, s[1:, None])[:, 0])
            ents.append(-(ls.exp() * ls).sum(-1)[:-1])
        # Cross-check: the same sequences right-padded in one batch agree.
        L = max(RAGGED_LENS)
        batch = torch.zeros(len(seqs), L, dtype=torch.long)
        mask = torch.zeros(len(seqs), L, dtype=torch.long)
        for i, s in enumerate(seqs):
            batch[i, : len(s)] = s
            mask[i, : len(s)] = 1
        pl = model(batch, attention_mask=mask).logits
        for i, s in enumerate(seqs):
            d = (pl[i, : len(s)] - logits[i]).abs().max().item()
            assert d < 1e-4, f"padded batch differs by {d}"
    prompts = [torch.randint(0, V, (n,), generator=g).tolist() for n in GREEDY_LENS]
    outs = [generate_greedy(model, p, N_GREEDY) for p in prompts]
    t = {
        "ragged_tokens": torch.cat(seqs).to(torch.int32),
        "ragged_lens": torch.tensor(RAGGED_LENS, dtype=torch.int32),
        "ragged_logits": torch.cat(logits).contiguous(),
        "logprobs": torch.cat(lps).contiguous(),
        "entropy": torch.cat(ents).contiguous(),
        "greedy_prompts": torch.tensor(sum(prompts, []), dtype=torch.int32),
        "greedy_lens": torch.tensor(GREEDY_LENS, dtype=torch.int32),
        "greedy_out": torch.tensor(outs, dtype=torch.int32),
    }
    if extra:
        t.update(extra)
    spread = torch.cat(logits).std().item()
    print(f"{name}: V={V} logits std {spread:.3f}, greedy {outs}")
    os.makedirs(os.path.join(OUT, "goldens"), exist_ok=True)
    save_file(t, os.path.join(OUT, "goldens", name + ".safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})


# ---------------------------------------------------------------- RoPE exactness
LONG_T = 512
LONG_POSITIONS = [0, 1, 2, 3, 7, 31, 47, 48, 63, 100, 127, 200, 255, 300, 383, 400, 447, 500, 510, 511]
LLAMA3_LONG_SCALING = {"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0,
                       "original_max_position_embeddings": 48}


def make_llama3_long():
    cfg = LlamaConfig(vocab_size=128, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=24, max_position_embeddings=1024,
                      rms_norm_eps=1e-5, rope_theta=500000.0, rope_scaling=dict(LLAMA3_LONG_SCALING),
                      attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2)
    m = LlamaForCausalLM(cfg)
    randomize(m, 4, std_emb=0.5, std_lin=0.2)
    assert m.model.layers[0].self_attn.q_proj.weight.shape == (4 * 24, 48), "transformers' Llama ignored head_dim"
    return m, dict(dtype=torch.bfloat16, max_shard_size=None, classic=LLAMA3_LONG_SCALING)


def make_qwen2_long():
    cfg = Qwen2Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=128, max_position_embeddings=1024,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=127)
    m = Qwen2ForCausalLM(cfg)
    randomize(m, 5, std_emb=0.5, std_lin=0.2)
    assert m.model.layers[0].self_attn.q_proj.weight.shape == (2 * 128, 32), "transformers' Qwen2 ignored head_dim"
    return m, dict(dtype=torch.bfloat16, max_shard_size=None, classic=None)


def long_goldens(name, model):
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(200 + len(name))
    toks = torch.randint(0, V, (LONG_T,), generator=g)
    with torch.no_grad():
        lg = model(toks[None]).logits[0].float()
    pos = torch.tensor(LONG_POSITIONS, dtype=torch.int64)
    t = {"long_tokens": toks.to(torch.int32), "long_positions": pos.to(torch.int32),
         "long_logits": lg[pos].contiguous()}
    print(f"{name}: V={V} T={LONG_T} logits std {lg.std().item():.3f}")
    os.makedirs(os.path.join(OUT, "goldens"), exist_ok=True)
    save_file(t, os.path.join(OUT, "goldens", name + ".safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})


# (type, head_dim, theta, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings)
ROPE_CASES = [
    ("default", 128, 1000000.0, 0, 0, 0, 0),   # Qwen2.5-7B
    ("default", 128, 10000.0, 0, 0, 0, 0),     # Llama 2
    ("default", 64, 1000000.0, 0, 0, 0, 0),    # Qwen2.5-0.5B
    ("default", 256, 10000.0, 0, 0, 0, 0),
    ("default", 96, 10000.0, 0, 0, 0, 0),      # 48 = 32 vectorised + 16 scalar in torch
    ("default", 80, 10000000.0, 0, 0, 0, 0),
    ("default", 32, 1000000.0, 0, 0, 0, 0),    # all scalar in torch (AVX-512)
    ("default", 24, 500000.0, 0, 0, 0, 0),
    ("default", 16, 10000.0, 0, 0, 0, 0),
    ("linear", 128, 10000.0, 4.0, 0, 0, 0),
    ("linear", 64, 500000.0, 2.5, 0, 0, 0),
    ("linear", 48, 12345.0, 3.0, 0, 0, 0),
    ("llama3", 128, 500000.0, 8.0, 1.0, 4.0, 8192),    # Llama 3.1
    ("llama3", 64, 500000.0, 32.0, 1.0, 4.0, 8192),    # Llama 3.2
    ("llama3", 24, 500000.0, 16.0, 2.0, 8.0, 48),      # llama3_long
    ("llama3", 16, 10000.0, 8.0, 1.0, 4.0, 32),        # llama3_scaled
    ("llama3", 96, 12345.0, 3.5, 1.5, 7.0, 100),
    ("llama3", 128, 1000000.0, 64.0, 0.5, 3.0, 77),
]


def transformers_inv_freq(kind, dim, theta, factor, lo, hi, old):
    """inv_freq exactly as the model classes compute it (CPU, fp32)."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    rp = {"rope_type": kind, "rope_theta": theta}
    if kind != "default":
        rp["factor"] = factor
    if kind == "llama3":
        rp.update(low_freq_factor=lo, high_freq_factor=hi, original_max_position_embeddings=old)
    cfg = LlamaConfig(hidden_size=2 * dim, num_attention_heads=2, head_dim=dim, rope_parameters=rp,
                      max_position_embeddings=max(4096, 2 * old))
    if kind == "default":
        return LlamaRotaryEmbedding.compute_default_rope_parameters(cfg)[0]
    return ROPE_INIT_FUNCTIONS[kind](cfg, "cpu")[0]


def write_rope_inv_freq():
    lines = [f"# transformers {transformers.__version__}, torch {torch.__version__} "
             f"({torch.backends.cpu.get_cpu_capability()}): inv_freq as fp32 bit patterns",
             "# type head_dim theta factor low_freq_factor high_freq_factor original_max_position : hex..."]
    for kind, dim, theta, factor, lo, hi, old in ROPE_CASES:
        inv = transformers_inv_freq(kind, dim, theta, factor, lo, hi, old)
        assert inv.dtype == torch.float32 and inv.numel() == dim // 2
        bits = inv.view(torch.int32).tolist()
        hexs = " ".join(f"{b & 0xFFFFFFFF:08x}" for b in bits)
        lines.append(f"{kind} {dim} {theta!r} {factor!r} {lo!r} {hi!r} {old} : {hexs}")
    with open(os.path.join(OUT, "rope_inv_freq.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"rope_inv_freq.txt: {len(ROPE_CASES)} configurations")


def save_model(name, model, how):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model = model.to(how["dtype"])
    kw = {"max_shard_size": how["max_shard_size"]} if how["max_shard_size"] else {}
    model.save_pretrained(d, **kw)
    model.generation_config.save_pretrained(d)
    if how["classic"] is not None or name in ("qwen2_gqa_bf16", "qwen2_long"):
        classic_rope_keys(os.path.join(d, "config.json"), how["classic"])
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="short,long,rope", help="comma list of: short, long, rope")
    parts = set(ap.parse_args().only.split(","))
    torch.manual_seed(0)
    if "rope" in parts:
        write_rope_inv_freq()
    if "long" in parts:
        for name, make in (("llama3_long", make_llama3_long), ("qwen2_long", make_qwen2_long)):
            model, how = make()
            d = save_model(name, model, how)
            long_goldens(name, AutoModelCausal(d))
    short = (("qwen2_tied", make_qwen2_tied), ("qwen2_gqa_bf16", make_qwen2_gqa_bf16),
             ("llama3_scaled", make_llama3_scaled))
    for name, make in short if "short" in parts else ():
        model, how = make()
        d = save_model(name, model, how)
        extra = None
        if name == "qwen2_tied":
            write_tiny_qwen_tokenizer(d, 381)
        # Goldens from the saved directory, upcast to fp32, eager attention.
        ref = AutoModelCausal(d)
        if name == "qwen2_tied":
            tok = AutoTokenizer.from_pretrained(d)
            text = tok.apply_chat_template([{"role": "system", "content": "Please reason step by step."},
                                            {"role": "user", "content": CHAT_USER}],
                                           tokenize=False, add_generation_prompt=True)
            ids = tok(text)["input_ids"]
            assert max(ids) < 384
            extra = {"chat_prompt_ids": torch.tensor(ids, dtype=torch.int32),
                     "chat_greedy": torch.tensor(generate_greedy(ref, ids, N_CHAT), dtype=torch.int32)}
        goldens(name, ref, extra)
    sizes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"total {sizes / 1e6:.2f} MB under {OUT}")


def AutoModelCausal(d):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    return m


if __name__ == "__main__":
    main()
