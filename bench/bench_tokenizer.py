#!/usr/bin/env python3
"""HF `tokenizers` encode throughput on the texts bench_tokenizer.c uses, on
one core (RAYON_NUM_THREADS=1, one encode() call per string, as the C side).

  python3 bench/bench_tokenizer.py [--tokenizer DIR] [--input FILE] [--repeat N]
"""
import argparse
import json
import os
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "data", "tokenizers", "qwen2"))
    ap.add_argument("--input", default=os.path.join(ROOT, "tests", "data", "tokenizer", "encode_gsm8k_train.tsv"))
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(a.tokenizer, "tokenizer.json"))
    texts = []
    with open(a.input, encoding="utf-8") as f:
        for line in f:
            field = line.split("\t", 1)[0]
            if field.startswith('"'):
                texts.append(json.loads(field))
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    times, tokens = [], 0
    for _ in range(a.repeat):
        s = time.perf_counter()
        tokens = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
        times.append(time.perf_counter() - s)
    mb = nbytes / 1e6
    print("HF tokenizers: %d strings, %.2f MB, %d tokens" % (len(texts), mb, tokens))
    print("first pass: %.3f s  %.2f MB/s" % (times[0], mb / times[0]))
    print("best of %d: %.3f s  %.2f MB/s" % (a.repeat, min(times), mb / min(times)))
    print(json.dumps({"bench": "tokenizer_encode_hf", "bytes": nbytes, "tokens": tokens,
                      "cold_mb_s": mb / times[0], "warm_mb_s": mb / min(times)}))


if __name__ == "__main__":
    main()
