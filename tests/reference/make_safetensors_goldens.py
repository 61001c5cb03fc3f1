#!/usr/bin/env python3
"""Goldens for the safetensors reader/writer and config parser tests
(tests/test_safetensors.c, tests/test_config.c), written with the reference
libraries (safetensors, torch, transformers).

Writes, under tests/data/io/:
  st/f32.safetensors      "values" F32 specials, "matrix" [2,3], "scalar" []
  st/bf16.safetensors     "values" BF16 from bit patterns (zero, -0, normals,
                          max, subnormals, +-inf, NaN) + "values_f32" = torch's
                          .float() of them
  st/f16.safetensors      same for F16 (min/max normal and subnormal, inf, NaN)
  st/convert.safetensors  "src" F32 edge cases (rounding ties, overflow
                          thresholds, subnormal boundaries) and log-uniform
                          random values; "src_bf16"/"src_f16" = torch's
                          .bfloat16()/.half() of them
  st/mixed.safetensors    one tensor of every dtype, empty tensors,
                          metadata {"format": "pt"}
  st/tiny_qwen2_sharded/  a tiny random Qwen2 saved by transformers'
                          save_pretrained(max_shard_size="2KB"): config.json,
                          generation_config.json, shards + index.json;
                          tiny_qwen2_sharded.sums.json = per-tensor shape, sum
                          and first value
  st/writer_*.safetensors safetensors.torch.save_file of the tensors that
                          test_safetensors.c rebuilds and writes itself; the
                          test compares the bytes
  configs/tf5-*/          configs written by transformers 5 (rope_parameters
                          form, "dtype", layer_types)

The published configs under configs/ (Qwen2.5-0.5B, Qwen2.5-Math-1.5B/7B,
DeepSeek-R1-Distill-Qwen-1.5B, Llama-3.2-1B(-Instruct)) are copies of the
Hugging Face Hub files, not generated here.

Run from the repository root: python3 tests/reference/make_safetensors_goldens.py
"""
import json
import math
import os
import shutil
import struct

import numpy as np
import torch
from safetensors.numpy import save as np_save
from safetensors.torch import save as pt_save
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "io")
ST = os.path.join(OUT, "st")


def bits16(bits, dtype):
    """A 1-D tensor of `dtype` (bf16/f16) from raw 16-bit patterns."""
    signed = [b - 0x10000 if b >= 0x8000 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(dtype)


def f32_from_bits(bits):
    signed = [b - 2**32 if b >= 2**31 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int64).to(torch.int32).view(torch.float32)


def write_basic():
    inf, nan = float("inf"), float("nan")
    f32 = torch.tensor([0.0, -0.0, 1.0, -1.5, 3.4028234663852886e38, 1.401298464324817e-45, inf, -inf, nan, 0.1],
                       dtype=torch.float32)
    save_file({"values": f32, "matrix": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
               "scalar": torch.tensor(2.5)}, os.path.join(ST, "f32.safetensors"))

    bf = bits16([0x0000, 0x8000, 0x3F80, 0xBFC0, 0x7F7F, 0x0001, 0x007F, 0x0080, 0x7F80, 0xFF80, 0x7FC0,
                 0x3DCD, 0xC2F7], torch.bfloat16)
    save_file({"values": bf, "values_f32": bf.float()}, os.path.join(ST, "bf16.safetensors"))

    hf = bits16([0x0000, 0x8000, 0x3C00, 0xBE00, 0x7BFF, 0x0400, 0x0001, 0x03FF, 0x8001, 0x0200, 0x7C00, 0xFC00,
                 0x7E00, 0x3555, 0x2E66, 0xD8E5], torch.float16)
    save_file({"values": hf, "values_f32": hf.float()}, os.path.join(ST, "f16.safetensors"))


def write_convert():
    """fp32 -> bf16/f16 rounding as torch does it."""
    edge = [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"),
            1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -(1 + 2**-8),            # bf16 ties / just above
            1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-11 + 2**-20,                        # f16 ties
            65504.0, 65519.0, 65519.996, 65520.0, 65536.0, 1e6, -1e6,               # f16 overflow threshold
            2**-14, 2**-14 * (1 - 2**-11), 2**-14 * (1 - 2**-12), 2**-24, 2**-25,   # f16 subnormal boundaries
            2**-25 * 1.5, 2**-25 * 3, 2**-25 * 5, 2**-26, 2**-24 * 1.5, 2**-24 * 2.5,
            -2**-24, -2**-25 * 3, 5.9604645e-08, 6.0975552e-05, 6.1035156e-05,
            3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38,
            1.401298464324817e-45, 9.183549615799121e-41, 0.1, 1 / 3, math.pi, -math.e]
    src = torch.tensor(edge, dtype=torch.float32)
    # a few raw fp32 patterns: bf16 round-to-even on the exact halfway bit
    raw = f32_from_bits([0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F7FFFFF, 0x7F7F8000, 0x00008000, 0x80018000,
                         0x387FE000, 0x387FF000, 0x33000000, 0x33000001, 0x477FEFFF, 0x477FF000])
    g = torch.Generator().manual_seed(1234)
    n = 800
    mag = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(1e-9), math.log(1e6), generator=g))
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    rnd = (mag * sign).float()
    src = torch.cat([src, raw, rnd])
    save_file({"src": src, "src_bf16": src.bfloat16(), "src_f16": src.half()},
              os.path.join(ST, "convert.safetensors"))


def write_mixed():
    t = {
        "f64": torch.tensor([math.pi, -math.e], dtype=torch.float64),
        "i64": torch.tensor([-(2**40), 1, 2], dtype=torch.int64),
        "i32": torch.tensor([-(2**31), 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f32": torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32),
        "f16": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -0.25, 3.0], dtype=torch.bfloat16),
        "empty": torch.zeros(0, dtype=torch.float32),
        "empty2": torch.zeros(2, 0, dtype=torch.bfloat16),
        "rank4": torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4),
    }
    save_file(t, os.path.join(ST, "mixed.safetensors"), metadata={"format": "pt"})


def write_sharded():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    d = os.path.join(ST, "tiny_qwen2_sharded")
    shutil.rmtree(d, ignore_errors=True)
    torch.manual_seed(0)
    cfg = Qwen2Config(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, vocab_size=32, max_position_embeddings=64, bos_token_id=1,
                      eos_token_id=[2, 3])
    m = Qwen2ForCausalLM(cfg)
    m.save_pretrained(d, max_shard_size="2KB")
    sums = {}
    for k, v in m.state_dict().items():
        v = v.detach().float()
        sums[k] = {"shape": list(v.shape), "sum": float(v.double().sum()), "first": float(v.flatten()[0])}
    with open(os.path.join(ST, "tiny_qwen2_sharded.sums.json"), "w") as f:
        json.dump(sums, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- writer goldens: test_safetensors.c builds exactly these tensors
def writer_tensors():
    def f32(vals, shape):
        return torch.tensor(vals, dtype=torch.float32).reshape(shape)
    return {
        "b.weight": f32([(i - 2.5) * 0.5 for i in range(6)], (2, 3)),
        "a.bias": bits16([0x3F80 + 0x11 * i for i in range(4)], torch.bfloat16),
        "a.10": bits16([0x3C00 + i for i in range(3)], torch.float16),
        "a.9": bits16([0xC000 + 3 * i for i in range(4)], torch.float16).reshape(2, 2),
        "B": torch.tensor([-5, 2**40], dtype=torch.int64),
        "c": torch.tensor(0.125, dtype=torch.float64),
        "d": torch.tensor([-1, 0, 7], dtype=torch.int32),
        "e": torch.tensor([-300, 300], dtype=torch.int16),
        "f": torch.tensor([-1, 2, -3], dtype=torch.int8),
        "g": torch.tensor([0, 1, 254, 255], dtype=torch.uint8),
        "h": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, dtype=torch.float32),
        "empty2": torch.zeros(2, 0, dtype=torch.bfloat16),
        "z": f32([7.0, -7.0], (2, 1, 1, 1)),
        "\u00e9/\u00fcn\u00ef": f32([1.0], (1,)),
        "quote\"back\\slash\ttab\x01del\x7f": f32([2.0], (1,)),
    }


def write_writer_goldens():
    t = writer_tensors()
    save_file(t, os.path.join(ST, "writer_meta.safetensors"), metadata={"format": "pt"})
    save_file(t, os.path.join(ST, "writer_nometa.safetensors"))
    save_file({}, os.path.join(ST, "writer_empty_meta.safetensors"), metadata={"format": "pt"})
    save_file({"x": torch.tensor([1.0])}, os.path.join(ST, "writer_escaped_meta.safetensors"),
              metadata={"k\n\"\\": "v\u00e9\x1f/"})
    # The numpy front end shares the Rust serializer: same bytes (no bf16 in numpy).
    no_bf = {k: v for k, v in t.items() if v.dtype != torch.bfloat16}
    assert pt_save(no_bf, {"format": "pt"}) == np_save({k: v.numpy() for k, v in no_bf.items()}, {"format": "pt"})


def write_tf5_configs():
    from transformers import LlamaConfig, Qwen2Config
    cdir = os.path.join(OUT, "configs")
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=300, max_position_embeddings=131072, rms_norm_eps=1e-5,
                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192},
                rope_theta=500000.0, bos_token_id=1, eos_token_id=[2, 5], attention_bias=True,
                mlp_bias=True).save_pretrained(os.path.join(cdir, "tf5-llama3-rope"))
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                vocab_size=300, rope_scaling={"rope_type": "linear", "factor": 2.0}, rope_theta=20000.0,
                tie_word_embeddings=True).save_pretrained(os.path.join(cdir, "tf5-llama-linear"))
    Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=300, head_dim=32, rope_theta=1000000.0, dtype="bfloat16",
                bos_token_id=None, eos_token_id=7).save_pretrained(os.path.join(cdir, "tf5-qwen2"))


def main():
    os.makedirs(ST, exist_ok=True)
    write_basic()
    write_convert()
    write_mixed()
    write_sharded()
    write_writer_goldens()
    write_tf5_configs()
    # sanity: the padding rule the C writer follows
    with open(os.path.join(ST, "writer_meta.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        assert n % 8 == 0
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
