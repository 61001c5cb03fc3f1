#!/usr/bin/env python3
"""Copies a Hugging Face model directory with every F32 tensor of its
safetensors files rounded to bf16 (round to nearest even), config.json's
dtype set to bfloat16, everything else copied. Pure Python (no numpy or
torch): meant for the small demo models, so that the GPU check runs the
CUDA backend's bf16 GEMM path on them (the CPU reference loads the same
bf16 file, widened exactly).

    python3 tools/gpu_check/to_bf16.py SRC_DIR DST_DIR"""
import array
import json
import os
import shutil
import struct
import sys


def f32_to_bf16(raw):
    a = array.array("I")
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    out = array.array("H", bytes(2 * len(a)))
    for i, u in enumerate(a):
        if (u & 0x7F800000) == 0x7F800000:  # inf / nan keep their class
            out[i] = (u >> 16) | (0x40 if (u & 0x7FFFFF) else 0)
        else:
            out[i] = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def convert(src, dst):
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    new_header, chunks, off = {}, [], 0
    for name, t in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                          key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = t["data_offsets"]
        raw = data[a:b]
        dtype = t["dtype"]
        if dtype == "F32":
            raw, dtype = f32_to_bf16(raw), "BF16"
        new_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    new_header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(new_header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for c in chunks:
            f.write(c)
    os.replace(tmp, dst)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    os.makedirs(dst, exist_ok=True)
    for f in sorted(os.listdir(src)):
        s, d = os.path.join(src, f), os.path.join(dst, f)
        if f.endswith(".safetensors"):
            convert(s, d)
        elif f == "config.json":
            with open(s) as fh:
                c = json.load(fh)
            c["dtype"] = "bfloat16"
            if "torch_dtype" in c:
                c["torch_dtype"] = "bfloat16"
            with open(d, "w") as fh:
                json.dump(c, fh, indent=2)
        elif os.path.isfile(s):
            shutil.copyfile(s, d)
    print(f"to_bf16: {src} -> {dst}")


if __name__ == "__main__":
    main()
