#!/usr/bin/env python3
"""Collects the GPU check's stage table and JSON files under OUT into
OUT/gpu_check.json and OUT/gpu_check.md (tools/gpu_check.sh). Standard
library only.

    python3 tools/gpu_check/report.py OUT"""
import datetime
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:  # noqa: BLE001 - a missing or cut-off file is reported, not fatal
        return {"error": f"{os.path.basename(path)}: {e}"}


def main():
    out = sys.argv[1]
    stages = []
    if os.path.exists(os.path.join(out, "stages.tsv")):
        for line in open(os.path.join(out, "stages.tsv")):
            p = line.rstrip("\n").split("\t")
            if len(p) >= 3:
                stages.append({"stage": p[0], "status": p[1], "seconds": float(p[2]), "note": p[3] if len(p) > 3 else ""})
    probe = open(os.path.join(out, "probe.txt")).read() if os.path.exists(os.path.join(out, "probe.txt")) else ""
    results = {}
    for f in sorted(os.listdir(out)):
        if f.endswith(".json") and f != "gpu_check.json":
            results[f[:-5]] = load(os.path.join(out, f))
    failed = [s["stage"] for s in stages if s["status"] in ("fail", "timeout")]
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "pass": not failed, "failed_stages": failed, "stages": stages, "probe": probe, "results": results}
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(doc, f, indent=1)

    md = [f"# GPU check — {'PASS' if not failed else 'FAIL'} ({doc['date']})", ""]
    dev = next((r.get("device") for r in results.values() if isinstance(r, dict) and r.get("device")), "?")
    md += [f"Device: {dev}", "", "```", probe.strip()[:2000], "```", "", "## Stages", "",
           "| stage | status | seconds | note |", "|---|---|---|---|"]
    md += [f"| {s['stage']} | {s['status']} | {s['seconds']:.1f} | {s['note']} |" for s in stages]
    for name, r in results.items():
        checks = r.get("checks") if isinstance(r, dict) else None
        if not checks:
            if isinstance(r, dict) and (r.get("error") or r.get("skipped")):
                md += ["", f"## {name}", "", str(r.get("error") or "skipped: " + r.get("skipped"))]
            continue
        md += ["", f"## {name} ({r.get('dut', r.get('stage', ''))})", "", "| check | pass | values |", "|---|---|---|"]
        for c in checks:
            vals = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("name", "pass"))
            md += [f"| {c['name']} | {'ok' if c['pass'] else '**FAIL**'} | {vals} |"]
    ours = {c["name"].replace("perf ", ""): c for c in results.get("perf", {}).get("checks", []) or []}
    hf = {c["name"].replace("hf ", ""): c for c in results.get("hf", {}).get("checks", []) or []}
    # ours "decode batch B ids" (greedy ids on the device) against HF's decode, which also
    # keeps its logits on the GPU; "decode batch B" downloads every logits row
    names = ["scoring"] + [f"decode batch {b}{s}" for b in (1, 64, 256) for s in ("", " ids")]
    rows = [k for k in names if k in ours]
    if rows:
        md += ["", "## Ours vs HF transformers bf16 (same GPU, same shapes)", "",
               "| workload | ours tokens/s | HF tokens/s | ratio |", "|---|---|---|---|"]
        for k in rows:
            a, b = ours.get(k, {}).get("tokens_per_s"), hf.get(k.replace(" ids", ""), {}).get("tokens_per_s")
            ratio = f"{a / b:.2f}x" if a and b else "-"
            md += [f"| {k} | {a if a is not None else '-'} | {b if b is not None else '-'} | {ratio} |"]
    tr = results.get("train_hf")
    if isinstance(tr, dict) and tr.get("supervised_per_s"):
        md += ["", "## PyTorch + peft LoRA step, bf16 (issue 16's baseline; bench/train_bench.py)", "",
               "| samples | micro-batches | tokens | step s | supervised positions/s | peak GPU MiB |",
               "|---|---|---|---|---|---|",
               f"| {tr.get('supervised')} | {tr.get('micro_batches')} | {tr.get('tokens')} | {tr['step_s']:.4f} | "
               f"{tr['supervised_per_s']:.1f} | {tr.get('peak_gpu_mb', 0):.0f} |"]
    prof = os.path.join(out, "perf_profile.md")
    if os.path.exists(prof):
        md += ["", "## Per-op profile of the perf stage (gpu_test perf --profile)", "",
               "Each op waits for its kernels, so the op times add up to more than an unprofiled pass.",
               open(prof).read()]
    with open(os.path.join(out, "gpu_check.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: {os.path.join(out, 'gpu_check.md')} ({'PASS' if not failed else 'FAIL: ' + ', '.join(failed)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
