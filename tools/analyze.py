#!/usr/bin/env python3
"""Figures from a lightreasoner run file (offline analysis; h5py + matplotlib only).

    python3 tools/analyze.py run.h5 [--out figures/] [--trace N] [--tokenizer DIR]
    python3 tools/analyze.py --compare sweep/task-*.h5 [--out figures/] [--eval NAME]

Writes PNGs for what the run file holds:
  kl_hist.png            KL_t of every generated step on a log axis (labelled under/overflow
                         bins), with the beta line of /samples
  selection_by_step.png  fraction of steps selected (KL >= beta) by step position t, mean KL_t
  trace_kl.png           one trace: its question, KL_t per step, and its tokens coloured by KL_t
  train_loss.png         /train/log loss (and learning rate) per optimizer step
  accuracy.png           each /eval group (pipeline order) with its 95% Wilson interval
With --compare (two or more run files, e.g. a sweep's tasks):
  compare.png            accuracy with 95% intervals against the varying beta / alpha / lr,
                         the "before" accuracy as a band, and the training curves overlaid
Legends sit outside the axes.
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


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def legend_below(fig, axes, ncol=3):
    """One legend for all the axes' lines, under the plot (never over data)."""
    handles, labels = [], []
    for ax in axes:
        h, l = ax.get_legend_handles_labels()
        handles += h
        labels += l
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(ncol, len(labels)),
                   frameon=False)


def fig_kl_hist(f, out, beta):
    """KL per step on a log axis: log-spaced bins between the smallest
    positive KL and the 99.5th percentile, plus labelled under- and overflow
    bins (KL below the range, zeros included; KL above it)."""
    kl = f["divergence/kl"][:]
    n_nan = int(np.isnan(kl).sum())
    kl = kl[np.isfinite(kl)]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    if len(kl) == 0:
        ax.text(0.5, 0.5, "no finite KL values", ha="center", va="center", transform=ax.transAxes)
        return save(fig, out, "kl_hist.png")
    pos = kl[kl > 0]
    lo = max(float(np.percentile(pos, 0.5)) if len(pos) else 1e-6, 1e-8)
    if beta > 0:  # the β line is always inside the range
        lo = min(lo, beta / 2)
    hi = max(float(np.percentile(kl, 99.5)), lo * 10, beta * 2 if beta > 0 else 0)
    edges = np.logspace(np.log10(lo), np.log10(hi), 50)
    under, over = int((kl < lo).sum()), int((kl > hi).sum())
    counts, _ = np.histogram(np.clip(kl, lo, hi), bins=edges)
    counts[0] -= under  # the clipped values are drawn as their own bins
    counts[-1] -= over
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4a7fb5", edgecolor="white",
           linewidth=0.3, label="steps per bin")
    ax.set_xscale("log")
    # under/overflow bins: one bin-width beyond each end, hatched and labelled
    r = edges[1] / edges[0]
    for x0, n, txt in [(lo / r, under, f"< {lo:.2g}"), (hi, over, f"> {hi:.2g}")]:
        ax.bar([x0], [n], width=[x0 * (r - 1)], align="edge", color="#bbbbbb", hatch="//", edgecolor="#555555",
               linewidth=0.5)
        ax.annotate(f"{txt}\n{n} step{'' if n == 1 else 's'}", (x0 * math.sqrt(r), n), textcoords="offset points",
                    xytext=(0, 4), ha="center", va="bottom", fontsize=8, color="#333333")
    ax.set_xlim(lo / r ** 4, hi * r ** 4)
    ax.set_ylim(0, max(counts.max(), under, over) * 1.25 + 1)
    if beta > 0:
        ax.axvline(beta, color="#d62728", linestyle="--", linewidth=2, label=f"β = {beta:g} (selected: KL ≥ β)")
    sel = float((kl >= beta).mean())
    ax.set_xlabel("KL(p_E ‖ p_A) per generated step (nats, log scale; grey bins: outside the range)")
    ax.set_ylabel("steps")
    nan_txt = f", {n_nan} non-finite left out" if n_nan else ""
    ax.set_title(f"{len(kl)} steps, {100 * sel:.1f}% selected{nan_txt}")
    legend_below(fig, [ax], ncol=2)
    return save(fig, out, "kl_hist.png")


def fig_selection_by_step(f, out, beta):
    kl, step = f["divergence/kl"][:], f["divergence/step"][:]
    ok = np.isfinite(kl)
    kl, step = kl[ok], step[ok]
    if len(kl) == 0:
        return None
    n = int(step.max()) + 1
    count = np.bincount(step, minlength=n)
    chosen = np.bincount(step, weights=(kl >= beta).astype(float), minlength=n)
    mean_kl = np.bincount(step, weights=kl, minlength=n) / np.maximum(count, 1)
    rate = chosen / np.maximum(count, 1)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.bar(np.arange(n), rate, color="#2ca02c", width=1.0, alpha=0.8, label="selected fraction (left axis)")
    ax.set_xlabel("step position t (generated token index)")
    ax.set_ylabel("fraction of traces with KL_t ≥ β")
    ax.set_ylim(0, 1)
    ax2 = ax.twinx()
    ax2.plot(np.arange(n), mean_kl, color="#9467bd", linewidth=1.5, label="mean KL_t (right axis)")
    ax2.set_ylabel("mean KL (nats)")
    ax2.set_ylim(0, max(float(mean_kl.max()) * 1.1, 1e-6))
    ax3 = ax.twinx()  # traces still running at t: why the rate gets noisy late
    ax3.plot(np.arange(n), count / max(count.max(), 1), color="#7f7f7f", linewidth=1, linestyle=":",
             label="traces reaching t (share)")
    ax3.set_ylim(0, 1.05)
    ax3.set_yticks([])
    ax.set_title(f"Selection rate by step position (β = {beta:g})")
    legend_below(fig, [ax, ax2, ax3])
    return save(fig, out, "selection_by_step.png")


def _printable(w):
    return "".join(ch if ch.isprintable() else ("⏎" if ch == "\n" else "·") for ch in w)


def fig_trace(f, out, beta, trace, vocab):
    """One trace: the question, KL_t per generated step (bars, selected ones
    red, β line) and the generated text token by token, coloured by KL_t,
    wrapped to the figure width (its height follows the text)."""
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
    words = [_printable(vocab.get(int(t), f"<{t}>") if vocab else f"{t} ") for t in toks]
    question = ""
    if "problems" in f and "problem" in T:
        try:
            question = f["problems/question"].asstr()[int(T["problem"][i])]
        except (KeyError, ValueError, TypeError):
            question = ""
    # lay the tokens out on a character grid (monospace), wrapping at `width`
    width, pos, line, col = 100, [], 0, 0
    for w in words:
        n = max(len(w), 1)
        if col > 0 and col + n > width:
            line, col = line + 1, 0
        pos.append((line, col))
        col += n
        if w.endswith("⏎"):
            line, col = line + 1, 0
    n_lines = line + 1
    q_lines = [question[k:k + 150] for k in range(0, min(len(question), 450), 150)] if question else []
    text_h = 0.22 * n_lines + 0.4
    fig = plt.figure(figsize=(12, 2.6 + text_h + 0.18 * len(q_lines)))
    gs = fig.add_gridspec(2, 1, height_ratios=[2.2, text_h], hspace=0.35)
    ax_kl, ax_tx = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    finite = np.where(np.isfinite(kl), kl, 0)
    colors = ["#d62728" if k >= beta else "#4a7fb5" for k in finite]
    ax_kl.bar(np.arange(len(kl)), finite, color=colors, width=0.9)
    ax_kl.axhline(beta, color="#d62728", linestyle="--", linewidth=1)
    ax_kl.set_xlim(-0.5, max(len(kl), 1) - 0.5)
    ax_kl.set_xlabel("generated step t")
    ax_kl.set_ylabel("KL_t (nats)")
    n_sel = int((finite >= beta).sum())
    head = f"trace {i}: {len(kl)} generated tokens, {n_sel} selected (red, KL ≥ β = {beta:g})"
    if q_lines:
        head += "\nQ: " + "\n   ".join(q_lines) + ("…" if len(question) > 450 else "")
    ax_kl.set_title(head, loc="left", fontsize=9)
    cmap = plt.get_cmap("viridis")
    vmax = max(float(finite.max()) if len(finite) else 1.0, beta, 1e-6)
    ax_tx.set_xlim(0, width)
    ax_tx.set_ylim(n_lines, -0.2)
    ax_tx.axis("off")
    for (ln, c), w, k in zip(pos, words, finite):
        ax_tx.text(c, ln + 0.5, w if w.strip() else "␣", fontsize=9, family="monospace", va="center",
                   bbox=dict(boxstyle="square,pad=0.05", fc=cmap(float(k) / vmax),
                             ec="#d62728" if k >= beta else "none", lw=1.2),
                   color="white" if float(k) / vmax < 0.45 else "black")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    fig.colorbar(sm, ax=ax_tx, orientation="horizontal", fraction=0.08 if n_lines > 3 else 0.2, pad=0.02,
                 label="KL_t (nats) of each generated token; red outline = selected")
    return save(fig, out, "trace_kl.png")


def fig_train(f, out):
    log = f["train/log"]
    step, loss = log["step"][:], log["loss"][:]
    if len(loss) == 0:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(step, loss, color="#1f77b4", alpha=0.5, linewidth=1, label="loss per step")
    if len(loss) >= 10:
        k = max(2, len(loss) // 20)
        sm = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(step[k - 1:], sm, color="#1f77b4", linewidth=2, label=f"mean of {k} steps")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss: KL(w ‖ softmax z) per sample (nats)")
    axes = [ax]
    if "lr" in log:
        ax2 = ax.twinx()
        lr = log["lr"][:]
        ax2.plot(step, lr, color="#ff7f0e", linewidth=1, label="learning rate (right axis)")
        ax2.set_ylabel("learning rate")
        ax2.set_ylim(0, max(float(lr.max()), 1e-12) * 1.1)
        ax2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        axes.append(ax2)
    ax.set_title("LoRA training loss")
    legend_below(fig, axes)
    return save(fig, out, "train_loss.png")


def eval_order(names):
    """Pipeline order: before, after, then the others by name."""
    return sorted(names, key=lambda n: (0 if n.startswith("before") else 1 if n.startswith("after") else 2, n))


def eval_result(g):
    c = g["correct"][:]
    k, n = int(c.sum()), len(c)
    a = attr(g, "accuracy", k / n if n else 0.0)
    lo, hi = attr(g, "accuracy_ci95_low"), attr(g, "accuracy_ci95_high")
    if lo is None or hi is None:
        lo, hi = wilson(k, n)
    return a, lo, hi, k, n


def fig_accuracy(f, out):
    names = eval_order([n for n, g in f["eval"].items() if not n.startswith(".") and "correct" in g])
    if not names:
        return None
    acc, lo, hi, labels = [], [], [], []
    for name in names:
        g = f["eval"][name]
        a, l, h, k, n = eval_result(g)
        bench = attr(g, "benchmark", "")
        labels.append(f"{name}\n{k}/{n}" + (f"\n{os.path.basename(str(bench))}" if bench else ""))
        acc.append(100 * a), lo.append(100 * l), hi.append(100 * h)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 * len(names) + 2), 4.5))
    palette = {"before": "#7f7f7f", "after": "#2ca02c"}
    colors = [palette.get(n.split(".")[0], plt.get_cmap("tab10")(i % 10)) for i, n in enumerate(names)]
    x = np.arange(len(names))
    ax.bar(x, acc, color=colors, width=0.6)
    ax.errorbar(x, acc, yerr=[np.subtract(acc, lo), np.subtract(hi, acc)], fmt="none", ecolor="black", capsize=6,
                linewidth=1.2)
    for i in range(len(names)):  # the value above the interval's upper end: never on the error bar
        ax.text(i, hi[i] + 2, f"{acc[i]:.1f}%", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.set_ylabel("accuracy (%) with 95% Wilson interval")
    ax.set_ylim(0, min(100, max(hi) + 12) if max(hi) < 88 else 110)
    ax.set_title("Evaluation accuracy: " + " / ".join(names))
    return save(fig, out, "accuracy.png")


# ---------------------------------------------------------------- comparison
def run_params(f):
    """(beta, alpha, lr) of a run file: /samples and /train's config."""
    beta = attr(f["samples"], "beta") if "samples" in f else None
    alpha = attr(f["samples"], "alpha") if "samples" in f else None
    lr = None
    if "train" in f:
        try:
            lr = json.loads(attr(f["train"], "config", "{}")).get("lr")
        except ValueError:
            lr = None
    return {"β": beta, "α": alpha, "lr": lr}


def fig_compare(paths, out, eval_name=None):
    """Runs side by side: accuracy with 95% intervals against the parameter
    that varies (β, α or lr; every varying one in the labels), and their
    training curves overlaid."""
    runs = []
    for p in paths:
        with h5py.File(p, "r") as f:
            params = run_params(f)
            names = eval_order([n for n, g in f["eval"].items() if "correct" in g]) if "eval" in f else []
            pick = eval_name if eval_name in names else ("after" if "after" in names else (names[-1] if names else None))
            res = eval_result(f["eval"][pick]) if pick else None
            base = eval_result(f["eval"]["before"]) if "before" in names else None
            curve = (f["train/log/step"][:], f["train/log/loss"][:]) if "train" in f and "log" in f["train"] else None
        runs.append(dict(path=p, params=params, res=res, base=base, curve=curve, eval=pick))
    varying = [k for k in ["β", "α", "lr"] if len({r["params"][k] for r in runs}) > 1]
    label = lambda r: ", ".join(f"{k}={r['params'][k]:g}" for k in (varying or ["β", "α", "lr"])
                                if r["params"][k] is not None) or os.path.basename(r["path"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    numeric = len(varying) == 1
    if numeric:
        key = varying[0]
        order = sorted(range(len(runs)), key=lambda i: runs[i]["params"][key])
        xs = [runs[i]["params"][key] for i in order]
    else:
        order = list(range(len(runs)))
        xs = list(range(len(runs)))
    have = [(x, runs[i]) for x, i in zip(xs, order) if runs[i]["res"]]
    if have:
        x = [h[0] for h in have]
        a = [100 * h[1]["res"][0] for h in have]
        lo = [100 * h[1]["res"][1] for h in have]
        hi = [100 * h[1]["res"][2] for h in have]
        ax.errorbar(x, a, yerr=[np.subtract(a, lo), np.subtract(hi, a)], fmt="o-" if numeric else "o", capsize=5,
                    color="#2ca02c", label="after training (95% Wilson interval)")
        bases = [h[1]["base"] for h in have if h[1]["base"]]
        if bases:
            b = bases[0]
            ax.axhspan(100 * b[1], 100 * b[2], color="#7f7f7f", alpha=0.2, label="before: 95% interval")
            ax.axhline(100 * b[0], color="#7f7f7f", linestyle="--", label=f"before: {100 * b[0]:.1f}%")
    if numeric:
        ax.set_xlabel(varying[0])
        if varying[0] == "lr":
            ax.set_xscale("log")
    else:
        ax.set_xticks(xs)
        ax.set_xticklabels([label(runs[i]) for i in order], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"accuracy by {' × '.join(varying) if varying else 'run'} ({len(runs)} runs)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if not numeric else -0.15), frameon=False, ncol=2)
    cmap = plt.get_cmap("viridis")
    for j, i in enumerate(order):
        r = runs[i]
        if not r["curve"]:
            continue
        step, loss = r["curve"]
        k = max(1, len(loss) // 20)
        sm = np.convolve(loss, np.ones(k) / k, mode="valid") if len(loss) >= k else loss
        ax2.plot(step[len(step) - len(sm):], sm, color=cmap(j / max(len(runs) - 1, 1)), linewidth=1.5,
                 label=label(r))
    ax2.set_xlabel("optimizer step")
    ax2.set_ylabel("training loss (nats, running mean)")
    ax2.set_title("training curves")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    fig.tight_layout()
    return save(fig, out, "compare.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="+", help="run file (HDF5); with --compare, two or more")
    ap.add_argument("--out", default="figures", help="directory for the PNGs (default: figures)")
    ap.add_argument("--trace", type=int, default=0, help="trace shown in trace_kl.png (default: 0)")
    ap.add_argument("--tokenizer", help="directory with tokenizer.json (default: the run's expert)")
    ap.add_argument("--beta", type=float, help="β line (default: /samples beta, else 0.4)")
    ap.add_argument("--compare", action="store_true",
                    help="compare the run files (e.g. a sweep's task-*.h5): compare.png only")
    ap.add_argument("--eval", dest="eval_name", help="with --compare: the /eval group compared (default: after)")
    a = ap.parse_args()
    for p in a.run:
        try:
            h5py.File(p, "r").close()
        except OSError as e:
            print(f"analyze.py: error: {p}: cannot open as HDF5 ({e})", file=sys.stderr)
            return 2
    if a.compare:
        if len(a.run) < 2:
            print("analyze.py: error: --compare needs two or more run files", file=sys.stderr)
            return 2
        os.makedirs(a.out, exist_ok=True)
        print(fig_compare(a.run, a.out, a.eval_name))
        return 0
    if len(a.run) != 1:
        print("analyze.py: error: one run file (or --compare with several)", file=sys.stderr)
        return 2
    f = h5py.File(a.run[0], "r")
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
        print(f"analyze.py: error: {a.run[0]}: no /divergence, /train or /eval to plot", file=sys.stderr)
        return 2
    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
