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


def checks_of(results, name):
    r = results.get(name)
    return {c["name"]: c for c in (r.get("checks") or [])} if isinstance(r, dict) else {}


def ab_section(results):
    """One table per switch the GPU check measures both ways (docs/model.md, the CUDA switches):
    the numbers to read first when deciding a default."""
    perf, kv = checks_of(results, "perf"), checks_of(results, "perf_kvbf16")
    rows = []
    for b in (1, 64, 256):
        g, e = perf.get(f"perf decode batch {b} ids", {}), perf.get(f"perf decode batch {b} ids no graphs", {})
        if g.get("ms_per_step") and e.get("ms_per_step"):
            rows.append(f"| decode batch {b} (greedy ids) | graphs {g['ms_per_step']} ms | op by op "
                        f"{e['ms_per_step']} ms | {e['ms_per_step'] / g['ms_per_step']:.2f}x |")
        c = perf.get(f"perf decode batch {b} ids cublaslt", {})
        if g.get("ms_per_step") and c.get("ms_per_step"):
            rows.append(f"| decode batch {b} (greedy ids) | GEMV {g['ms_per_step']} ms | cuBLASLt "
                        f"{c['ms_per_step']} ms | {c['ms_per_step'] / g['ms_per_step']:.2f}x |")
        k = kv.get(f"perf decode batch {b} ids", {})
        if g.get("ms_per_step") and k.get("ms_per_step"):
            rows.append(f"| decode batch {b} (greedy ids) | bf16 KV {k['ms_per_step']} ms | fp32 KV "
                        f"{g['ms_per_step']} ms | {g['ms_per_step'] / k['ms_per_step']:.2f}x |")
    sc, tc = perf.get("perf scoring", {}), perf.get("perf scoring tc attention", {})
    if sc.get("seconds_per_pass") and tc.get("seconds_per_pass"):
        rows.append(f"| scoring (MFU {sc.get('mfu_vs_989')} -> {tc.get('mfu_vs_989')}) | tc attention "
                    f"{tc['seconds_per_pass'] * 1e3:.1f} ms | default {sc['seconds_per_pass'] * 1e3:.1f} ms | "
                    f"{sc['seconds_per_pass'] / tc['seconds_per_pass']:.2f}x |")
    step = {}
    for name in ("train", "train_bf16w", "train_bf16round", "train_tf32"):
        c = checks_of(results, name)
        st = next((v for k, v in c.items() if k.startswith("train perf step")), {})
        con = c.get("train contract per step", {})
        if st.get("step_s"):
            step[name] = st["step_s"]
            rows.append(f"| LoRA step, 1.5B shape: `{name}` | {st['step_s']} s | contract "
                        f"{'ok' if con.get('pass') else 'FAIL'} (loss rel {con.get('worst_loss_rel')}, "
                        f"grad cos {con.get('worst_grad_cosine')}) | "
                        f"{(step['train'] / st['step_s']) if 'train' in step else 0:.2f}x |")
    for name in ("contract_4l", "contract_4l_tc", "contract_4l_kvbf16"):
        c = checks_of(results, name)
        if c:
            bad = [k for k, v in c.items() if not v.get("pass")]
            kl = [v.get("kl_mean") for k, v in c.items() if k.startswith("contract kv-cache")]
            rows.append(f"| `{name}` | {'ok' if not bad else 'FAIL: ' + ', '.join(bad)} | kv-cache KL mean {kl} | |")
    if not rows:
        return []
    return ["", "## A/B of the switches (read first when choosing a default)", "",
            "| what | this way | the other | speed-up |", "|---|---|---|---|"] + rows


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
    incomplete = [s["stage"] for s in stages if s["status"] == "incomplete"]  # a gating stage the budget did not reach
    verdict = "FAIL" if failed else "INCOMPLETE" if incomplete else "PASS"
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "pass": verdict == "PASS", "verdict": verdict, "failed_stages": failed, "incomplete_stages": incomplete,
           "stages": stages, "probe": probe, "results": results}
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(doc, f, indent=1)

    md = [f"# GPU check — {verdict} ({doc['date']})", ""]
    if incomplete:
        md += [f"Not reached in the time budget (not a pass): {', '.join(incomplete)}.", ""]
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
    # a failed perf stage's rerun with the new pieces off (gpu_check.sh stage_or_safe) stands in for it
    # when it passed (or the failed run left no numbers)
    perf_failed = any(s["stage"] == "perf" and s["status"] in ("fail", "timeout") for s in stages)
    safe_ok = any(s["stage"] == "perf_safe" and s["status"] == "pass" for s in stages)
    perf = results.get("perf") or {}
    if (perf_failed and safe_ok) or not perf.get("checks"):
        perf = results.get("perf_safe") or {}
        if perf.get("checks"):
            md += ["", "(Ours vs HF below: the `perf_safe` rerun's numbers, the new pieces off.)"]
    ours = {c["name"].replace("perf ", ""): c for c in perf.get("checks", []) or []}
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
    md += ab_section(results)
    tr = results.get("train_hf")
    if isinstance(tr, dict) and tr.get("supervised_per_s"):
        md += ["", "## PyTorch + peft LoRA step, bf16 (issue 16's baseline; bench/train_bench.py)", "",
               "| samples | micro-batches | tokens | step s | supervised positions/s | peak GPU MiB |",
               "|---|---|---|---|---|---|",
               f"| {tr.get('supervised')} | {tr.get('micro_batches')} | {tr.get('tokens')} | {tr['step_s']:.4f} | "
               f"{tr['supervised_per_s']:.1f} | {tr.get('peak_gpu_mb', 0):.0f} |"]
    # the failed perf stage's profile (opened at its start) may be empty or cut: its _safe rerun's stands in
    prof = os.path.join(out, "perf_profile.md")
    if perf_failed and os.path.exists(os.path.join(out, "perf_profile_safe.md")) or not os.path.exists(prof):
        prof = os.path.join(out, "perf_profile_safe.md")
    if os.path.exists(prof):
        md += ["", "## Per-op profile of the perf stage (gpu_test perf --profile)", "",
               "Each op waits for its kernels, so the op times add up to more than an unprofiled pass.",
               open(prof).read()]
    for name in ("train", "train_bf16w"):
        prof = os.path.join(out, f"{name}_profile.md")
        if os.path.exists(prof):
            md += ["", f"## Per-op profile of the `{name}` stage's LoRA step (gpu_test train --profile)", "",
                   open(prof).read()]
    with open(os.path.join(out, "gpu_check.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: {os.path.join(out, 'gpu_check.md')} ({verdict}{': ' + ', '.join(failed or incomplete) if verdict != 'PASS' else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
