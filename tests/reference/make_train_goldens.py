#!/usr/bin/env python3
"""Goldens for the LoRA trainer (tests/test_train_*.c), from transformers +
peft in fp32 on CPU.

Phase 1 (python only) writes tests/data/train/:
  adapter_tied_all/     peft adapter (save_pretrained) on tests/data/model/qwen2_tied
                        (Qwen2, tied head, q/k/v bias): all 7 modules, r 4,
                        alpha 8, random nonzero A and B
  adapter_llama_ov/     the same on tests/data/model/llama3_scaled (Llama, llama3
                        rope scaling), o_proj + down_proj + k_proj, r 2, rslora
  adapter_expert_all/   on tests/data/sample/expert (untied): all 7 modules, r 4,
                        alpha 16, random nonzero A and B
  adapter_expert_qvd/   on the expert: q_proj, v_proj, down_proj, r 4, alpha 16,
                        nonzero (the start of the AdamW run)
  goldens.safetensors:
    fwd_tied.tokens/lens/logits      logits at every position, each sequence alone
    fwd_llama.tokens/lens/logits
    grad.tokens/lens/lab_off/lab_ids/lab_w   a ragged batch of 3 with soft labels
    grad.loss                        f64 (3) KL per sequence, dropout off
    grad.<peft key>                  ∂(Σ KL / 3)/∂ each lora_A / lora_B, dropout off
    drop.loss, drop.<peft key>       the same with dropout 0.25 and the trainer's
                                     counter-based masks (dropout key of step 0,
                                     seed DROP_SEED; see src/trainer/rng.h)
    adamw.*                          a 10-sample data set (traces + samples), and
                                     5 AdamW steps (micro-batch 2 x accumulation 2,
                                     lr 1e-2 linear to 0, clip 0.5, shuffled with
                                     the trainer's permutation): per-step loss,
                                     grad norm, lr, and the final adapter
                                     (adamw.final.<peft key>)

Phase 2 (--bin path/to/lightreasoner, after phase 1 and a build) exercises
our exports with peft/transformers:
  - `train` on the AdamW data set with --export -> exported_adapter/ (committed);
    peft loads it: roundtrip.logits (adapter-on logits, fwd_tied-style batch
    on the expert)
  - `merge` of that adapter into the expert -> a temp dir; transformers loads
    it: roundtrip.merged_logits
  - goldens_roundtrip.safetensors holds both.

Run: python3 tests/reference/make_train_goldens.py                      # phase 1
     LR_TEST_DATA=$PWD/tests/data LR_TRAIN_RUNFILE_TOOL=build/tests/test_train_e2e \
     python3 tests/reference/make_train_goldens.py --skip-phase1 --bin build/lightreasoner   # phase 2
(torch, transformers, peft, safetensors, numpy; CPU, seconds). Phase 2 needs the
build's test_train_e2e (it writes the AdamW data set as a run file). Re-running
phase 1 changes the adapters of phase 2's input, so run both together.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "train")
TIED = os.path.join(ROOT, "tests", "data", "model", "qwen2_tied")
LLAMA = os.path.join(ROOT, "tests", "data", "model", "llama3_scaled")
EXPERT = os.path.join(ROOT, "tests", "data", "sample", "expert")
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DROP_SEED = 1234
DROP_P = 0.25

# ---------------------------------------------------------------- the trainer's RNG (src/trainer/rng.h)
M64 = (1 << 64) - 1
TAG_SHUFFLE, TAG_DROPOUT = 0x5408, 0xD809


def mix(z):
    """splitmix64 finaliser on a python int or a numpy uint64 array."""
    if isinstance(z, np.ndarray):
        with np.errstate(over="ignore"):
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def key(h, k):
    if isinstance(h, np.ndarray) or isinstance(k, np.ndarray):
        return mix(np.asarray(h, dtype=np.uint64) ^ np.asarray(k, dtype=np.uint64))
    return mix(h ^ k)


def permutation(k, n):
    perm = list(range(n))
    i_draw = 0
    for i in range(n - 1, 0, -1):
        j = key(k, i_draw) % (i + 1)
        i_draw += 1
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def dropout_mask(step_key, sample, L, layer, module, n_in, p):
    """(L, n_in) keep mask of the trainer for one sequence and module."""
    sk = key(step_key, sample)
    rows = np.array([key(sk, pos) for pos in range(L)], dtype=np.uint64)
    rows = key(rows, np.uint64(layer * 7 + module))
    cols = np.arange(n_in, dtype=np.uint64)
    h = key(rows[:, None], cols[None, :])
    u = (h >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return u >= np.float32(p)


# ---------------------------------------------------------------- models and adapters
def load(path):
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    return m


def make_adapter(base_path, targets, r, alpha, seed, out_dir, rslora=False, dropout=0.0):
    m = load(base_path)
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM",
                     use_rslora=rslora)
    pm = get_peft_model(m, cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    if out_dir:
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        pm.save_pretrained(out_dir)
        # keep the committed directory small and path-independent
        with open(os.path.join(out_dir, "adapter_config.json")) as f:
            c = json.load(f)
        c["base_model_name_or_path"] = os.path.relpath(base_path, ROOT)
        with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
            json.dump(c, f, indent=2, sort_keys=True)
        readme = os.path.join(out_dir, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
    return pm


def peft_state(pm):
    """peft key (as saved) -> parameter, for the default adapter."""
    out = {}
    for n, p in pm.named_parameters():
        if "lora_" in n:
            out[n.replace(".default", "")] = p
    return out


def ragged(vocab, lens, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (L,), generator=g) for L in lens]


def logits_all(pm, seqs):
    with torch.no_grad():
        return torch.cat([pm(input_ids=s[None]).logits[0] for s in seqs], 0)


def kl_loss(z, ids, w):
    """SPEC §2: KL(w || softmax(z)) over the label entries."""
    lsm = torch.log_softmax(z.double(), -1)
    wd = w.double()
    return (wd * (torch.log(wd) - lsm[ids])).sum()


def labels(vocab, n, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(1, 7, (1,), generator=g))
        ids = torch.randperm(vocab, generator=g)[:k].sort().values
        w = torch.softmax(torch.randn(k, generator=g) * 1.5, 0).float()
        out.append((ids.int(), w))
    return out


class MaskDropout(torch.nn.Module):
    """Stands in for a LoRA module's nn.Dropout: multiplies by a given mask."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.mask = None

    def forward(self, x):
        if self.mask is None:
            return x
        return x * self.mask.to(x.dtype) / (1.0 - self.p)


def install_mask_dropouts(pm, p):
    """(layer, module index) -> MaskDropout, replacing each lora_dropout."""
    table = {}
    for name, mod in pm.named_modules():
        if hasattr(mod, "lora_dropout") and "default" in getattr(mod, "lora_dropout", {}):
            parts = name.split(".")
            layer = int(parts[parts.index("layers") + 1])
            mi = MODULES.index(parts[-1])
            md = MaskDropout(p)
            mod.lora_dropout["default"] = md
            table[(layer, mi)] = (md, mod.in_features)
    return table


def batch_loss(pm, seqs, labs, n_batch, masks=None):
    """Σ_i KL_i / n_batch with each sequence run alone; masks: per sequence a
    function setting the dropout masks."""
    total = 0.0
    per = []
    for i, (s, (ids, w)) in enumerate(zip(seqs, labs)):
        if masks:
            masks(i, len(s))
        z = pm(input_ids=s[None]).logits[0, -1]
        kl = kl_loss(z, ids.long(), w)
        per.append(kl)
        total = total + kl / n_batch
    return total, per


def pack(prefix, seqs, labs=None):
    t = {prefix + ".tokens": torch.cat(seqs).int().contiguous(),
         prefix + ".lens": torch.tensor([len(s) for s in seqs], dtype=torch.int32)}
    if labs is not None:
        off = [0]
        for ids, _ in labs:
            off.append(off[-1] + len(ids))
        t[prefix + ".lab_off"] = torch.tensor(off, dtype=torch.int64)
        t[prefix + ".lab_ids"] = torch.cat([i for i, _ in labs]).int().contiguous()
        t[prefix + ".lab_w"] = torch.cat([w for _, w in labs]).float().contiguous()
    return t


def phase1():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    G = {}

    # ---- forward logits with peft adapters (nonzero A and B)
    pm = make_adapter(TIED, MODULES, 4, 8, 11, os.path.join(OUT, "adapter_tied_all"))
    seqs = ragged(pm.config.vocab_size, [7, 12, 1], 21)
    G.update(pack("fwd_tied", seqs))
    G["fwd_tied.logits"] = logits_all(pm, seqs).contiguous()
    pm = make_adapter(LLAMA, ["o_proj", "down_proj", "k_proj"], 2, 6, 12, os.path.join(OUT, "adapter_llama_ov"),
                      rslora=True)
    seqs = ragged(pm.config.vocab_size, [40, 9], 22)
    G.update(pack("fwd_llama", seqs))
    G["fwd_llama.logits"] = logits_all(pm, seqs).contiguous()

    # ---- gradients of the SPEC loss over a ragged batch, dropout off then on
    pm = make_adapter(EXPERT, MODULES, 4, 16, 13, os.path.join(OUT, "adapter_expert_all"))
    V = pm.config.vocab_size
    seqs = ragged(V, [5, 17, 9], 23)
    labs = labels(V, 3, 24)
    G.update(pack("grad", seqs, labs))
    pm.train()  # dropout modules are identities here (p = 0), but run as in training
    params = peft_state(pm)
    loss, per = batch_loss(pm, seqs, labs, 3)
    loss.backward()
    G["grad.loss"] = torch.tensor([float(x) for x in per], dtype=torch.float64)
    for k, p in params.items():
        G["grad." + k] = p.grad.detach().clone().contiguous()
        p.grad = None
    table = install_mask_dropouts(pm, DROP_P)
    step_key = key(key(DROP_SEED, TAG_DROPOUT), 0)

    def set_masks(i, L):
        for (layer, mi), (md, n_in) in table.items():
            md.mask = torch.from_numpy(dropout_mask(step_key, i, L, layer, mi, n_in, DROP_P))[None]

    loss, per = batch_loss(pm, seqs, labs, 3, set_masks)
    loss.backward()
    G["drop.loss"] = torch.tensor([float(x) for x in per], dtype=torch.float64)
    for k, p in params.items():
        G["drop." + k] = p.grad.detach().clone().contiguous()
    G["drop.seed"] = torch.tensor([DROP_SEED], dtype=torch.int64)
    G["drop.p"] = torch.tensor([DROP_P], dtype=torch.float32)

    # ---- 5 AdamW steps: accumulation, clipping, linear schedule, shuffled data
    G.update(adamw_case())
    save_file(G, os.path.join(OUT, "goldens.safetensors"))
    print("wrote", os.path.join(OUT, "goldens.safetensors"), len(G), "tensors")


ADAMW = dict(seed=7, lr=1e-2, clip=0.5, micro=2, accum=2, steps=5, r=4, alpha=16,
             targets=["q_proj", "v_proj", "down_proj"])


def adamw_dataset(V):
    """10 traces (prompt + generated ids) and one sample per trace at step t."""
    g = torch.Generator().manual_seed(31)
    traces, prompt_len, steps = [], [], []
    for i in range(10):
        P = int(torch.randint(3, 9, (1,), generator=g))
        n_gen = int(torch.randint(2, 12, (1,), generator=g))
        traces.append(torch.randint(0, V, (P + n_gen,), generator=g))
        prompt_len.append(P)
        steps.append(int(torch.randint(0, n_gen, (1,), generator=g)))
    labs = labels(V, 10, 32)
    return traces, prompt_len, steps, labs


def adamw_case():
    a = ADAMW
    pm = make_adapter(EXPERT, a["targets"], a["r"], a["alpha"], 14, os.path.join(OUT, "adapter_expert_qvd"))
    pm.train()
    V = pm.config.vocab_size
    traces, prompt_len, steps, labs = adamw_dataset(V)
    n = len(traces)
    params = peft_state(pm)
    plist = list(params.values())
    opt = torch.optim.AdamW(plist, lr=a["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, 0, a["steps"])
    B = a["micro"] * a["accum"]
    shuffle_key = key(a["seed"], TAG_SHUFFLE)
    perms = {}
    losses, norms, lrs = [], [], []
    for step in range(a["steps"]):
        opt.zero_grad()
        idx = []
        for pos in range(step * B, (step + 1) * B):
            e = pos // n
            if e not in perms:
                perms[e] = permutation(key(shuffle_key, e), n)
            idx.append(perms[e][pos % n])
        total = 0.0
        for mb in range(a["accum"]):
            sel = idx[mb * a["micro"]:(mb + 1) * a["micro"]]
            seqs = [traces[i][:prompt_len[i] + steps[i]] for i in sel]
            loss, _ = batch_loss(pm, seqs, [labs[i] for i in sel], B)
            loss.backward()
            total += float(loss)
        lrs.append(sched.get_last_lr()[0])
        norm = torch.nn.utils.clip_grad_norm_(plist, a["clip"])
        norms.append(float(norm))
        opt.step()
        sched.step()
        losses.append(total)
    print("adamw: losses", losses, "grad norms", norms, "(clip", a["clip"], ")")
    assert min(norms) > a["clip"], "clipping should be active in every step"
    T = {}
    off = [0]
    for t in traces:
        off.append(off[-1] + len(t))
    T["adamw.trace_tokens"] = torch.cat(traces).int().contiguous()
    T["adamw.trace_offsets"] = torch.tensor(off, dtype=torch.int64)
    T["adamw.prompt_len"] = torch.tensor(prompt_len, dtype=torch.int32)
    T["adamw.step"] = torch.tensor(steps, dtype=torch.int32)
    lo = [0]
    for ids, _ in labs:
        lo.append(lo[-1] + len(ids))
    T["adamw.lab_off"] = torch.tensor(lo, dtype=torch.int64)
    T["adamw.lab_ids"] = torch.cat([i for i, _ in labs]).int().contiguous()
    T["adamw.lab_w"] = torch.cat([w for _, w in labs]).float().contiguous()
    T["adamw.loss"] = torch.tensor(losses, dtype=torch.float64)
    T["adamw.grad_norm"] = torch.tensor(norms, dtype=torch.float64)
    T["adamw.lr"] = torch.tensor(lrs, dtype=torch.float64)
    T["adamw.config"] = torch.tensor([a["seed"], a["micro"], a["accum"], a["steps"], a["r"], a["alpha"]],
                                     dtype=torch.int64)
    T["adamw.hyper"] = torch.tensor([a["lr"], a["clip"]], dtype=torch.float64)
    for k, p in params.items():
        T["adamw.final." + k] = p.detach().clone().contiguous()
    return T


def phase2(bin_path):
    """Round trip through our binary: see the module docstring."""
    G = load_file(os.path.join(OUT, "goldens.safetensors"))
    exp_dir = os.path.join(OUT, "exported_adapter")
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run.h5")
        helper = os.environ.get("LR_TRAIN_RUNFILE_TOOL")
        if not helper:
            sys.exit("phase 2 needs LR_TRAIN_RUNFILE_TOOL=<build>/tests/test_train_e2e (writes the AdamW run file)")
        subprocess.run([helper, "--make-runfile", run], check=True)
        a = ADAMW
        cmd = [bin_path, "train", "--run", run, "--model", EXPERT, "--init-adapter",
               os.path.join(OUT, "adapter_expert_qvd"), "--lr", str(a["lr"]), "--max-grad-norm", str(a["clip"]),
               "--micro-batch", str(a["micro"]), "--grad-accum", str(a["accum"]), "--max-steps", str(a["steps"]),
               "--seed", str(a["seed"]), "--dropout", "0", "--export", exp_dir, "--quiet"]
        subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1", LR_MPI="0"))
        with open(os.path.join(exp_dir, "adapter_config.json")) as f:
            c = json.load(f)
        c["base_model_name_or_path"] = os.path.relpath(EXPERT, ROOT)
        with open(os.path.join(exp_dir, "adapter_config.json"), "w") as f:
            json.dump(c, f, indent=2)
        base = load(EXPERT)
        pm = PeftModel.from_pretrained(base, exp_dir)
        pm.eval()
        seqs = ragged(pm.config.vocab_size, [6, 13], 41)
        R = pack("roundtrip", seqs)
        R["roundtrip.logits"] = logits_all(pm, seqs).contiguous()
        merged = os.path.join(tmp, "merged")
        subprocess.run([bin_path, "merge", "--model", EXPERT, "--adapter", exp_dir, "--out", merged], check=True)
        mm = load(merged)
        R["roundtrip.merged_logits"] = logits_all(mm, seqs).contiguous()
        d = (R["roundtrip.merged_logits"] - R["roundtrip.logits"]).abs().max().item()
        print("merged (transformers) vs adapter (peft) max |diff|:", d)
        assert d < 1e-4
        save_file(R, os.path.join(OUT, "goldens_roundtrip.safetensors"))
        print("wrote", os.path.join(OUT, "goldens_roundtrip.safetensors"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="lightreasoner binary: run phase 2 (round trip through our export/merge)")
    ap.add_argument("--skip-phase1", action="store_true")
    args = ap.parse_args()
    if not args.skip_phase1:
        phase1()
    if args.bin:
        phase2(args.bin)
