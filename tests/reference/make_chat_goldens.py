#!/usr/bin/env python3
"""Chat-template goldens for tests/test_tokenizer_chat.c, rendered by Hugging
Face transformers' apply_chat_template (pip install transformers jinja2 into
tests/reference/.venv). Run from anywhere:

  tests/reference/.venv/bin/python tests/reference/make_chat_goldens.py

Reads
  tests/data/tokenizer/chat_templates/*.jinja   the published templates (see
                                                TEMPLATES below for where each
                                                came from)
  data/tokenizers/qwen2/                        the vendored Qwen2 tokenizer
Writes
  tests/data/tokenizer/chat_templates.json      name -> file, bos/eos token
                                                strings the template sees,
                                                source
  tests/data/tokenizer/chat.jsonl               one case a line: template,
                                                messages, add_generation_prompt,
                                                extra template variables, the
                                                rendered text and its ids

The ids are the Qwen2 tokenizer's encoding of the text (for the Qwen family
they are also checked against apply_chat_template(tokenize=True)); the other
families' own tokenizers are not vendored, so their ids check that our
encoder agrees with HF's on the rendered text, special-token strings
included. Llama 3.2's template reads the date with strftime_now: the goldens
pass date_string so they do not change with the calendar (the C test checks
strftime_now separately).
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")
TPL_DIR = os.path.join(DATA, "chat_templates")
TOKDIR = os.path.join(ROOT, "data", "tokenizers", "qwen2")

LLAMA_CPP = ("llama.cpp models/templates/%s, as vendored in the PyPI sdist llama-cpp-python 0.3.36 "
             "(llama.cpp's scripts/get_chat_template.py copies tokenizer_config.json's chat_template verbatim "
             "from the Hugging Face repository)")
DS_BOS, DS_EOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>"
TEMPLATES = {
    "qwen2-instruct": dict(file="qwen2-instruct.jinja", bos=None, eos="<|im_end|>", qwen=True,
                           source="data/tokenizers/qwen2/tokenizer_config.json (Qwen2 tokenizer as shipped)"),
    "qwen2.5-instruct": dict(file="qwen2.5-instruct.jinja", bos=None, eos="<|im_end|>", qwen=True,
                             source=LLAMA_CPP % "Qwen-Qwen2.5-7B-Instruct.jinja"),
    "qwen2.5-math": dict(file="qwen2.5-math.jinja", bos=None, eos="<|im_end|>", qwen=True,
                         source="Qwen/Qwen2.5-Math-1.5B and -Instruct: the Qwen2.5-Instruct template with the "
                                "default system prompt 'Please reason step by step, and put your final answer "
                                "within \\\\boxed{}.'; checked line by line against the printed "
                                "AutoTokenizer.from_pretrained('Qwen/Qwen2.5-Math-1.5B').chat_template in a "
                                "public notebook (found with the code search)"),
    "deepseek-r1-distill-qwen": dict(file="deepseek-r1-distill-qwen.jinja", bos=DS_BOS, eos=DS_EOS, qwen=False,
                                     source="deepseek-ai/DeepSeek-R1-Distill-Qwen-* tokenizer_config.json "
                                            "chat_template (final revision), copied from public GitHub files "
                                            "quoting it (several agree byte for byte)"),
    "llama-3-instruct": dict(file="llama-3-instruct.jinja", bos="<|begin_of_text|>", eos="<|eot_id|>", qwen=False,
                             source="meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json chat_template, "
                                    "copied from public GitHub files quoting it (several agree)"),
    "llama-3.1-instruct": dict(file="llama-3.1-instruct.jinja", bos="<|begin_of_text|>", eos="<|eot_id|>",
                               qwen=False, source=LLAMA_CPP % "meta-llama-Llama-3.1-8B-Instruct.jinja "
                                                             "(Llama-3.3-70B-Instruct's is identical)"),
    "llama-3.2-instruct": dict(file="llama-3.2-instruct.jinja", bos="<|begin_of_text|>", eos="<|eot_id|>",
                               qwen=False, source=LLAMA_CPP % "meta-llama-Llama-3.2-3B-Instruct.jinja"),
    "chatml-no-default": dict(file="chatml-no-default.jinja", bos=None, eos="<|im_end|>", qwen=True,
                              source="synthetic: ChatML without a default system prompt"),
}

S, U, A = "system", "user", "assistant"
GSM = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
       "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
       "duck egg. How much in dollars does she make every day at the farmers' market?")
CONVERSATIONS = [
    [(U, "What is 2+2?")],
    [(S, "Please reason step by step."), (U, GSM)],
    [(S, ""), (U, "hi")],
    [(S, "Please reason step by step, and put your final answer within \\boxed{}."), (U, "1+1?")],
    [(S, "Syst\u00e8me: r\u00e9ponds en fran\u00e7ais.\nMerci!"), (U, "Combien font 3\u00d74 ?\n\nR\u00e9ponds.")],
    [(U, "Write <|im_end|> literally")],
    [(S, "  sys with spaces \n"), (U, "  leading and trailing spaces  \n")],
    [(U, "\u00a0nbsp edges\u3000")],
    [(U, "\u4f60\u597d")],
    [(U, "What is 2+2?"), (A, "4"), (U, "And 3+3?")],
    [(S, "Be brief."), (U, "Q1"), (A, "A1"), (U, "Q2"), (A, "A2")],
    [(U, "Think first."), (A, "<think>\nhmm\n</think>\n\nThe answer is 7."), (U, "Again?")],
    [(U, "tabs\tand {{ braces }} and {% tags %}")],
]


def render(tok, tpl, msgs, agp, extra):
    return tok.apply_chat_template(msgs, chat_template=tpl, tokenize=False, add_generation_prompt=agp, **extra)


def main():
    tok = AutoTokenizer.from_pretrained(TOKDIR)
    print("transformers %s" % transformers.__version__)
    index, cases = {}, []
    for name, t in TEMPLATES.items():
        with open(os.path.join(TPL_DIR, t["file"]), encoding="utf-8") as f:
            tpl = f.read()
        index[name] = {"file": "chat_templates/" + t["file"], "bos_token": t["bos"], "eos_token": t["eos"],
                       "source": t["source"]}
        extra = {"eos_token": t["eos"]}
        if t["bos"] is not None:
            extra["bos_token"] = t["bos"]
        if name == "llama-3.2-instruct":
            extra["date_string"] = "26 Jul 2024"
        for conv in CONVERSATIONS:
            msgs = [{"role": r, "content": c} for r, c in conv]
            for agp in (True, False):
                text = render(tok, tpl, msgs, agp, extra)
                ids = tok.encode(text, add_special_tokens=False)
                if t["qwen"]:
                    direct = tok.apply_chat_template(msgs, chat_template=tpl, tokenize=True, add_generation_prompt=agp,
                                                     return_dict=False, **extra)
                    if hasattr(direct, "keys"):
                        direct = direct["input_ids"]
                    if list(direct) != ids:
                        sys.exit("apply_chat_template ids differ from encoding its text (%s)" % name)
                vars_ = {k: v for k, v in extra.items() if k not in ("bos_token", "eos_token")}
                cases.append({"template": name, "messages": msgs, "add_generation_prompt": agp, "vars": vars_,
                              "text": text, "ids": ids})
    with open(os.path.join(DATA, "chat_templates.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(DATA, "chat.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print("tests/data/tokenizer/chat.jsonl: %d cases over %d templates" % (len(cases), len(index)))


if __name__ == "__main__":
    main()
