#!/usr/bin/env python3
"""Figures from a lightreasoner run file (offline analysis; h5py + matplotlib only).

    python3 tools/analyze.py run.h5 [--out figures/] [--trace N] [--tokenizer DIR]

Writes PNGs for what the run file holds:
  kl_hist.png            KL_t of every generated step, with the beta line of /samples
  selection_by_step.png  fraction of steps selected (KL >= beta) by step position t
  trace_kl.png           one trace's generated tokens, coloured by KL_t (selected ones boxed)
  train_loss.png         /train/log loss (and learning rate) per optimizer step
  accuracy.png           each /eval group's accuracy with its 95% Wilson interval
Token text comes from the expert's tokenizer.json (path in the run file, or
--tokenizer); without it tokens are shown as ids.
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def attr(obj, name, default=None):
    v = obj.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.item()
    return v


def byte_decoder():
    """GPT-2/Qwen2 ByteLevel: the printable stand-in character of each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def load_vocab(tok_dir):
    """id -> text for a byte-level BPE tokenizer.json, or None."""
    if not tok_dir:
        return None
    path = os.path.join(tok_dir, "tokenizer.json")
    try:
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
    except (OSError, ValueError):
        return None
    dec = byte_decoder()
    vocab = {}
    for s, i in tj.get("model", {}).get("vocab", {}).items():
        vocab[i] = bytes(dec.get(ch, 63) for ch in s).decode("utf-8", "replace")
    for t in tj.get("added_tokens", []):
        vocab[t["id"]] = t["content"]
    return vocab


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def fig_kl_hist(f, out, beta):
    kl = f["divergence/kl"][:]
    fig, ax = plt.subplots(figsize=(7, 4))
    hi = max(float(np.percentile(kl, 99.5)), beta * 1.5, 1e-3) if len(kl) else 1.0
    ax.hist(np.clip(kl, 0, hi), bins=60, color="#4a7fb5", edgecolor="white", linewidth=0.3)
    ax.axvline(beta, color="#d62728", linestyle="--", linewidth=2, label=f"β = {beta:g}")
    sel = float((kl >= beta).mean()) if len(kl) else 0.0
    ax.set_xlabel("KL(p_E ‖ p_A) per generated step (nats)")
    ax.set_ylabel("steps")
    ax.set_title(f"{len(kl)} steps, {100 * sel:.1f}% selected (KL ≥ β)")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "kl_hist.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_selection_by_step(f, out, beta):
    kl, step = f["divergence/kl"][:], f["divergence/step"][:]
    if len(kl) == 0:
        return None
    n = int(step.max()) + 1
    count = np.bincount(step, minlength=n)
    chosen = np.bincount(step, weights=(kl >= beta).astype(float), minlength=n)
    mean_kl = np.bincount(step, weights=kl, minlength=n) / np.maximum(count, 1)
    rate = chosen / np.maximum(count, 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(np.arange(n), rate, color="#2ca02c", width=1.0, alpha=0.8, label="selected fraction")
    ax.set_xlabel("step position t (generated token index)")
    ax.set_ylabel("fraction of traces with KL_t ≥ β")
    ax.set_ylim(0, 1)
    ax2 = ax.twinx()
    ax2.plot(np.arange(n), mean_kl, color="#9467bd", linewidth=1.5, label="mean KL")
    ax2.set_ylabel("mean KL (nats)")
    ax.set_title(f"Selection rate by step position (β = {beta:g})")
    fig.legend(loc="upper right")
    fig.tight_layout()
    path = os.path.join(out, "selection_by_step.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_trace(f, out, beta, trace, vocab):
    T, D = f["traces"], f["divergence"]
    n_tr = T["prompt_len"].shape[0]
    if n_tr == 0:
        return None
    i = min(max(trace, 0), n_tr - 1)
    off, plen = T["token_offsets"][i:i + 2], int(T["prompt_len"][i])
    toks = T["tokens"][off[0] + plen:off[1]]
    so = T["step_offsets"][i:i + 2]
    kl = D["kl"][so[0]:so[1]]
    toks = toks[:len(kl)]
    words = [(vocab.get(int(t), f"<{t}>") if vocab else f"{t} ") for t in toks]
    cmap = plt.get_cmap("viridis")
    vmax = max(float(kl.max()) if len(kl) else 1.0, beta, 1e-6)
    fig = plt.figure(figsize=(11, 4))
    ax = fig.add_axes([0.02, 0.3, 0.96, 0.6])
    ax.axis("off")
    x, y, line_h, width = 0.0, 1.0, 0.12, 1.0
    renderer = fig.canvas.get_renderer()
    for w, k in zip(words, kl):
        shown = "".join(ch if ch.isprintable() else ("⏎" if ch == "\n" else "·") for ch in w)
        t = ax.text(x, y, shown, fontsize=10, family="monospace", va="top", transform=ax.transAxes,
                    bbox=dict(boxstyle="square,pad=0.15", fc=cmap(float(k) / vmax),
                              ec="#d62728" if k >= beta else "none", lw=1.2))
        bb = t.get_window_extent(renderer=renderer).transformed(ax.transAxes.inverted())
        if x > 0 and bb.x1 > width:  # wrap
            x, y = 0.0, y - line_h
            t.set_position((x, y))
            bb = t.get_window_extent(renderer=renderer).transformed(ax.transAxes.inverted())
        x = bb.x1 + 0.004
        if "\n" in w:
            x, y = 0.0, y - line_h
        if y < 0:
            break
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    cax = fig.add_axes([0.25, 0.16, 0.5, 0.05])
    fig.colorbar(sm, cax=cax, orientation="horizontal", label="KL_t (nats); red box = selected (KL ≥ β)")
    ax.set_title(f"trace {i}: {len(kl)} generated tokens coloured by KL", loc="left")
    path = os.path.join(out, "trace_kl.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_train(f, out):
    log = f["train/log"]
    step, loss = log["step"][:], log["loss"][:]
    if len(loss) == 0:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(step, loss, color="#1f77b4", alpha=0.5, linewidth=1, label="loss")
    if len(loss) >= 10:
        k = max(2, len(loss) // 20)
        sm = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(step[k - 1:], sm, color="#1f77b4", linewidth=2, label=f"mean of {k}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("KL(w ‖ softmax z) per sample (nats)")
    if "lr" in log:
        ax2 = ax.twinx()
        ax2.plot(step, log["lr"][:], color="#ff7f0e", linewidth=1, label="lr")
        ax2.set_ylabel("learning rate")
    ax.set_title("LoRA training loss")
    fig.legend(loc="upper right")
    fig.tight_layout()
    path = os.path.join(out, "train_loss.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_accuracy(f, out):
    names, acc, lo, hi = [], [], [], []
    for name, g in f["eval"].items():
        if name.startswith(".") or "correct" not in g:
            continue
        c = g["correct"][:]
        k, n = int(c.sum()), len(c)
        a = attr(g, "accuracy", k / n if n else 0.0)
        l, h = attr(g, "accuracy_ci95_low"), attr(g, "accuracy_ci95_high")
        if l is None or h is None:
            l, h = wilson(k, n)
        names.append(f"{name}\n{k}/{n}")
        acc.append(100 * a), lo.append(100 * (a - l)), hi.append(100 * (h - a))
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(names) + 2), 4))
    colors = plt.get_cmap("tab10")(np.arange(len(names)) % 10)
    ax.bar(np.arange(len(names)), acc, yerr=[lo, hi], capsize=6, color=colors)
    for i, a in enumerate(acc):
        ax.text(i, a + 1, f"{a:.1f}%", ha="center", va="bottom")
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("accuracy (%) with 95% Wilson interval")
    ax.set_ylim(0, 100)
    ax.set_title("Evaluation accuracy (before / after)")
    fig.tight_layout()
    path = os.path.join(out, "accuracy.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run file (HDF5)")
    ap.add_argument("--out", default="figures", help="directory for the PNGs (default: figures)")
    ap.add_argument("--trace", type=int, default=0, help="trace shown in trace_kl.png (default: 0)")
    ap.add_argument("--tokenizer", help="directory with tokenizer.json (default: the run's expert)")
    ap.add_argument("--beta", type=float, help="β line (default: /samples beta, else 0.4)")
    a = ap.parse_args()
    try:
        f = h5py.File(a.run, "r")
    except OSError as e:
        print(f"analyze.py: error: {a.run}: cannot open as HDF5 ({e})", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    written = []
    with f:
        beta = a.beta
        if beta is None:
            beta = float(attr(f["samples"], "beta", 0.4)) if "samples" in f else 0.4
        if "divergence" in f and "kl" in f["divergence"]:
            vocab = load_vocab(a.tokenizer or attr(f, "expert"))
            written += [fig_kl_hist(f, a.out, beta), fig_selection_by_step(f, a.out, beta),
                        fig_trace(f, a.out, beta, a.trace, vocab)]
        if "train" in f and "log" in f["train"]:
            written.append(fig_train(f, a.out))
        if "eval" in f:
            written.append(fig_accuracy(f, a.out))
    written = [w for w in written if w]
    if not written:
        print(f"analyze.py: error: {a.run}: no /divergence, /train or /eval to plot", file=sys.stderr)
        return 2
    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
