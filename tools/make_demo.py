#!/usr/bin/env python3
"""Build the bundled demo: synthetic GSM8K-style problems, a byte-level BPE
tokenizer and two tiny Qwen2 models (expert, amateur) that reason step by step.

Run where PyPI is reachable (torch, transformers, tokenizers); the outputs under
data/demo/ are committed, so nothing here runs in CI or at run time.

    python3 tools/make_demo.py [--out data/demo] [--minutes-expert 5]

The problems are multi-step arithmetic stories. Every quantity is small so a
model with ~1M parameters can learn the arithmetic on a CPU in minutes; the
number of steps varies so accuracy lands in the middle rather than at 0 or 100%.
The two models differ only in size and training time: the expert is a
3-layer, width-128 decoder, the amateur a 2-layer, width-64 one. Both are plain
SFT on freshly generated problems (disjoint RNG streams from train.jsonl and
test.jsonl); nothing is tuned toward a LightReasoner gain. The committed
models were chosen by their own test accuracy only, from snapshots of two runs
on one H100 (the tokenizer kept from the first CPU version):

    python3 tools/make_demo.py --out /tmp/demo --keep-tokenizer data/demo/expert \
        --device cuda --batch 256 --seconds-amateur 60 --snapshots-amateur 10,20,40 ...
        -> amateur = snapshot amateur-40s (18.5% on test.jsonl)
    python3 tools/make_demo.py --out /tmp/demo --keep-tokenizer data/demo/expert \
        --device cuda --batch 128 --lr-expert 1e-3 --seconds-expert 115 \
        --snapshots-expert 10,15,20,...,110
        -> expert = snapshot expert-20s (59.5%; the 15 s one had 14%, the 25 s one 79.5%)

An expert past ~30 s solves 95-100%, which leaves nothing for the method to
improve; one at 20 s sits in the middle of the 30-70% the demo asks for.
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


def train_model(name, out, tok, ids, hidden, layers, heads, inter, seconds, seed, lr, init=None,
                device="cpu", batch_size=16, snapshots=(), test=None):
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
    model.to(device)
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

    pending = sorted(snapshots)

    def save(mdl, d):
        save_model(mdl, d, out, ids)
        mdl.to(device)

    t0, step = time.time(), 0
    model.train()
    while time.time() - t0 < seconds:
        frac = (time.time() - t0) / seconds
        for g in opt.param_groups:  # short warm-up, then cosine-like linear decay
            g["lr"] = lr * min(1.0, (step + 1) / 50) * max(0.05, 1.0 - frac)
        x, y = batch(batch_size)
        loss = model(input_ids=x.to(device), labels=y.to(device)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 500 == 0:
            print(f"{name}: step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
        if pending and time.time() - t0 >= pending[0]:
            # A snapshot (kept next to the final model for choosing the
            # committed one by its test accuracy, never by any LightReasoner gain).
            at = pending.pop(0)
            model.eval()
            acc = accuracy(model, tok, ids, test, device) if test else float("nan")
            save(model, os.path.join(out, f"{name}-{int(at)}s"))
            print(f"{name}: snapshot at {at:.0f}s step {step}: test accuracy {acc:.3f}", flush=True)
            model.train()
    model.eval()
    d = os.path.join(out, name)
    save(model, d)
    if test:
        print(f"{name}: final test accuracy {accuracy(model, tok, ids, test, device):.3f}", flush=True)
    print(f"{name}: {step} steps, final loss {loss.item():.4f}, saved to {d}", flush=True)
    return model


def save_model(model, d, tok_dir, ids):
    from transformers import GenerationConfig
    model.to("cpu").save_pretrained(d, safe_serialization=True)

    GenerationConfig(bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                     pad_token_id=ids["<|endoftext|>"], do_sample=False).save_pretrained(d)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(tok_dir, fn)) as src, open(os.path.join(d, fn), "w") as dst:
            dst.write(src.read())


def accuracy(model, tok, ids, test, device, max_new_tokens=96):
    """Greedy accuracy on test records with the SPEC evaluation prompt: a
    quick estimate for choosing snapshots; `lightreasoner eval` is the
    measurement that counts."""
    import torch
    pad, end = ids["<|endoftext|>"], ids["<|im_end|>"]
    correct = 0
    for i in range(0, len(test), 256):
        part = test[i:i + 256]
        enc = [tok.encode(chatml(SYS_EVAL, r["question"]), add_special_tokens=False).ids for r in part]
        L = max(len(e) for e in enc)
        x = torch.full((len(enc), L), pad, dtype=torch.long)
        m = torch.zeros((len(enc), L), dtype=torch.long)
        for j, e in enumerate(enc):  # left padding
            x[j, L - len(e):] = torch.tensor(e)
            m[j, L - len(e):] = 1
        with torch.no_grad():
            y = model.generate(input_ids=x.to(device), attention_mask=m.to(device), max_new_tokens=max_new_tokens,
                               do_sample=False, eos_token_id=[end, pad], pad_token_id=pad)
        for j, r in enumerate(part):
            text = tok.decode(y[j, L:].tolist(), skip_special_tokens=True)
            k = text.rfind("\\boxed{")
            got = text[k + 7:].split("}")[0].strip() if k >= 0 else None
            correct += got == r["answer"].split("####")[-1].strip()
    return correct / len(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "demo"))
    ap.add_argument("--seconds-expert", type=float, default=600)
    ap.add_argument("--seconds-amateur", type=float, default=90)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the committed models were trained on one GPU)")
    ap.add_argument("--batch", type=int, default=16, help="SFT batch size")
    ap.add_argument("--lr-expert", type=float, default=3e-3)
    ap.add_argument("--lr-amateur", type=float, default=3e-3)
    ap.add_argument("--snapshots-expert", default="", help="comma-separated seconds: also save expert-<s>s/ then")
    ap.add_argument("--snapshots-amateur", default="", help="likewise for the amateur")
    ap.add_argument("--only-data", action="store_true")
    ap.add_argument("--keep-tokenizer", metavar="DIR",
                    help="reuse the tokenizer of the model directory DIR (and keep train/test.jsonl) instead of "
                         "training a new one; only the two models are trained")
    a = ap.parse_args()
    import torch
    if a.device == "cpu":
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
    with open(os.path.join(out, "test.jsonl")) as f:
        test = [json.loads(line) for line in f]
    if a.keep_tokenizer:
        from tokenizers import Tokenizer
        src = os.path.abspath(a.keep_tokenizer)
        tok = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
        ids = {s: tok.token_to_id(s) for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            with open(os.path.join(src, fn)) as f_in, open(os.path.join(out, fn), "w") as f_out:
                f_out.write(f_in.read())
    else:
        rng = random.Random(3)
        corpus = []
        for _ in range(4000):
            q, steps, v = story(rng)
            corpus.append(chatml(rng.choice([SYS_EVAL, SYS_SAMPLE]), q) + completion(steps, v))
        tok, ids = build_tokenizer(out, corpus, a.vocab)
    print(f"tokenizer: {tok.get_vocab_size()} tokens, specials {ids}", flush=True)
    snaps = lambda text: [float(x) for x in text.split(",") if x]
    train_model("amateur", out, tok, ids, hidden=64, layers=2, heads=4, inter=128, seconds=a.seconds_amateur,
                seed=11, lr=a.lr_amateur, device=a.device, batch_size=a.batch, snapshots=snaps(a.snapshots_amateur),
                test=test)
    train_model("expert", out, tok, ids, hidden=128, layers=3, heads=4, inter=256, seconds=a.seconds_expert,
                seed=7, lr=a.lr_expert, device=a.device, batch_size=a.batch, snapshots=snaps(a.snapshots_expert),
                test=test)
    os.remove(os.path.join(out, "tokenizer.json"))
    os.remove(os.path.join(out, "tokenizer_config.json"))


if __name__ == "__main__":
    main()
