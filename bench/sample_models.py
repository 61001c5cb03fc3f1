#!/usr/bin/env python3
"""Expert and amateur for the sampling-stage bench (bench/sample_bench.sh):
Qwen2.5-0.5B-shaped Qwen2 models with random weights, the real Qwen2
tokenizer (/work/shared/data/tokenizers/qwen2, or $LR_QWEN2_TOKENIZER) and a
ChatML template, fp32 safetensors.

    python3 bench/sample_models.py OUT_DIR [--expert-layers 24] [--amateur-layers 6]

The lm_head/embedding rows are drawn wider than HF's init (std 0.15) so that
next-token distributions are peaked like a trained model's (a few to a few
dozen plausible tokens, not the whole 151936-id vocabulary), which keeps the
stored candidate sets realistic. Cached: skipped when OUT_DIR/<model>/.complete
matches."""
import argparse
import json
import os
import shutil
import sys

TOK = os.environ.get("LR_QWEN2_TOKENIZER", "/work/shared/data/tokenizers/qwen2")
SHAPE = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_attention_heads=14,
             num_key_value_heads=2)
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def make(out, layers, seed):
    stamp = os.path.join(out, ".complete")
    tag = f"layers={layers} seed={seed}"
    if os.path.exists(stamp) and open(stamp).read().strip() == tag:
        print(f"sample_models: {out} cached ({tag})", file=sys.stderr)
        return
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    cfg = Qwen2Config(**SHAPE, num_hidden_layers=layers, max_position_embeddings=32768, rope_theta=1000000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151643)
    m = Qwen2ForCausalLM(cfg).float().eval()
    with torch.no_grad():
        m.model.embed_tokens.weight.normal_(0.0, 0.15)
    os.makedirs(out, exist_ok=True)
    m.save_pretrained(out, max_shard_size="50GB")
    GenerationConfig(bos_token_id=151643, eos_token_id=[151645, 151643], do_sample=False).save_pretrained(out)
    for f in ("vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(TOK, f), os.path.join(out, f))
    tc = json.load(open(os.path.join(TOK, "tokenizer_config.json")))
    tc["chat_template"] = CHATML
    json.dump(tc, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
    open(stamp, "w").write(tag + "\n")
    print(f"sample_models: {out}: {sum(p.numel() for p in m.parameters())/1e6:.0f}M parameters", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--expert-layers", type=int, default=24)
    ap.add_argument("--amateur-layers", type=int, default=6)
    a = ap.parse_args()
    make(os.path.join(a.out, "expert"), a.expert_layers, 1)
    make(os.path.join(a.out, "amateur"), a.amateur_layers, 2)


if __name__ == "__main__":
    main()
