#!/usr/bin/env python3
"""Build the bundled demo: synthetic GSM8K-style problems, a byte-level BPE
tokenizer and two tiny Qwen2 models (expert, amateur) that reason step by step.

Run where PyPI is reachable (torch, transformers, tokenizers); the outputs under
data/demo/ are committed, so nothing here runs in CI or at run time.

    python3 tools/make_demo.py [--out data/demo] [--minutes-expert 5]

The problems are multi-step arithmetic stories. Every quantity is small so a
model with ~1M parameters can learn the arithmetic on a CPU in minutes; the
number of steps varies so accuracy lands in the middle rather than at 0 or 100%.
The two models differ only in size and training time: the expert is a 3-layer,
width-128 decoder trained longer, the amateur a 2-layer, width-64 one trained
briefly. Nothing is tuned toward a LightReasoner gain: both models are plain
SFT on freshly generated problems that are disjoint from train.jsonl/test.jsonl.
"""
import argparse
import json
import os
import random
import time

SYS_EVAL = "Please reason step by step, and put your final answer within \\boxed{}."
SYS_SAMPLE = "Please reason step by step."

NAMES = ["Tom", "Ana", "Ben", "Mia", "Sam", "Lea", "Max", "Zoe", "Leo", "Eva", "Kim", "Raj"]
ITEMS = ["apples", "books", "coins", "cards", "pens", "eggs", "shells", "stamps", "cups", "toys"]


def story(rng):
    """One problem: (question, worked answer lines, result)."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    v = rng.randint(2, 20)
    q = [f"{name} has {v} {item}."]
    steps = []
    for _ in range(rng.choice([1, 2, 2, 3, 3, 4])):
        op = rng.choice(["add", "sub", "mul", "add", "sub"])
        if op == "mul" and v <= 12:
            k = rng.randint(2, 4)
            q.append(f"Then {name} gets {k} times as many {item}.")
            steps.append(f"{v} * {k} = {v * k}")
            v = v * k
        elif op == "sub" and v > 2:
            k = rng.randint(1, min(v - 1, 20))
            q.append(f"{name} gives away {k} {item}.")
            steps.append(f"{v} - {k} = {v - k}")
            v = v - k
        else:
            k = rng.randint(1, 20)
            q.append(f"{name} buys {k} more {item}.")
            steps.append(f"{v} + {k} = {v + k}")
            v = v + k
    q.append(f"How many {item} does {name} have now?")
    return " ".join(q), steps, v


def gsm8k_record(rng):
    q, steps, v = story(rng)
    return {"question": q, "answer": "\n".join(steps) + f"\n#### {v}"}


def completion(steps, v):
    return " ".join(s + "." for s in steps) + f" The answer is \\boxed{{{v}}}."


def chatml(system, user):
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nPlease reason step by step.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build_tokenizer(out, corpus, vocab_size):
    from tokenizers import Tokenizer, Regex, decoders, models, normalizers, pre_tokenizers, trainers

    qwen2_regex = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                   r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(qwen2_regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens(specials)
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    ids = {s: tok.token_to_id(s) for s in specials}
    cfg = {
        "add_prefix_space": False, "bos_token": None, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "errors": "replace",
        "model_max_length": 512, "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer",
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return tok, ids


def train_model(name, out, tok, ids, hidden, layers, heads, inter, seconds, seed, lr, init=None):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    rng = random.Random(1000 + seed)
    V = tok.get_vocab_size()
    cfg = Qwen2Config(vocab_size=V, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                      max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-6,
                      tie_word_embeddings=False, bos_token_id=ids["<|endoftext|>"],
                      eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    model = Qwen2ForCausalLM(cfg) if init is None else Qwen2ForCausalLM.from_pretrained(init, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    end = ids["<|im_end|>"]

    def batch(n):
        seqs, masks = [], []
        for _ in range(n):
            q, steps, v = story(rng)
            sysmsg = SYS_EVAL if rng.random() < 0.5 else SYS_SAMPLE
            p = tok.encode(chatml(sysmsg, q), add_special_tokens=False).ids
            c = tok.encode(completion(steps, v), add_special_tokens=False).ids + [end]
            seqs.append(p + c)
            masks.append([0] * len(p) + [1] * len(c))
        L = max(len(s) for s in seqs)
        x = torch.full((n, L), ids["<|endoftext|>"], dtype=torch.long)
        y = torch.full((n, L), -100, dtype=torch.long)
        for i, (s, m) in enumerate(zip(seqs, masks)):
            x[i, :len(s)] = torch.tensor(s)
            y[i, :len(s)] = torch.tensor([t if k else -100 for t, k in zip(s, m)])
        return x, y

    t0, step = time.time(), 0
    model.train()
    while time.time() - t0 < seconds:
        frac = (time.time() - t0) / seconds
        for g in opt.param_groups:  # short warm-up, then cosine-like linear decay
            g["lr"] = lr * min(1.0, (step + 1) / 50) * max(0.05, 1.0 - frac)
        x, y = batch(16)
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"{name}: step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    d = os.path.join(out, name)
    model.save_pretrained(d, safe_serialization=True)
    GenerationConfig(bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                     pad_token_id=ids["<|endoftext|>"], do_sample=False).save_pretrained(d)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(out, fn)) as src, open(os.path.join(d, fn), "w") as dst:
            dst.write(src.read())
    print(f"{name}: {step} steps, final loss {loss.item():.4f}, saved to {d}", flush=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "demo"))
    ap.add_argument("--seconds-expert", type=float, default=600)
    ap.add_argument("--seconds-amateur", type=float, default=90)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--only-data", action="store_true")
    ap.add_argument("--continue-expert", metavar="DIR",
                    help="only continue SFT of the expert in DIR (same data and tokenizer) for --seconds-expert; "
                         "used for the committed expert: 420 s from scratch, then 300 s continued "
                         "(the shared 2-core machine made single long runs impractical)")
    ap.add_argument("--continue-seed", type=int, default=8, help="RNG seed of the continued SFT stream")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)

    # Data sets: fixed seeds, disjoint from the SFT stream (different RNG seeds;
    # an exact collision is possible but rare and harmless for a demo).
    for fname, n, seed in (("train.jsonl", 2000, 1), ("test.jsonl", 200, 2)):
        rng = random.Random(seed)
        with open(os.path.join(out, fname), "w") as f:
            for _ in range(n):
                f.write(json.dumps(gsm8k_record(rng)) + "\n")
    if a.only_data:
        return
    if a.continue_expert:
        from tokenizers import Tokenizer
        src = os.path.abspath(a.continue_expert)
        tok = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
        ids = {s: tok.token_to_id(s) for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            with open(os.path.join(src, fn)) as f_in, open(os.path.join(out, fn), "w") as f_out:
                f_out.write(f_in.read())
        train_model("expert", out, tok, ids, hidden=128, layers=3, heads=4, inter=256,
                    seconds=a.seconds_expert, seed=a.continue_seed, lr=1.5e-3, init=src)
        os.remove(os.path.join(out, "tokenizer.json"))
        os.remove(os.path.join(out, "tokenizer_config.json"))
        return
    rng = random.Random(3)
    corpus = []
    for _ in range(4000):
        q, steps, v = story(rng)
        corpus.append(chatml(rng.choice([SYS_EVAL, SYS_SAMPLE]), q) + completion(steps, v))
    tok, ids = build_tokenizer(out, corpus, a.vocab)
    print(f"tokenizer: {tok.get_vocab_size()} tokens, specials {ids}", flush=True)
    train_model("amateur", out, tok, ids, hidden=64, layers=2, heads=4, inter=128,
                seconds=a.seconds_amateur, seed=11, lr=3e-3)
    train_model("expert", out, tok, ids, hidden=128, layers=3, heads=4, inter=256,
                seconds=a.seconds_expert, seed=7, lr=3e-3)
    os.remove(os.path.join(out, "tokenizer.json"))
    os.remove(os.path.join(out, "tokenizer_config.json"))


if __name__ == "__main__":
    main()
