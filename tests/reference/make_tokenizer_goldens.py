#!/usr/bin/env python3
"""Goldens for the tokenizer tests (tests/test_tokenizer_*.c), made with
Hugging Face transformers + tokenizers (pip install transformers tokenizers
jinja2). Run from anywhere; needs ../shared/data (the GSM8K and eval sets and
the Qwen2 tokenizer files) only here, never in the tests.

  python3 tests/reference/make_tokenizer_goldens.py [--shared DIR]

Writes
  data/tokenizers/qwen2/          the vendored Qwen2 tokenizer: vocab.json,
                                  merges.txt, tokenizer_config.json, ... copied,
                                  plus tokenizer.json saved by the HF fast
                                  tokenizer that transformers builds from
                                  vocab.json + merges.txt
  tests/data/tokenizer/
    encode_*.tsv                  one string per line: TEXT <TAB> IDS, where
                                  TEXT is a JSON string, or "hex:" + the bytes in
                                  hex for strings JSON cannot carry (invalid
                                  UTF-8, NUL); IDS are space-separated. For
                                  invalid UTF-8 the ids are HF's for
                                  bytes.decode('utf-8', 'replace').
        encode_gsm8k_train.tsv / encode_gsm8k_test.tsv   every question and answer
        encode_eval.tsv           SVAMP, ASDiv (body + " " + question) and MATH-500
                                  texts (every problem, the first 150 solutions)
        encode_hard.tsv           hand-made hard strings (see hard_strings())
    decode.tsv                    IDS <TAB> TEXT(decode) <TAB> TEXT(decode with
                                  skip_special_tokens): HF's decode output,
                                  including ids whose bytes are invalid UTF-8
    pretok.jsonl                  HF Split pre-tokenizer pieces for several
                                  patterns, behaviours and texts
    variants.jsonl                tokenizer.json variants (a patch applied to the
                                  vendored file) with encode goldens: merges as
                                  strings, ignore_merges, GPT-2 ByteLevel regex
                                  (with and without add_prefix_space), the
                                  Llama-3 split regex, added tokens with
                                  lstrip/rstrip/single_word/normalized
    (chat.jsonl and chat_templates.json come from make_chat_goldens.py)
    LICENSE-gsm8k, LICENSE-eval   licences of the vendored texts

Every golden is cross-checked here: the transformers tokenizer built from
vocab.json + merges.txt and tokenizers.Tokenizer loaded from the saved
tokenizer.json must agree, or the script stops.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata

import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
TOKDIR = os.path.join(ROOT, "data", "tokenizers", "qwen2")
SLOW_FILES = ["vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json",
              "special_tokens_map.json", "LICENSE"]

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# What HF's \s matches (White_Space) plus look-alikes that are not spaces.
UNICODE_SPACES = ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680"] + \
    [chr(c) for c in range(0x2000, 0x200B)] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_SPACES = ["\u180e", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x1c", "\x1d", "\x1e", "\x1f"]


# ---------------------------------------------------------------- helpers

def text_field(t):
    """A TSV text field: JSON string, or hex for bytes JSON cannot carry."""
    if isinstance(t, bytes):
        return "hex:" + t.hex()
    if "\x00" in t:
        return "hex:" + t.encode("utf-8").hex()
    s = json.dumps(t, ensure_ascii=False)
    assert "\t" not in s and "\n" not in s
    return s


def as_str(t):
    """What HF is given for a test string (invalid UTF-8 as Python decodes it)."""
    return t.decode("utf-8", "replace") if isinstance(t, bytes) else t


class HF:
    def __init__(self, shared_tok):
        # transformers' tokenizer from the slow files only (no tokenizer.json).
        self.slowdir = tempfile.mkdtemp()
        for f in SLOW_FILES:
            if os.path.exists(os.path.join(shared_tok, f)):
                shutil.copy(os.path.join(shared_tok, f), self.slowdir)
        self.tok = AutoTokenizer.from_pretrained(self.slowdir)
        self.json_str = self.tok._tokenizer.to_str(pretty=False)
        self.fast = Tokenizer.from_str(self.json_str)

    def encode(self, texts):
        strs = [as_str(t) for t in texts]
        a = [e.ids for e in self.fast.encode_batch(strs, add_special_tokens=False)]
        b = self.tok(strs, add_special_tokens=False)["input_ids"]
        c = self.tok(strs)["input_ids"]  # Qwen2 adds no BOS/EOS
        for s, x, y, z in zip(strs, a, b, c):
            if not x == y == z:
                sys.exit("HF disagrees with itself on %r" % s)
        return a

    def decode(self, ids, skip):
        a = self.fast.decode(ids, skip_special_tokens=skip)
        b = self.tok.decode(ids, skip_special_tokens=skip)
        if a != b:
            sys.exit("HF decode disagrees with itself on %r" % ids)
        return a


def write_encode(path, texts, hf):
    ids = hf.encode(texts)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for t, i in zip(texts, ids):
            f.write("%s\t%s\n" % (text_field(t), " ".join(map(str, i))))
    print("%-40s %6d strings %9d ids" % (os.path.relpath(path, ROOT), len(texts), sum(map(len, ids))))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- hard strings

def hard_strings(specials):
    rnd = random.Random(1234)
    s = []
    # whitespace runs and \r\n mixes
    for k in (1, 2, 3, 4, 5, 8, 16, 33):
        s += [" " * k, "\t" * k, "\n" * k, "\r\n" * k, "a" + " " * k + "b", "a" + " " * k, " " * k + "a",
              "x" + "\n" * k + "y", "x" + " \n" * k + "y"]
    s += ["\r", "\n\r", "\r\r\n", " \r\n ", "a\r\nb", "a\rb", "a\n\rb", "a \r\n\tb", "\t\n \r", "  \n  \n",
          "end.\n\n", "end.  \n", "line1\r\nline2\r\n\r\nline4", "\n\n\n\nx", "x\n \n \n", "!!!\n\n", "a\t\tb",
          "\t a", " \t\n\x0b\x0c\r", "1 \n 2", "foo \r\n\r\n bar", "  \r  \n  "]
    # digits
    s += ["0", "7", "42", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "-42", "+7", "1e10",
          "2^10=1024", "$1,234.56", "50%", "1/2", "0.000001", "007", "٣٤٥", "²³", "Ⅻ", "½ cup", "１２３",
          "१२३", "x1y22z333", "12abc34", "a1", "1a", "3rd", "21st century", "9" * 100, "0" * 57,
          "1 2 3 4 5", "1\n2\n3", "<<48/2=24>>24", "#### 72", "48+24 = <<48+24=72>>72"]
    # contractions in every case
    for c in ["s", "t", "re", "ve", "m", "ll", "d"]:
        forms = {c, c.upper(), c.capitalize(), c[0] + c[1:].upper()} if len(c) > 1 else {c, c.upper()}
        for f in sorted(forms):
            s += ["I'" + f, "it'" + f + " ok", "'" + f, " '" + f, "X'" + f + "Y", "'" + f + "'" + f]
    s += ["don't", "DON'T", "y'all", "rock'n'roll", "it’s", "'ſ", "'ſx", "ma'am", "''", "'", "' s", "'123",
          "O'Neil's", "we'd've", "I'M", "you'RE"]
    # scripts
    s += ["你好，世界！", "我有3个苹果和12个橘子。", "日本語のテキスト、カタカナ、ひらがな。", "한국어 텍스트입니다",
          "Привет, мир! Ёлка.", "ПРИВЕТ мир123", "नमस्ते दुनिया", "क्षत्रिय", "ខ្ញុំស្រឡាញ់ភាសាខ្មែរ",
          "សួស្ដី", "مرحبا بالعالم", "שלום עולם", "สวัสดีชาวโลก", "Γειά σου Κόσμε", "Ελληνικά ΤΕΛΟΣ",
          "ქართული", "Հայերեն", "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟏𝟐𝟑", "ℌ𝔢𝔩𝔩𝔬", "Ａｂｃ！", "ｶﾀｶﾅ"]
    # emoji
    s += ["👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇺🇸🇯🇵", "1️⃣", "a😀b", "😀😃😄", "❤️", "🧑🏻‍💻 coding", "✓ done", "★☆",
          "\u200d", "a\u200db", "x\ufe0fy"]
    # combining marks and NFC
    s += ["e\u0301", "cafe\u0301", "a\u0308\u0301", "a\u0301\u0316", "a\u0316\u0301", "A\u030a", "\u212b",
          "\u1e9b\u0323", "\u0071\u0307\u0323", "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8",
          "\u0b47\u0b3e", "\u00c5\u0301", "o\u0302\u0300\u0323", "\u0344", "\u0958", "\ufb2a", "\u2126",
          "\u0041\u0300\u0300\u0300", "n\u0303o\u0303", "\u0301start", " \u0301", "1\u0301", "Z\u0335\u0336",
          "\u1ec7", "e\u0323\u0302", "e\u0302\u0323", "\u05d0\u05b7\u05bc", "\u0cbf\u0cd5", "\u0dd9\u0dcf",
          "\U0001d15e", "\U000110ab", "\u2adc", "\u0f73", "\u0f81", "\u3070", "\u306f\u3099", "\uff8a\uff9e"]
    # very long words
    s += ["a" * 5000, "supercalifragilistic" * 200, "".join(rnd.choice("abcdefghij") for _ in range(8000)),
          "!" * 3000, "-=" * 2000, " " * 10000, "\n" * 3000, "9" * 4000, "ab " * 3000, "é" * 2000,
          "漢" * 3000, "Ĳ" * 100, "\u0301" * 200, "x" + "\u0301" * 300]
    # special tokens in context, and text that merely resembles them
    for t in specials:
        s += [t, "a" + t + "b", " " + t + " ", "\n" + t + "\n", t + t, t + " " + t, "x " + t, t + "\n\n",
              "<" + t + ">", t[:-1], t[1:], t.upper(), t.replace("|", "| "), "'" + t + "'s", "1" + t + "2"]
    s += ["<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
          "<|im_start|>assistant\n", "<|im_start|", "<|im_start |>", "< |im_end|>", "<|im_end||>",
          "<<|im_end|>>", "<|endoftext", "|im_end|", "<|im_sep|>", "<|im_start|><|im_start|", "<||>", "<|>",
          "<|im_end|><|endoftext|><|im_start|>", "<|IM_END|>", "<|im_end|\u0301>", "<|im_end|>\u0301"]
    # Unicode whitespace of every kind, and characters that only look like it
    for w in UNICODE_SPACES + NOT_SPACES:
        s += ["a" + w + "b", w + w + "a", "a" + w, w + "\n", "1" + w + "2", w + "!", "x" + w + " y", w]
    # control characters and NUL
    s += ["a\x00b", "\x00", "\x01\x02\x03", "\x7f", "tab\there", "\x1b[31mred\x1b[0m", "a\x08b"]
    # invalid UTF-8
    s += [b"\xff", b"\xc3", b"\xc3\x28", b"\xe2\x82", b"\xe2\x82\x28", b"\xf0\x9f\x98", b"\xf0\x9f\x98a",
          b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
          b"\xf0\x80\x80\xaf", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"abc\xffdef", b"\x80",
          b"\x80\x80\x80", b"\xbf", b"\xfe\xfe\xff\xff", b"caf\xe9", b"\xe9t\xe9", b"a\xf5b", b"\xf4\x8f\xbf\xbf",
          b"\xef\xbf\xbd", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc", b"\xf0\x28\x8c\x28",
          b"<|im_end|>\xff", b"\xff<|im_end|>", b"<|im_\xffend|>", b"12\x8034", b" \xa0 ", b"\xc2\xa0\xc2"]
    for _ in range(40):
        s.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 24))))
    # random mixtures from many blocks (letters, marks, digits, spaces, punctuation)
    pools = [range(0x20, 0x7f), range(0xa0, 0x250), range(0x300, 0x370), range(0x370, 0x530), range(0x591, 0x5f5),
             range(0x600, 0x700), range(0x900, 0x980), range(0xe00, 0xe60), range(0x1100, 0x1200),
             range(0x1780, 0x17fa), range(0x1e00, 0x1f00), range(0x2000, 0x2070), range(0x3000, 0x3100),
             range(0x4e00, 0x4e80), range(0xac00, 0xac80), range(0xfb00, 0xfb50), range(0xff00, 0xff70),
             range(0x1f300, 0x1f680), range(0x1d400, 0x1d500), range(0x10d00, 0x10d40), range(0x1c80, 0x1c90),
             range(0xa7c0, 0xa7e0), range(0x1df0, 0x1e00), range(0x898, 0x8a0)]
    for _ in range(220):
        k = rnd.randrange(1, 40)
        chars = []
        for _ in range(k):
            pool = rnd.choice(pools)
            c = rnd.choice(pool)
            if not 0xD800 <= c < 0xE000:
                chars.append(chr(c))
        s.append("".join(chars))
    # every code point class HF's regex and NFC distinguish, a slice at a time
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for _ in range(60):
        a = rnd.randrange(len(cps) - 64)
        s.append("".join(chr(c) for c in cps[a:a + 48]))
    return s


# ---------------------------------------------------------------- sections

def vendor_tokenizer(shared_tok, hf):
    os.makedirs(TOKDIR, exist_ok=True)
    for f in SLOW_FILES:
        if os.path.exists(os.path.join(shared_tok, f)):
            shutil.copyfile(os.path.join(shared_tok, f), os.path.join(TOKDIR, f))
    with open(os.path.join(TOKDIR, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(hf.json_str)


def corpus_texts(shared):
    gsm = {}
    for split in ("train", "test"):
        rows = read_jsonl(os.path.join(shared, "gsm8k", split + ".jsonl"))
        gsm[split] = [t for r in rows for t in (r["question"], r["answer"])]
    ev = []
    for r in read_jsonl(os.path.join(shared, "eval", "svamp", "test.jsonl")):
        ev.append(r["Body"] + " " + r["Question"])
    for r in read_jsonl(os.path.join(shared, "eval", "asdiv", "test.jsonl")):
        ev.append(r["body"] + " " + r["question"])
    math = read_jsonl(os.path.join(shared, "eval", "math500", "test.jsonl"))
    ev += [r["problem"] for r in math]
    ev += [r["solution"] for r in math[:150]]  # LaTeX-heavy; a third keeps the goldens small
    return gsm, ev


def decode_cases(hf, hard):
    rnd = random.Random(99)
    vocab = hf.tok.get_vocab()
    n = len(vocab)
    b2u = {}
    # GPT-2's byte alphabet, rebuilt to find each single-byte token
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra = 0
    for b in range(256):
        if b in printable:
            b2u[b] = chr(b)
        else:
            b2u[b] = chr(256 + extra)
            extra += 1
    byte_id = {b: vocab[b2u[b]] for b in range(256)}
    cases = []
    for seq in [b"\xe2\x82", b"\xe2\x82a", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf", b"\xff\xfe",
                b"\xf4\x90\x80\x80", b"a\x80b", b"\xe0\x80\xaf", b"\xf0\x9f\x98\x80", b"\xc3\xa9\xc3",
                b"\xe2\x82\xac\xe2", b"\xf0\x28\x8c\xbc", b"\xe2\x28\xa1", b"\x00", b"\xf1\x80\x80",
                b"\xf1\x80\x80\xe1\x80\xc2", b"\x80\x80\x80\x80"]:
        cases.append([byte_id[b] for b in seq])
    added = sorted(hf.tok.added_tokens_decoder)
    for _ in range(300):
        k = rnd.randrange(1, 16)
        ids = [rnd.randrange(n) for _ in range(k)]
        if rnd.random() < 0.3:
            ids.insert(rnd.randrange(len(ids) + 1), rnd.choice(added))
        cases.append(ids)
    enc = hf.encode(hard[:400])
    for ids in enc:
        cases.append(ids)
        if len(ids) > 2:  # cut inside a multi-byte character now and then
            cases.append(ids[:rnd.randrange(1, len(ids))])
    cases.append(added + [byte_id[0xe2]] + added)
    cases.append([])
    return cases


def pretok_cases(hard):
    # (cJSON strings end at NUL, so texts with one stay in the TSV goldens only)
    usable = [t for t in hard if isinstance(t, str) and len(t) < 300 and "\x00" not in t]
    odd = set(UNICODE_SPACES[6:] + NOT_SPACES)
    small = usable[:120] + ["a,b,,c", ",,", "a  b   c", " lead", "trail ", "x-y-z", "--", "a-b--c-", "-"]
    # the split regexes also see every Unicode-whitespace string and the random mixtures
    full = small + [t for t in usable[120:] if odd & set(t)] + usable[-280:]
    configs = [(QWEN2_PATTERN, "isolated", False, full), (LLAMA3_PATTERN, "isolated", False, full),
               (GPT2_PATTERN, "isolated", False, full), (r"\s+", "removed", False, full),
               (r"-", "merged_with_previous", False, small), (r"-", "merged_with_next", False, small),
               (r"-", "contiguous", False, small), (r",", "isolated", True, small),
               (r"\p{N}+", "merged_with_next", True, small), (r"\s", "contiguous", False, full),
               (r"\h+", "isolated", False, small), (r"[\s\p{L}]+", "removed", False, small),
               (r"\S+", "isolated", False, full), (r"\P{L}+", "isolated", False, full),
               (r"[^\S\n]+", "isolated", False, small), (r"x?", "isolated", False, small)]
    out = []
    for pat, beh, inv, texts in configs:
        sp = pre_tokenizers.Split(Regex(pat), beh, invert=inv)
        for t in texts:
            out.append({"pattern": pat, "behavior": beh, "invert": inv, "text": t,
                        "pieces": [p for p, _ in sp.pre_tokenize_str(t)]})
    # a literal (non-regex) split pattern
    for t in small[:60] + ["a||b", "||"]:
        sp = pre_tokenizers.Split("||", "isolated")
        out.append({"pattern": "||", "literal": True, "behavior": "isolated", "invert": False, "text": t,
                    "pieces": [p for p, _ in sp.pre_tokenize_str(t)]})
    return out


def variant_specs():
    nb = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return [
        ("merges_as_strings", {"merges_as_strings": True}),
        ("ignore_merges", {"model.ignore_merges": True}),
        ("gpt2_bytelevel", {"normalizer": None, "pre_tokenizer": nb}),
        ("gpt2_bytelevel_prefix", {"normalizer": None, "pre_tokenizer": dict(nb, add_prefix_space=True)}),
        ("llama3_split", {"normalizer": None, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}),
        ("split_then_prefix", {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": "\n"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}}),
        ("added_flags", {"added_tokens_extra": [
            {"id": 151646, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
             "normalized": False, "special": True},
            {"id": 151647, "content": "[R]", "single_word": False, "lstrip": False, "rstrip": True,
             "normalized": False, "special": True},
            {"id": 151648, "content": "word", "single_word": True, "lstrip": False, "rstrip": False,
             "normalized": False, "special": False},
            {"id": 151649, "content": "cafe\u0301", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False},
            {"id": 151650, "content": "<both>", "single_word": False, "lstrip": True, "rstrip": True,
             "normalized": False, "special": False},
            {"id": 151651, "content": "<mask>x", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}]}),
    ]


def apply_patch(d, patch):
    """Kept in step with apply_patch() in tests/test_tokenizer_variants.c."""
    d = json.loads(json.dumps(d))
    for k, v in patch.items():
        if k == "merges_as_strings":
            d["model"]["merges"] = [" ".join(m) for m in d["model"]["merges"]]
        elif k == "model.ignore_merges":
            d["model"]["ignore_merges"] = v
        elif k == "added_tokens_extra":
            d["added_tokens"] = d["added_tokens"] + v
        else:
            d[k] = v
    return d


def variant_texts(hard):
    extra = ["a <mask> b", "a   <mask>", "<mask>", "\n\n<mask>\n", "x<mask>x", "a<mask>xb", "<mask>x",
             "[R]   next", "[R]\n\nz", "x[R]", "word", "a word here", "sword", "words", "word!", "_word", "word_",
             "1word", "wordword", "café", "cafe\u0301", "cafe\u0301s", "CAFÉ", " <both>  ", "a  <both>  b",
             "<both><both>", "  <mask>   [R]   word  ", "é word", "word é"]
    return [t for t in hard if not isinstance(t, bytes) and len(t) < 2000][:400] + extra + \
        [t for t in hard if isinstance(t, bytes)][:10]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    args = ap.parse_args()
    shared_tok = os.path.join(args.shared, "tokenizers", "qwen2")
    os.makedirs(OUT, exist_ok=True)
    print("transformers %s, tokenizers %s" % (transformers.__version__, tokenizers.__version__))

    hf = HF(shared_tok)
    vendor_tokenizer(shared_tok, hf)
    # The vendored tokenizer.json must tokenize like the slow-file tokenizer.
    reloaded = AutoTokenizer.from_pretrained(TOKDIR)

    specials = [t.content for t in hf.tok.added_tokens_decoder.values()]
    hard = hard_strings(specials)
    gsm, ev = corpus_texts(args.shared)
    write_encode(os.path.join(OUT, "encode_gsm8k_train.tsv"), gsm["train"], hf)
    write_encode(os.path.join(OUT, "encode_gsm8k_test.tsv"), gsm["test"], hf)
    write_encode(os.path.join(OUT, "encode_eval.tsv"), ev, hf)
    write_encode(os.path.join(OUT, "encode_hard.tsv"), hard, hf)
    for t in hard + gsm["test"][:200]:
        if reloaded.encode(as_str(t), add_special_tokens=False) != hf.encode([t])[0]:
            sys.exit("tokenizer.json reloaded by transformers disagrees on %r" % t)

    with open(os.path.join(OUT, "decode.tsv"), "w", encoding="utf-8", newline="\n") as f:
        cases = decode_cases(hf, hard)
        for ids in cases:
            f.write("%s\t%s\t%s\n" % (" ".join(map(str, ids)), text_field(hf.decode(ids, False)),
                                      text_field(hf.decode(ids, True))))
    print("tests/data/tokenizer/decode.tsv %d cases" % len(cases))

    with open(os.path.join(OUT, "pretok.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        cases = pretok_cases(hard)
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print("tests/data/tokenizer/pretok.jsonl %d cases" % len(cases))

    base = json.loads(hf.json_str)
    texts = variant_texts(hard)
    with open(os.path.join(OUT, "variants.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for name, patch in variant_specs():
            tk = Tokenizer.from_str(json.dumps(apply_patch(base, patch)))
            cases = [[text_field(t), tk.encode(as_str(t), add_special_tokens=False).ids] for t in texts]
            f.write(json.dumps({"name": name, "patch": patch, "cases": cases}, ensure_ascii=False) + "\n")
    print("tests/data/tokenizer/variants.jsonl %d variants x %d texts" % (len(variant_specs()), len(texts)))

    shutil.copyfile(os.path.join(args.shared, "gsm8k", "LICENSE"), os.path.join(OUT, "LICENSE-gsm8k"))
    shutil.copyfile(os.path.join(args.shared, "eval", "LICENSE-qwen25-math-eval"), os.path.join(OUT, "LICENSE-eval"))
    shutil.rmtree(hf.slowdir)


if __name__ == "__main__":
    main()
