#!/usr/bin/env python3
"""Build data/demo-paper/: a demo family with the paper's structure (issue 17).

LightReasoner's gains come from two models "born of the same root": a general
base model (the amateur, Qwen2.5-0.5B) and the same family after domain
post-training (the expert, Qwen2.5-Math), itself a base model that formats
answers poorly under a chat prompt. This script builds that structure at toy
scale, on the story vocabulary of tools/make_demo.py:

  general/       G: a 3-layer width-128 Qwen2 trained from scratch on a GENERAL
                 synthetic corpus over the arithmetic stories: look-ups ("how
                 many did X have at first"), counting (how many events), copying
                 (repeat the numbers), chat Q&A (who has what). No arithmetic
                 result is ever shown to it. 70% ChatML chat turns
                 (answers end "The answer is \\boxed{n}."), 30% base-model text
                 ("Question: ... Answer: ... The answer is n.").
  expert/        G + continued training on arithmetic worked solutions in the
                 base-model format only ("Question: ...\\nAnswer: 4 - 3 = 1. ...
                 The answer is 1."), with 20% of G's corpus replayed. It never
                 sees a ChatML arithmetic turn: under the chat prompt its answer
                 format and its transfer are weak, as for Qwen2.5-Math.
  amateur/       a smaller sibling (2 layers, width 64) trained on G's corpus
                 only, for as many steps as G: the paper's general amateur.
  amateur-math/  negative control: the amateur + the expert's continued
                 training recipe, for as many steps as the chosen expert (a
                 same-domain smaller model, the paper's losing Math-7B/Math-1.5B
                 pairing). G itself (general/) is the other amateur of the study.

Selection rule, fixed here before any LightReasoner run and never changed
after one (nothing is chosen by, or tuned toward, a LightReasoner result):
  * G and the amateur: the final model of a fixed step budget.
  * the expert: the continued training saves a snapshot every
    --snapshot-every steps; the expert is the EARLIEST snapshot whose accuracy
    on the 200-problem selection set (test-select.jsonl) in ITS OWN base-model
    format ("Question: q\\nAnswer:") is >= 90% — a competent domain model — or
    the most accurate one if none reaches 90%. Its chat-prompt accuracy is
    whatever it is: that is what the study measures.
  * amateur-math: the amateur after the same number of continued-training
    steps as the chosen expert.
Every number the script prints is a quick Python greedy estimate;
`lightreasoner eval` gives the numbers that count (README in the output).

Data (disjoint seeded streams, and every training stream skips the questions
of the three evaluation files): train.jsonl (2000 problems for sampling, seed
21), test.jsonl (1000 study problems, seed 22), test-select.jsonl (200
problems for the model-selection rule, seed 23; never used by the study).

    nice -n 10 tests/reference/.venv/bin/python tools/make_demo_paper.py --out data/demo-paper

CPU, one thread (--threads), about 30-40 minutes on a loaded 2-core machine.
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_demo import CHAT_TEMPLATE, ITEMS, NAMES, SYS_EVAL, SYS_SAMPLE, build_tokenizer, chatml, gsm8k_record  # noqa: E402
from make_demo import save_model, story  # noqa: E402

EOS_CHAT = "<|im_end|>"
EOS_BASE = "<|endoftext|>"


def story_events(rng):
    """A story in make_demo's language, with its events (kind, k), no questions."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    v = rng.randint(2, 20)
    sents, events = [f"{name} has {v} {item}."], []
    for _ in range(rng.choice([1, 2, 2, 3, 3, 4])):
        op = rng.choice(["add", "sub", "mul", "add", "sub"])
        k = rng.randint(1, 20)
        if op == "mul":
            k = rng.randint(2, 4)
            sents.append(f"Then {name} gets {k} times as many {item}.")
        elif op == "sub":
            sents.append(f"{name} gives away {k} {item}.")
        else:
            sents.append(f"{name} buys {k} more {item}.")
        events.append((op, k))
    return name, item, v, sents, events


def general_task(rng):
    """One general (non-arithmetic) question about a story: (user text, answer
    text without the final-answer sentence, numeric answer or None)."""
    name, item, v, sents, events = story_events(rng)
    text = " ".join(sents)
    kind = rng.choice(["first", "first", "event", "count", "copy", "who", "what", "hello"])
    if kind == "first":
        return (f"{text} How many {item} did {name} have at first?",
                f"At first {name} has {v} {item}.", v)
    if kind == "event":
        i = rng.randrange(len(events))
        op, k = events[i]
        verb = {"add": "buy", "sub": "give away", "mul": "get times as many"}[op]
        if op == "mul":
            return (f"{text} How many times as many {item} does {name} get?",
                    f"{name} gets {k} times as many {item}.", k) if sum(o == "mul" for o, _ in events) == 1 \
                else (f"{text} Who has the {item}?", f"{name} has the {item}.", None)
        same = [kk for o, kk in events if o == op]
        if len(same) == 1:
            return (f"{text} How many {item} does {name} {verb}?",
                    f"{name} {'buys' if op == 'add' else 'gives away'} {k} {item}.", k)
        return (f"{text} How many {item} did {name} have at first?", f"At first {name} has {v} {item}.", v)
    if kind == "count":
        n = len(sents)
        walk = ", ".join(str(i + 1) for i in range(n))
        return f"{text} How many sentences are in the story?", f"Counting them: {walk}.", n
    if kind == "copy":
        nums = [str(v)] + [str(k) for _, k in events]
        return f"{text} Repeat the numbers of the story.", "The numbers are " + " ".join(nums) + ".", None
    if kind == "who":
        return f"{text} Who has the {item}?", f"{name} has the {item}.", None
    if kind == "what":
        return f"{text} What does {name} have?", f"{name} has {item}.", None
    return "Hello!", "Hello! Ask me about a story.", None


def chat_example(tok, ids, user, answer, n, rng):
    """ChatML turn; the loss covers the assistant part and its <|im_end|>."""
    tail = f" The answer is \\boxed{{{n}}}." if n is not None else ""
    p = tok.encode(chatml(rng.choice([SYS_EVAL, SYS_SAMPLE]), user), add_special_tokens=False).ids
    c = tok.encode(answer + tail, add_special_tokens=False).ids + [ids[EOS_CHAT]]
    return p + c, [0] * len(p) + [1] * len(c)


def base_example(tok, ids, user, answer, n):
    """Base-model text "Question: ...\\nAnswer: ... The answer is n." + <|endoftext|>,
    every token in the loss (continued pre-training style)."""
    tail = f" The answer is {n}." if n is not None else ""
    s = tok.encode(f"Question: {user}\nAnswer: {answer}{tail}", add_special_tokens=False).ids + [ids[EOS_BASE]]
    return s, [1] * len(s)


def general_example(tok, ids, rng, held_out):
    while True:
        user, answer, n = general_task(rng)
        if user not in held_out:
            break
    if rng.random() < 0.7:
        return chat_example(tok, ids, user, answer, n, rng)
    return base_example(tok, ids, user, answer, n)


def math_example(tok, ids, rng, held_out):
    while True:
        q, steps, v = story(rng)
        if q not in held_out:
            break
    return base_example(tok, ids, q, " ".join(s + "." for s in steps), v)


def make_model(tok, ids, hidden, layers, heads, inter, seed):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=tok.get_vocab_size(), hidden_size=hidden, intermediate_size=inter,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                      max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-6,
                      tie_word_embeddings=False, bos_token_id=ids[EOS_BASE],
                      eos_token_id=ids[EOS_CHAT], pad_token_id=ids[EOS_BASE])
    return Qwen2ForCausalLM(cfg)


def train(model, name, make_example, steps, lr, batch, seed, on_snapshot=None, every=0):
    """AdamW, 50-step warm-up then linear decay to 5%; on_snapshot(model, step)
    is called every `every` steps (and may return True to stop)."""
    import torch
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    pad = model.config.pad_token_id
    t0 = time.time()
    model.train()
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, step / 50) * max(0.05, 1.0 - step / steps)
        ex = [make_example(rng) for _ in range(batch)]
        L = max(len(s) for s, _ in ex)
        x = torch.full((batch, L), pad, dtype=torch.long)
        y = torch.full((batch, L), -100, dtype=torch.long)
        for i, (s, m) in enumerate(ex):
            x[i, :len(s)] = torch.tensor(s)
            y[i, :len(s)] = torch.tensor([t if k else -100 for t, k in zip(s, m)])
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            print(f"{name}: step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
        if every and step % every == 0 and on_snapshot:
            model.eval()
            stop = on_snapshot(model, step)
            model.train()
            if stop:
                break
    model.eval()
    return model


def extract(text):
    """The C evaluator's order: last \\boxed{}, else "the answer is", else last number."""
    import re
    k = text.rfind("\\boxed{")
    if k >= 0:
        return text[k + 7:].split("}")[0].strip()
    m = re.findall(r"[Tt]he answer is\s*(-?\d+)", text)
    if m:
        return m[-1]
    m = re.findall(r"-?\d+", text)
    return m[-1] if m else None


def accuracy(model, tok, ids, test, fmt, max_new_tokens=96):
    """Greedy accuracy with the eval chat prompt (fmt "chat") or the base-model
    prompt "Question: q\\nAnswer:" (fmt "base"); a quick estimate."""
    import torch
    pad = ids[EOS_BASE]
    correct = 0
    for i in range(0, len(test), 200):
        part = test[i:i + 200]
        prompts = [chatml(SYS_EVAL, r["question"]) if fmt == "chat" else f"Question: {r['question']}\nAnswer:"
                   for r in part]
        enc = [tok.encode(p, add_special_tokens=False).ids for p in prompts]
        L = max(len(e) for e in enc)
        x = torch.full((len(enc), L), pad, dtype=torch.long)
        m = torch.zeros((len(enc), L), dtype=torch.long)
        for j, e in enumerate(enc):
            x[j, L - len(e):] = torch.tensor(e)
            m[j, L - len(e):] = 1
        with torch.no_grad():
            y = model.generate(input_ids=x, attention_mask=m, max_new_tokens=max_new_tokens, do_sample=False,
                               eos_token_id=[ids[EOS_CHAT], pad], pad_token_id=pad)
        for j, r in enumerate(part):
            got = extract(tok.decode(y[j, L:].tolist(), skip_special_tokens=True))
            correct += got == r["answer"].split("####")[-1].strip()
    return correct / len(test)


def general_accuracy(model, tok, ids, n=200, seed=99):
    """Greedy exact-answer rate on general numeric questions (chat prompt)."""
    rng = random.Random(seed)
    recs = []
    while len(recs) < n:
        user, answer, v = general_task(rng)
        if v is not None:
            recs.append({"question": user, "answer": f"#### {v}"})
    return accuracy(model, tok, ids, recs, "chat", max_new_tokens=48)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "demo-paper"))
    ap.add_argument("--work", help="where snapshots go (default OUT/../demo-paper-work)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--steps-general", type=int, default=1200)
    ap.add_argument("--steps-expert", type=int, default=1200, help="most continued-training steps")
    ap.add_argument("--snapshot-every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-continued", type=float, default=2e-3)
    ap.add_argument("--only", choices=["data", "general", "amateur", "expert", "amateur-math"],
                    help="one stage (the others are loaded from OUT)")
    a = ap.parse_args()
    import torch
    from tokenizers import Tokenizer
    from transformers import Qwen2ForCausalLM
    torch.set_num_threads(a.threads)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)

    held_out = set()
    files = {}
    for fname, n, seed in (("test.jsonl", 1000, 22), ("test-select.jsonl", 200, 23), ("train.jsonl", 2000, 21)):
        rng = random.Random(seed)
        recs = []
        while len(recs) < n:
            r = gsm8k_record(rng)
            if fname == "test.jsonl" or r["question"] not in held_out:  # evaluation sets stay disjoint
                recs.append(r)
        if fname != "train.jsonl":
            held_out.update(r["question"] for r in recs)
        files[fname] = recs
        with open(os.path.join(out, fname), "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
    select = files["test-select.jsonl"]

    tok_path = os.path.join(out, "tokenizer.json")
    if os.path.exists(tok_path):
        tok = Tokenizer.from_file(tok_path)
        ids = {s: tok.token_to_id(s) for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
    else:
        rng = random.Random(24)
        corpus = []
        for _ in range(3000):
            user, answer, n = general_task(rng)
            corpus.append(chatml(rng.choice([SYS_EVAL, SYS_SAMPLE]), user) + answer
                          + (f" The answer is \\boxed{{{n}}}." if n is not None else ""))
            q, steps, v = story(rng)
            corpus.append(f"Question: {q}\nAnswer: " + " ".join(s + "." for s in steps) + f" The answer is {v}.")
        tok, ids = build_tokenizer(out, corpus, a.vocab)
    print(f"tokenizer: {tok.get_vocab_size()} tokens, specials {ids}", flush=True)
    if a.only == "data":
        return

    work = os.path.abspath(a.work or os.path.join(out, "..", "demo-paper-work"))
    os.makedirs(work, exist_ok=True)
    gen_ex = lambda rng: general_example(tok, ids, rng, held_out)
    mix_ex = lambda rng: math_example(tok, ids, rng, held_out) if rng.random() < 0.8 else gen_ex(rng)
    log = open(os.path.join(work, "make_demo_paper.log"), "a")

    def report(name, model):
        line = (f"{name}: chat-prompt accuracy {accuracy(model, tok, ids, select, 'chat'):.3f}, "
                f"base-format accuracy {accuracy(model, tok, ids, select, 'base'):.3f}, "
                f"general numeric questions {general_accuracy(model, tok, ids):.3f} (test-select.jsonl, quick)")
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    def load(name):
        return Qwen2ForCausalLM.from_pretrained(os.path.join(out, name), dtype=torch.float32).eval()

    if a.only in (None, "general"):
        g = train(make_model(tok, ids, 128, 3, 4, 256, seed=31), "general", gen_ex, a.steps_general, a.lr,
                  a.batch, seed=1031)
        save_model(g, os.path.join(out, "general"), out, ids)
        report("general", g)
    if a.only in (None, "amateur"):
        am = train(make_model(tok, ids, 64, 2, 4, 128, seed=32), "amateur", gen_ex, a.steps_general, a.lr,
                   a.batch, seed=1032)
        save_model(am, os.path.join(out, "amateur"), out, ids)
        report("amateur", am)
    if a.only in (None, "expert"):
        chosen = {}

        def snap(model, step):
            acc = accuracy(model, tok, ids, select, "base")
            line = f"expert snapshot step {step}: base-format accuracy {acc:.3f}"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            save_model(model, os.path.join(work, f"expert-{step}"), out, ids)
            if acc > chosen.get("acc", -1.0):
                chosen.update(best=step, acc=acc)
            if acc >= 0.90:
                chosen["step"] = step
                return True
            return False

        train(load("general"), "expert", mix_ex, a.steps_expert, a.lr_continued, a.batch, seed=1033,
              on_snapshot=snap, every=a.snapshot_every)
        step = chosen.get("step", chosen.get("best"))
        line = f"expert: rule picks snapshot step {step} ({'first >= 90%' if 'step' in chosen else 'best, none >= 90%'})"
        print(line, flush=True)
        log.write(line + "\n")
        ex = Qwen2ForCausalLM.from_pretrained(os.path.join(work, f"expert-{step}"), dtype=torch.float32).eval()
        save_model(ex, os.path.join(out, "expert"), out, ids)
        with open(os.path.join(out, "expert", "continued_steps.txt"), "w") as f:
            f.write(f"{step}\n")
        report("expert", ex)
    if a.only in (None, "amateur-math"):
        with open(os.path.join(out, "expert", "continued_steps.txt")) as f:
            step = int(f.read())
        # The expert's recipe (same lr schedule over the same step budget, same
        # data stream) stopped at the expert's step.
        am = load("amateur")
        am.train()
        import torch as _t  # noqa: F401
        am = train(am, "amateur-math", mix_ex, a.steps_expert, a.lr_continued, a.batch, seed=1033,
                   on_snapshot=lambda m, s: s >= step, every=step)
        save_model(am, os.path.join(out, "amateur-math"), out, ids)
        report("amateur-math", am)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(out, fn)) and a.only is None:
            os.remove(os.path.join(out, fn))


if __name__ == "__main__":
    main()
