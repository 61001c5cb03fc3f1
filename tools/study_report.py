#!/usr/bin/env python3
"""Report of tools/study.sh: reads the run files under OUT and writes a
Markdown report (accuracy table, Wilson intervals, paired McNemar tests
against the base model, the KL histogram and label shapes next to the
paper's) and a figure next to it.

    /usr/bin/python3 tools/study_report.py study-out --out docs/STUDY.md

Debian's python3-h5py/numpy/matplotlib only (no model, no PyTorch).
"""
import argparse
import glob
import math
import os
import re

import h5py
import numpy as np

ARM_TEXT = {
    "lr": "LightReasoner (KL ≥ β, contrast labels)",
    "random": "random steps (as many as KL), contrast labels",
    "all": "all steps, contrast labels",
    "onehot": "KL-selected steps, one-hot expert token",
    "sft": "SFT control: random steps (as many as KL), one-hot expert token",
}
ARM_ORDER = ["lr", "random", "all", "onehot", "sft"]
# The paper's App. H.3.2 (Qwen2.5-Math-1.5B expert vs Qwen2.5-0.5B amateur):
# about 60% of the steps have KL in [0, 0.1) and about 20% KL >= 0.4.
PAPER_KL = {"[0, 0.1)": 0.60, ">= 0.4": 0.20}


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def mcnemar_exact(b, c):
    """Two-sided exact McNemar test: b = base right / arm wrong, c = base
    wrong / arm right; binomial(b + c, 1/2) on the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def read_eval(path, name):
    with h5py.File(path, "r") as f:
        g = f[f"eval/{name}"]
        return np.asarray(g["correct"][()], dtype=bool)


def kl_stats(path):
    with h5py.File(path, "r") as f:
        kl = np.asarray(f["divergence/kl"][()])
        beta = float(f["samples"].attrs["beta"])
        off = np.asarray(f["samples/label_offsets"][()])
        ids = np.asarray(f["samples/label_ids"][()])
        w = np.asarray(f["samples/label_weights"][()])
        row = np.asarray(f["samples/divergence_row"][()])
        tok = np.asarray(f["divergence/token"][()])
    kl = kl[np.isfinite(kl)]
    sizes = np.diff(off)
    argmax = np.array([ids[off[i] + int(np.argmax(w[off[i]:off[i + 1]]))] for i in range(len(sizes))], dtype=np.int64)
    edges = [0, 0.1, 0.2, 0.3, 0.4, np.inf]
    hist = [float(np.mean((kl >= lo) & (kl < hi))) for lo, hi in zip(edges[:-1], edges[1:])]
    return {
        "n_steps": int(kl.size), "beta": beta, "hist": hist, "edges": edges, "kl": kl,
        "n_selected": int(sizes.size),
        "single": float(np.mean(sizes == 1)) if sizes.size else float("nan"),
        "moved": float(np.mean(argmax != tok[row])) if sizes.size else float("nan"),
        "mean_label": float(np.mean(sizes)) if sizes.size else float("nan"),
    }


def samples_attrs(path):
    with h5py.File(path, "r") as f:
        a = f["samples"].attrs
        return {k: (a[k].decode() if isinstance(a[k], bytes) else a[k]) for k in a}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--out", default="docs/STUDY.md")
    ap.add_argument("--command", default="bash tools/study.sh")
    ap.add_argument("--title", default="LightReasoner study on the demo (measured)")
    ap.add_argument("--note", default="", help="a paragraph put under the title (e.g. what run this is)")
    a = ap.parse_args()
    d = a.out_dir
    base = read_eval(os.path.join(d, "base.h5"), "base")
    n = base.size
    kb = int(base.sum())
    lo, hi = wilson(kb, n)
    rows = []  # (amateur, arm, seed, acc, lo, hi, b, c, p)
    for am_dir in sorted(glob.glob(os.path.join(d, "*", "sample.h5"))):
        tag = os.path.basename(os.path.dirname(am_dir))
        for f in sorted(glob.glob(os.path.join(os.path.dirname(am_dir), "*-s*.h5"))):
            m = re.match(r"(.+)-s(\d+)\.h5$", os.path.basename(f))
            if not m or not os.path.exists(f + ".done"):
                continue
            arm, seed = m.group(1), int(m.group(2))
            y = read_eval(f, "after")
            if y.size != n:
                raise SystemExit(f"{f}: {y.size} evaluated problems, base has {n}")
            k = int(y.sum())
            b = int(np.sum(base & ~y))
            c = int(np.sum(~base & y))
            rows.append((tag, arm, seed, k / n, *wilson(k, n), b, c, mcnemar_exact(b, c), samples_attrs(f)))

    def arm_key(r):
        return (r[0] != "main", r[0], ARM_ORDER.index(r[1]) if r[1] in ARM_ORDER else 99, r[2])

    rows.sort(key=arm_key)
    groups = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append(r)

    L = [f"# {a.title}", ""]
    if a.note:
        L += [a.note, ""]
    L += ["Reproduce: `" + a.command + "` (tools/study.sh; report: tools/study_report.py). "
          "Accuracy = greedy `lightreasoner eval` on the test file, the SPEC's evaluation prompt and extraction. "
          "Intervals: 95% Wilson. p: exact two-sided McNemar test of each trained model against the base on the same "
          "problems (b = base right & arm wrong, c = base wrong & arm right).", ""]
    L += [f"**Base expert**: {100 * kb / n:.1f}% ({kb}/{n}), 95% CI [{100 * lo:.1f}, {100 * hi:.1f}].", ""]
    L += ["## Summary (one row per arm; seeds pooled only in the mean)", "",
          "| amateur | arm | samples | seeds | mean acc % | Δ vs base (mean; min..max) | seeds better, p<0.05 | "
          "seeds worse, p<0.05 |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (tag, arm), rs in groups.items():
        accs = np.array([r[3] for r in rs])
        dl = 100 * (accs - kb / n)
        better = sum(1 for r in rs if r[8] < 0.05 and r[7] > r[6])
        worse = sum(1 for r in rs if r[8] < 0.05 and r[6] > r[7])
        ns = rs[0][9].get("n_samples", "?")
        L.append(f"| {tag} | {ARM_TEXT.get(arm, arm)} | {ns} | {len(rs)} | {100 * accs.mean():.1f} | "
                 f"{dl.mean():+.1f}; {dl.min():+.1f}..{dl.max():+.1f} | {better} | {worse} |")
    L += ["", "## Every trained model", "",
          "| amateur | arm | seed | acc % | 95% CI | b | c | McNemar p |", "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        tag, arm, seed, acc, rlo, rhi, b, c, p, _ = r
        L.append(f"| {tag} | {arm} | {seed} | {100 * acc:.1f} | [{100 * rlo:.1f}, {100 * rhi:.1f}] | {b} | {c} | "
                 f"{p:.3g} |")

    L += ["", "## What the contrast looks like (KL histogram and label shapes)", "",
          "Share of generated steps per KL bin (finite steps of each amateur's `sample` run) next to the paper's "
          "(App. H.3.2: about 60% of steps in [0, 0.1), about 20% ≥ 0.4); for the KL-selected steps (β from the "
          "run), the share of single-token labels (the plausible set holds only the expert's token) and the share "
          "whose label's argmax is not the expert's own token.", "",
          "| amateur | steps | [0, 0.1) | [0.1, 0.2) | [0.2, 0.3) | [0.3, 0.4) | ≥ 0.4 | selected (β) | "
          "single-token labels | argmax moved |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
          "| paper (Qwen2.5-Math-1.5B / 0.5B) | | ≈60% | | | | ≈20% | | | |"]
    kls = {}
    for am_dir in sorted(glob.glob(os.path.join(d, "*", "sample.h5")), key=lambda p: ("/main/" not in p, p)):
        tag = os.path.basename(os.path.dirname(am_dir))
        s = kl_stats(am_dir)
        kls[tag] = s
        h = " | ".join(f"{100 * x:.1f}%" for x in s["hist"])
        L.append(f"| {tag} | {s['n_steps']} | {h} | {s['n_selected']} ({s['beta']:g}) | {100 * s['single']:.1f}% | "
                 f"{100 * s['moved']:.1f}% |")

    fig_rel = os.path.splitext(os.path.basename(a.out))[0].lower() + ".png"
    fig_path = os.path.join(os.path.dirname(os.path.abspath(a.out)), fig_rel)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
        labels = []
        for i, ((tag, arm), rs) in enumerate(groups.items()):
            accs = [100 * r[3] for r in rs]
            ax[0].scatter([i] * len(accs), accs, s=18, color="C0")
            ax[0].errorbar([i], [np.mean(accs)], yerr=[[np.mean(accs) - 100 * np.mean([r[4] for r in rs])],
                                                       [100 * np.mean([r[5] for r in rs]) - np.mean(accs)]],
                           fmt="_", color="C3", capsize=4)
            labels.append(f"{arm}\n({tag})")
        ax[0].axhline(100 * kb / n, color="k", lw=1)
        ax[0].axhspan(100 * lo, 100 * hi, color="k", alpha=0.1, label="base, 95% CI")
        ax[0].set_xticks(range(len(labels)), labels, fontsize=8)
        ax[0].set_ylabel("test accuracy %")
        ax[0].set_title(f"accuracy per seed (dots), mean with mean Wilson CI; n={n}")
        ax[0].legend(fontsize=8)
        bins = np.linspace(0, 2, 41)
        for tag, s in kls.items():
            ax[1].hist(np.clip(s["kl"], 0, 2), bins=bins, histtype="step", density=False,
                       weights=np.full(s["kl"].size, 1.0 / max(1, s["kl"].size)), label=tag)
        ax[1].axvline(0.4, color="k", ls="--", lw=1, label="β = 0.4")
        ax[1].set_xlabel("KL(p_E || p_A) per step (nats, clipped at 2)")
        ax[1].set_ylabel("share of steps")
        ax[1].set_yscale("log")
        ax[1].legend(fontsize=8)
        ax[1].set_title("KL histogram of the sampled steps")
        fig.tight_layout()
        fig.savefig(fig_path, dpi=110)
        L += ["", f"![accuracy per arm and KL histogram]({fig_rel})"]
    except ImportError:
        L += ["", "(no figure: matplotlib is not installed)"]
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print(f"study_report: {len(rows)} trained models, base {100 * kb / n:.1f}% on {n}; wrote {a.out}")


if __name__ == "__main__":
    main()
