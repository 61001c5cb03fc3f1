#!/usr/bin/env python3
"""Goldens for the sampling stage (tests/test_sample*.c, tests/sample.cmake).

Writes, under tests/data/sample/:
  problems.jsonl    the first N_PROBLEMS GSM8K train lines (vendored; the
                    file is reused when present so the goldens stay stable)
  tokenizer files   a byte-level BPE tokenizer.json (~400 tokens, Qwen2
                    pre-tokenizer regex + NFC, trained with HF `tokenizers`
                    on the vendored questions and answers), specials
                    <|endoftext|> <|im_start|> <|im_end|> after the vocabulary,
                    ChatML tokenizer_config.json — copied into both model dirs
  expert/           tiny Qwen2 (hidden 64, 2 layers, GQA 4:2, untied, padded
                    vocab_size V_E), fp32 safetensors, generation_config.json
                    with eos [<|im_end|>, <|endoftext|>]
  amateur/          tiny Qwen2 (hidden 32, 2 layers, 4:1 heads, tied) with a
                    different padded vocab_size V_A > V_E, so that V = min is
                    exercised (both log-softmaxes run over each model's own
                    full row, the KL sums over ids < V)
  golden.json       SPEC §2 computed with transformers on every problem:
                    greedy expert generation (HF generate, output_logits),
                    ONE teacher-forced amateur forward over x||y, then per
                    step KL / entropies / chosen log-probs / top-1 ids /
                    number of store-alpha candidates, and the samples
                    (selected steps, label ids, label weights) at alpha, beta
  contrast_golden.json   unit golden for src/method/ (tests/test_method.c) on random
                    logits rows (V_E != V_A), several temperatures

Run with: python3 tests/reference/make_sample_goldens.py   (torch,
transformers, tokenizers, safetensors; CPU, a few seconds). The C side
must match: KL <= 1e-4 abs, identical selected steps and label ids,
weights <= 1e-5.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_goldens import randomize  # noqa: E402  (the same non-trivial random weights)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "sample")
GSM8K = os.environ.get("LR_GSM8K_TRAIN", "/work/shared/data/gsm8k/train.jsonl")
N_PROBLEMS = 10
N_VOCAB = 400  # regular tokens (bytes + merges); specials follow
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SYSTEM = "Please reason step by step."
MAX_NEW = 40
STORE_ALPHA = 0.01
ALPHA = 0.2
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def problems():
    path = os.path.join(OUT, "problems.jsonl")
    if not os.path.exists(path):
        with open(GSM8K, encoding="utf-8") as f:
            lines = [next(f) for _ in range(N_PROBLEMS)]
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def make_tokenizer(probs, dst):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=N_VOCAB, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [p["question"] for p in probs] + [p["answer"] for p in probs] + [SYSTEM]
    tok.train_from_iterator(corpus, trainer)
    assert tok.get_vocab_size() == N_VOCAB, tok.get_vocab_size()
    tok.add_special_tokens(SPECIALS)
    os.makedirs(dst, exist_ok=True)
    tok.save(os.path.join(dst, "tokenizer.json"))
    ids = {s: N_VOCAB + i for i, s in enumerate(SPECIALS)}
    assert all(tok.token_to_id(s) == i for s, i in ids.items())
    tc = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for s, i in ids.items()},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHATML,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 512,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    with open(os.path.join(dst, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2)
        f.write("\n")
    return ids


def make_model(dst, tok_dir, ids, hidden, inter, heads, kv, vocab, tied, seed, std_emb, std_lin, eos_boost):
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=512,
                      rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=tied,
                      bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"])
    torch.manual_seed(seed)
    m = Qwen2ForCausalLM(cfg).float().eval()
    randomize(m, seed, std_emb, std_lin)
    if eos_boost:
        with torch.no_grad():  # make <|im_end|> a plausible continuation so that some traces stop
            m.lm_head.weight[ids["<|im_end|>"]] *= eos_boost
    m.generation_config = GenerationConfig(do_sample=False, bos_token_id=ids["<|endoftext|>"],
                                           eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                                           pad_token_id=ids["<|endoftext|>"])
    if os.path.exists(dst):
        shutil.rmtree(dst)
    m.save_pretrained(dst, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), os.path.join(dst, f))
    return m


def step_stats(le, la, token, store_alpha):
    """SPEC §2 for one step from raw fp32 logits rows (own full vocab each)."""
    lpe = torch.log_softmax(le.float(), -1).double().numpy()
    lpa = torch.log_softmax(la.float(), -1).double().numpy()
    V = min(len(lpe), len(lpa))
    pe = np.exp(lpe)
    pa = np.exp(lpa)
    kl = float(np.sum(pe[:V] * (lpe[:V] - lpa[:V])))
    mx = lpe[:V].max()
    cand = np.nonzero(np.exp(lpe[:V] - mx) >= store_alpha)[0]
    return dict(kl=kl, entropy_expert=float(-np.sum(pe * lpe)), entropy_amateur=float(-np.sum(pa * lpa)),
                logp_expert=float(lpe[token]), logp_amateur=float(lpa[token]) if token < len(lpa) else -math.inf,
                top1_expert=int(np.argmax(lpe)), top1_amateur=int(np.argmax(lpa)), n_cand=int(len(cand)),
                _lpe=lpe[:V], _lpa=lpa[:V])


def label(lpe, lpa, alpha):
    mx = lpe.max()
    ratio = np.exp(lpe - mx)
    m = np.nonzero(ratio >= alpha)[0]
    s = lpe[m] - lpa[m]
    w = np.exp(s - s.max())
    w /= w.sum()
    margin = float(np.min(np.abs(np.log(ratio) - math.log(alpha))))
    return m.tolist(), w.tolist(), margin


def contrast_golden():
    rng = np.random.default_rng(7)
    ve, va = 50, 57
    cases = []
    for k, temp in enumerate([0.3, 1.0, 3.0, 8.0, 1.5, 0.05]):
        le = (rng.standard_normal(ve) * temp).astype(np.float32)
        la = (rng.standard_normal(va) * temp * 0.7).astype(np.float32)
        if k == 4:
            la[:ve] = le + rng.standard_normal(ve).astype(np.float32) * 0.01  # nearly equal models
        token = int(rng.integers(0, ve))
        st = step_stats(torch.from_numpy(le), torch.from_numpy(la), token, STORE_ALPHA)
        lab_ids, lab_w, _ = label(st["_lpe"], st["_lpa"], ALPHA)
        mx = st["_lpe"].max()
        cand = np.nonzero(np.exp(st["_lpe"] - mx) >= STORE_ALPHA)[0]
        cases.append(dict(logits_expert=le.tolist(), logits_amateur=la.tolist(), token=token,
                          kl=st["kl"], entropy_expert=st["entropy_expert"], entropy_amateur=st["entropy_amateur"],
                          logp_expert=st["logp_expert"], logp_amateur=st["logp_amateur"],
                          top1_expert=st["top1_expert"], top1_amateur=st["top1_amateur"],
                          cand_ids=cand.tolist(), cand_logp_expert=st["_lpe"][cand].tolist(),
                          cand_logp_amateur=st["_lpa"][cand].tolist(), label_ids=lab_ids, label_weights=lab_w))
    with open(os.path.join(OUT, "contrast_golden.json"), "w") as f:
        json.dump(dict(store_alpha=STORE_ALPHA, alpha=ALPHA, cases=cases), f)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    probs = problems()
    tok_dir = os.path.join(OUT, "tok")
    ids = make_tokenizer(probs, tok_dir)
    V_TOK = N_VOCAB + len(SPECIALS)
    expert = make_model(os.path.join(OUT, "expert"), tok_dir, ids, 64, 128, 4, 2, V_TOK + 5, False, 11,
                        std_emb=0.3, std_lin=0.15, eos_boost=float(os.environ.get("EOS_BOOST", "1.0")))
    amateur = make_model(os.path.join(OUT, "amateur"), tok_dir, ids, 32, 64, 4, 1, V_TOK + 13, True, 12,
                         std_emb=0.3, std_lin=0.15, eos_boost=None)
    shutil.rmtree(tok_dir)
    hf_tok = AutoTokenizer.from_pretrained(os.path.join(OUT, "expert"))
    eos = sorted({ids["<|im_end|>"], ids["<|endoftext|>"]})

    traces, steps = [], []
    for qi, p in enumerate(probs):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p["question"]}]
        text = hf_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        x = hf_tok(text)["input_ids"]
        gc = GenerationConfig(do_sample=False, max_new_tokens=MAX_NEW, eos_token_id=eos,
                              pad_token_id=ids["<|endoftext|>"], output_logits=True, return_dict_in_generate=True)
        with torch.no_grad():
            out = expert.generate(torch.tensor([x]), attention_mask=torch.ones(1, len(x), dtype=torch.long),
                                  generation_config=gc)
        y = out.sequences[0, len(x):].tolist()
        T = len(y)
        finish = 0 if y[-1] in eos else 1
        assert finish == 0 or T == MAX_NEW
        le_rows = torch.stack([l[0] for l in out.logits])  # (T, V_E) raw logits
        for t in range(T):  # greedy must be robust to 1e-5 noise
            top2 = torch.topk(le_rows[t], 2).values
            margin = float(top2[0] - top2[1])
            if margin < 1e-3:
                print(f"warning: problem {qi} step {t}: greedy margin {margin:.2e}", file=sys.stderr)
        seq = torch.tensor([x + y[:-1]])
        with torch.no_grad():
            la_rows = amateur(seq).logits[0, len(x) - 1:].float()  # (T, V_A): ONE teacher-forced pass
        assert la_rows.shape[0] == T
        for t in range(T):
            st = step_stats(le_rows[t], la_rows[t], y[t], STORE_ALPHA)
            st.update(problem=qi, step=t)
            steps.append(st)
        traces.append(dict(problem=qi, prompt_ids=x, generated=y, finish=finish,
                           text=hf_tok.decode(y, skip_special_tokens=True)))

    kls = np.array([s["kl"] for s in steps])
    # beta: a value near the 60th percentile lying in a wide gap of the KL values
    srt = np.sort(kls)
    lo, hi = int(len(srt) * 0.45), int(len(srt) * 0.75)
    gaps = srt[lo + 1:hi + 1] - srt[lo:hi]
    g = lo + int(np.argmax(gaps))
    beta = float((srt[g] + srt[g + 1]) / 2)
    assert srt[g + 1] - srt[g] > 1e-3, "no clean gap for beta"
    samples, min_margin = [], 1e9
    for i, s in enumerate(steps):
        if s["kl"] < beta:
            continue
        lid, w, margin = label(s["_lpe"], s["_lpa"], ALPHA)
        min_margin = min(min_margin, margin)
        samples.append(dict(problem=s["problem"], step=s["step"], kl=s["kl"], label_ids=lid, label_weights=w))
    assert min_margin > 1e-4, f"alpha too close to a probability ratio ({min_margin})"
    for s in steps:
        del s["_lpe"], s["_lpa"]
    gold = dict(system=SYSTEM, max_new_tokens=MAX_NEW, store_alpha=STORE_ALPHA, alpha=ALPHA, beta=beta,
                vocab_expert=expert.config.vocab_size, vocab_amateur=amateur.config.vocab_size,
                eos_ids=eos, traces=traces, steps=steps, samples=samples)
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(gold, f)
        f.write("\n")
    contrast_golden()
    fin = [t["finish"] for t in traces]
    print(f"{len(traces)} traces ({fin.count(0)} eos), {len(steps)} steps, KL median {np.median(kls):.3f} "
          f"max {kls.max():.3f}, beta {beta:.4f} -> {len(samples)} samples, "
          f"mean candidates {np.mean([s['n_cand'] for s in steps]):.1f}, label alpha margin {min_margin:.2e}")


if __name__ == "__main__":
    main()
