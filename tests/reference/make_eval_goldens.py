#!/usr/bin/env python3
"""Goldens for `eval`'s toolkit protocol, made with the Qwen2.5-Math
evaluation toolkit's own code (github QwenLM/Qwen2.5-Math, evaluation/).

    python3 -m venv tests/reference/.venv
    tests/reference/.venv/bin/pip install sympy==1.12 antlr4-python3-runtime==4.11.1 \
        regex word2number numpy
    tests/reference/.venv/bin/pip install --no-deps -e TOOLKIT/evaluation/latex2sympy
    tests/reference/.venv/bin/python tests/reference/make_eval_goldens.py TOOLKIT/evaluation

(the toolkit's requirements.txt pins sympy 1.12 and antlr4 4.11.1; its
latex2sympy folder is installed as the toolkit's README says).

Writes, under tests/data/eval/:
  prompt_goldens.jsonl  {"b","i","t","prompt"}: construct_prompt() of problem
                        i of benchmark b under prompt type t (shots as the
                        toolkit's sh/eval.sh: 5 for mmlu_stem, else 0)
  gold_goldens.jsonl    {"b","i","gt","qh"}: parse_ground_truth() of every problem
                        and the FNV-1a 64 hash (hex) of its parse_question()
  verdict_goldens.jsonl {"b","i","out","pred","ok"}: model outputs built from
                        the gold answers (equivalent rewrites and near
                        misses), the toolkit's prediction (run_execute +
                        math_eval's multiple-choice fallback) and
                        math_equal(pred, gt); "to":1 marks a pair whose
                        sympy check ran past the toolkit's 3 s timeout
                        (scored False, as evaluate.py does).
Only the toolkit's functions decide prompts and verdicts; this script just
chooses the inputs. Deterministic (fixed seed).
"""
import json
import os
import random
import signal
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if len(sys.argv) != 2:
    sys.exit("usage: make_eval_goldens.py QWEN2.5-MATH/evaluation   (a checkout of github QwenLM/Qwen2.5-Math)")
TK = os.path.abspath(sys.argv[1])
sys.path.insert(0, TK)
os.chdir(TK)  # the toolkit imports its modules by bare name

import sympy  # noqa: E402
from sympy.parsing.latex import parse_latex  # noqa: E402

import parser as tkp  # noqa: E402  (the toolkit's parser.py)
import grader as tkg  # noqa: E402
import utils as tku  # noqa: E402

OUT = os.environ.get("LR_GOLDEN_OUT", os.path.join(ROOT, "tests", "data", "eval"))
BENCH = os.path.join(ROOT, "data", "benchmarks")

# our benchmark name -> (file, the toolkit's data_name, shots in sh/eval.sh)
BENCHMARKS = [
    ("gsm8k", "gsm8k", 0),
    ("math500", "math", 0),  # MATH-500 read as the toolkit reads MATH
    ("svamp", "svamp", 0),
    ("asdiv", "asdiv", 0),
    ("minerva_math", "minerva_math", 0),
    ("olympiadbench", "olympiadbench", 0),
    ("mmlu_stem", "mmlu_stem", 5),
]
PROMPT_TYPES = ["qwen25-math-cot", "direct", "cot"]
STOP_WORDS = ["</s>", "<|im_end|>", "<|endoftext|>"]


def load(name):
    with open(os.path.join(BENCH, name, "test.jsonl"), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


class Args:
    def __init__(self, prompt_type, shots):
        self.prompt_type = prompt_type
        self.num_shots = shots
        self.adapt_few_shot = False


class Timeout(Exception):
    pass


def _alarm(sig, frame):
    raise Timeout()


signal.signal(signal.SIGALRM, _alarm)


def judge(pred, gt):
    """math_equal as evaluate.py runs it: 3 s per pair, a timeout is False."""
    signal.alarm(3)
    try:
        return bool(tkg.math_equal(pred, gt)), 0
    except Timeout:
        return False, 1
    finally:
        signal.alarm(0)


def predict(out, data_name, gt):
    """math_eval.main's path from a generated text to the prediction."""
    code = out.strip()
    for w in STOP_WORDS:
        if w in code:
            code = code.split(w)[0].strip()
    pred, _ = tkp.run_execute(None, code, "qwen25-math-cot", data_name)
    if gt in ["A", "B", "C", "D", "E"] and pred not in ["A", "B", "C", "D", "E"]:
        pred = tkp.choice_answer_clean(code)
    elif all(c in "ABCDE" for c in gt) and not all(c in "ABCDE" for c in pred):
        pred = "".join(c for c in pred if c in "ABCDE")
    return pred


# ---------------------------------------------------------------- variants
def raw_answer(name, ex):
    """The gold answer as the file writes it (before the toolkit's strip)."""
    if name == "gsm8k":
        return ex["answer"].split("####")[-1].strip()
    if name == "svamp":
        return str(ex["Answer"])
    if name == "asdiv":
        return ex["answer"]
    if name == "math500":
        return ex["answer"]
    if name == "minerva_math":
        return tkp.find_box(ex["solution"])
    if name == "olympiadbench":
        return ex["final_answer"][0].strip("$")
    if name == "mmlu_stem":
        return "ABCD"[ex["answer"]]
    raise KeyError(name)


def sympy_rewrites(ans, rng):
    """Equivalent and near-miss rewrites through sympy (when it parses)."""
    out = []
    signal.alarm(2)
    try:
        e = parse_latex(ans)
        if isinstance(e, sympy.Expr):
            out.append(sympy.latex(e))
            out.append(sympy.latex(sympy.expand(e)))
            if not e.free_symbols:
                v = sympy.N(e, 10)
                out.append(str(v))
                out.append(str(sympy.N(e, 3)))
                out.append(sympy.latex(e + 1))
                out.append(sympy.latex(2 * e))
            else:
                out.append(sympy.latex(sympy.factor(e)))
                s = sorted(e.free_symbols, key=str)[0]
                out.append(sympy.latex(e.subs(s, s + 1)))
    except Exception:
        pass
    finally:
        signal.alarm(0)
    return [o for o in out if o and len(o) < 200]


def text_variants(ans, rng):
    v = [ans, ans + " \\text{ cm}", "$" + ans + "$", " " + ans + " ", "x = " + ans, ans.replace("\\frac", "\\dfrac")]
    try:
        x = float(ans.replace(",", ""))
        v += [
            "{:,}".format(int(x)) if x == int(x) else repr(x),
            repr(x * (1 + 3e-5)),
            repr(x + 1),
            repr(-x) if x else "1",
            "\\$" + ans,
            ans + "\\%",
            repr(x / 100),
            ans + ".00",
            ans + " dollars",
        ]
    except ValueError:
        pass
    if "," in ans and ans[:1] in "([" and ans[-1:] in ")]":
        parts = ans[1:-1].split(",")
        v.append(ans[0] + ",".join(reversed(parts)) + ans[-1])
        v.append(("[" if ans[0] == "(" else "(") + ans[1:])
        v.append(",".join(parts))
    if "\\sqrt{" in ans:
        v.append(ans.replace("\\sqrt{", "\\sqrt[3]{", 1))
    if "\\pi" in ans:
        v.append(ans.replace("\\pi", "3.14159"))
        v.append(ans.replace("\\pi", "\\cdot\\pi"))
    digits = [i for i, c in enumerate(ans) if c.isdigit()]
    if digits:
        i = rng.choice(digits)
        v.append(ans[:i] + str((int(ans[i]) + 1) % 10) + ans[i + 1:])
    return v


def choice_variants(ex, rng):
    letter = "ABCD"[ex["answer"]]
    wrong = rng.choice([c for c in "ABCD" if c != letter])
    choice = str(ex["choices"][ex["answer"]]).strip()
    return [
        "The answer is (%s)." % letter,
        "The answer is (%s)." % wrong,
        "So the correct option is %s: %s." % (letter, choice),
        "The answer is %s" % letter.lower(),
        "\\boxed{%s}" % letter,
        "\\boxed{(%s) %s}" % (wrong, choice),
        "After checking, the choice is (%s)." % letter,
        "The answer is: %s" % choice,
        "I think (%s) and (%s) are close, but the answer is (%s)." % (wrong, letter, letter),
        "Nothing to pick here.",
    ]


WRAPS = [
    "Let's compute step by step.\nThe result is $\\boxed{%s}$.",
    "We find that the value equals %s. So the answer is %s.",
    "Therefore, the final answer is: $\\boxed{%s}$. I hope it is correct.",
    "The final answer is $%s$. I hope it is correct.",
    "First 12, then 7.\nThe answer is %s",
    "So we get %s",
]


def wrap(v, k):
    w = WRAPS[k % len(WRAPS)]
    return w % ((v, v) if w.count("%s") == 2 else v)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(int(os.environ.get("LR_GOLDEN_SEED", "20")))  # 20: the committed set
    prompts, golds, verdicts = [], [], []
    n_to = 0
    for name, data_name, shots in BENCHMARKS:
        rows = load(name)
        # the gold answer of every problem
        for i, ex in enumerate(rows):
            _, gt = tkp.parse_ground_truth(dict(ex), data_name)
            e2 = dict(ex)
            if "choices" in e2:
                e2["choices"] = list(e2["choices"])
            q = tkp.parse_question(e2, data_name)
            golds.append({"b": name, "i": i, "gt": gt, "qh": "%016x" % fnv1a64(q.encode("utf-8"))})
        # prompts: the first 3 problems and 5 drawn ones, every prompt type
        picks = sorted(set([0, 1, 2] + rng.sample(range(len(rows)), 5)))
        for i in picks:
            for t in PROMPT_TYPES:
                ex = dict(rows[i])
                ex["choices"] = list(ex["choices"]) if "choices" in ex else None
                if ex["choices"] is None:
                    del ex["choices"]
                ex["question"] = tkp.parse_question(ex, data_name)
                _, ex["gt_ans"] = tkp.parse_ground_truth(ex, data_name)
                p = tku.construct_prompt(ex, data_name, Args(t, shots))
                prompts.append({"b": name, "i": i, "t": t, "prompt": p})
        # verdicts: (output built from a variant of the gold, gold) pairs
        n_pick = {"math500": 90, "minerva_math": 70, "olympiadbench": 90}.get(name, 40)
        for i in sorted(rng.sample(range(len(rows)), min(n_pick, len(rows)))):
            ex = rows[i]
            _, gt = tkp.parse_ground_truth(dict(ex), data_name)
            if name == "mmlu_stem":
                outs = choice_variants(ex, rng)
            else:
                ans = raw_answer(name, ex)
                vs = text_variants(ans, rng)
                if name in ("math500", "minerva_math", "olympiadbench"):
                    vs += sympy_rewrites(ans, rng)
                # other problems' answers: realistic wrong answers
                other = rows[rng.randrange(len(rows))]
                vs.append(raw_answer(name, other))
                seen, uniq = set(), []
                for v in vs:
                    if v not in seen:
                        seen.add(v)
                        uniq.append(v)
                outs = [wrap(v, rng.randrange(len(WRAPS))) for v in uniq]
            for out in outs:
                pred = predict(out, data_name, gt)
                ok, to = judge(pred, gt)
                n_to += to
                rec = {"b": name, "i": i, "out": out, "pred": pred, "ok": int(ok)}
                if to:
                    rec["to"] = 1
                verdicts.append(rec)
        print(name, "done", len(verdicts), file=sys.stderr)

    def dump(fname, recs):
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    dump("prompt_goldens.jsonl", prompts)
    dump("gold_goldens.jsonl", golds)
    dump("verdict_goldens.jsonl", verdicts)
    n_ok = sum(r["ok"] for r in verdicts)
    print("prompts %d, golds %d, verdict pairs %d (%d equal, %d timeouts)" % (
        len(prompts), len(golds), len(verdicts), n_ok, n_to))


if __name__ == "__main__":
    main()
