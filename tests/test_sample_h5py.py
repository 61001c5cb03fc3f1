#!/usr/bin/env python3
"""A user opens a sampling run file with plain h5py (Debian's /usr/bin/python3,
no project code): shapes, dtypes, offsets and attributes must be consistent,
and the h5py snippets of docs/runfile.md must run on it as written.
Environment: LR_BIN, LR_TEST_DATA (from ctest)."""
import json
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.environ["LR_TEST_DATA"], "sample")
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def main():
    beta = json.load(open(os.path.join(DATA, "golden.json")))["beta"]
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "run.h5")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    subprocess.run([os.environ["LR_BIN"], "sample", "--expert", os.path.join(DATA, "expert"), "--amateur",
                    os.path.join(DATA, "amateur"), "--problems", os.path.join(DATA, "problems.jsonl"),
                    "--max-new-tokens", "40", "--beta", str(beta), "--out", path, "--quiet"], check=True, env=env)
    f = h5py.File(path, "r")
    a = f.attrs
    check(a["schema"] == "lightreasoner.run" and a["schema_version"] == 1 and a["complete"] == 1, "schema attributes")
    cfg = json.loads(a["config"])
    check(cfg["beta"] == beta and cfg["max-new-tokens"] == 40 and "expert" in cfg, "resolved config is JSON")
    check(isinstance(a["command_line"], str) and "sample" in a["command_line"], "command line")
    check(isinstance(a["version"], str) and isinstance(a["git_commit"], str), "version and git commit")
    check(a["vocab_shared"] == min(a["vocab_expert"], a["vocab_amateur"]), "vocab_shared = min")

    P, T, D, S = f["problems"], f["traces"], f["divergence"], f["samples"]
    n_p, n_t = a["n_problems"], a["n_traces"]
    check(P["question"].dtype.kind == "O" and P["question"].shape == (n_p,), "problems/question: strings")
    check(P["question"].asstr()[0].startswith("Natalia"), "question text readable")
    check(P["status"].dtype == np.int8 and P["trace"].dtype == np.int64, "problems dtypes")
    tr = P["trace"][:]
    check(np.array_equal(tr[tr >= 0], np.arange(n_t)), "problems/trace numbers the traces in order")

    toff, tok = T["token_offsets"][:], T["tokens"][:]
    pl, ng = T["prompt_len"][:], T["n_generated"][:]
    check(tok.dtype == np.int32 and toff.dtype == np.int64 and toff.shape == (n_t + 1,), "traces dtypes/shapes")
    check(toff[0] == 0 and toff[-1] == len(tok) and np.all(np.diff(toff) == pl + ng), "token offsets")
    soff = T["step_offsets"][:]
    check(soff[0] == 0 and np.array_equal(np.diff(soff), ng) and soff[-1] == a["n_steps"], "step offsets")
    check(np.array_equal(P["trace"][:][T["problem"][:]], np.arange(n_t)), "traces/problem <-> problems/trace")
    check(set(T["finish_reason"][:]) <= {0, 1, 2, 3}, "finish reasons")
    check(T["text"].asstr()[0] is not None, "decoded text readable")

    n_s = soff[-1]
    for name in ["trace", "step", "token", "kl", "entropy_expert", "entropy_amateur", "logp_expert", "logp_amateur",
                 "top1_expert", "top1_amateur"]:
        check(D[name].shape == (n_s,), f"divergence/{name} has one row per step")
    check(D["kl"].dtype == np.float64 and D["logp_expert"].dtype == np.float32, "divergence dtypes")
    check(D["kl"].attrs["units"] == "nats" and "description" in D["kl"].attrs, "units and meaning attributes")
    dtrace, dstep = D["trace"][:], D["step"][:]
    check(np.array_equal(dtrace, np.repeat(np.arange(n_t), ng)), "divergence/trace")
    check(np.array_equal(dstep, np.arange(n_s) - soff[dtrace]), "divergence/step counts from 0 per trace")
    check(np.array_equal(D["token"][:], tok[toff[dtrace] + pl[dtrace] + dstep]), "divergence/token = y_t")
    check(np.all(D["kl"][:] >= -1e-9) and np.all(D["entropy_expert"][:] >= 0), "KL and entropies >= 0")
    coff, cid = D["cand_offsets"][:], D["cand_ids"][:]
    clpe, clpa = D["cand_logp_expert"][:], D["cand_logp_amateur"][:]
    check(coff.shape == (n_s + 1,) and coff[-1] == len(cid) == len(clpe) == len(clpa), "candidate offsets")
    sa = D.attrs["store_alpha"]
    good = True
    for r in range(n_s):
        ids, lpe = cid[coff[r]:coff[r + 1]], clpe[coff[r]:coff[r + 1]].astype(np.float64)
        good &= len(ids) > 0 and bool(np.all(np.diff(ids) > 0)) and bool(np.all(ids < a["vocab_shared"]))
        good &= bool(np.all(lpe - lpe.max() >= np.log(sa) - 1e-12))
    check(good, "candidates: ascending, shared ids, p_E >= store_alpha * max")

    n_sm = S.attrs["n_samples"]
    check(S.attrs["alpha"] == 0.2 and S.attrs["beta"] == beta and 0 < n_sm < n_s, "samples attributes")
    row = S["divergence_row"][:]
    check(np.array_equal(S["trace"][:], dtrace[row]) and np.array_equal(S["step"][:], dstep[row]), "samples rows")
    check(np.array_equal(S["kl"][:], D["kl"][:][row]) and np.all(S["kl"][:] >= beta), "samples KL >= beta")
    check(np.array_equal(row, np.nonzero(D["kl"][:] >= beta)[0]), "every step with KL >= beta is a sample")
    loff, lid, lw = S["label_offsets"][:], S["label_ids"][:], S["label_weights"][:]
    check(lw.dtype == np.float32 and loff[-1] == len(lid) == len(lw), "label arrays")
    sums = np.add.reduceat(lw.astype(np.float64), loff[:-1])
    check(np.allclose(sums, 1.0, atol=1e-5), "label weights sum to 1")
    subset = all(set(lid[loff[i]:loff[i + 1]]) <= set(cid[coff[r]:coff[r + 1]]) for i, r in enumerate(row))
    check(subset, "labels are candidates")
    f.close()

    # the documented snippets run as written
    doc = open(os.path.join(ROOT, "docs", "runfile.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    check(len(blocks) >= 2, f"docs/runfile.md has h5py snippets ({len(blocks)})")
    for i, code in enumerate(blocks):
        code = code.replace('"run.h5"', repr(path))
        code = code.replace('sys.path.insert(0, "tools")', "sys.path.insert(0, %r)" % os.path.join(ROOT, "tools"))
        try:
            exec(compile(code, f"docs/runfile.md snippet {i}", "exec"), {})
            check(True, f"docs snippet {i} runs")
        except Exception as e:  # noqa: BLE001
            check(False, f"docs snippet {i} runs: {e!r}")
    print(f"test_h5py.py: {'FAILED' if failures else 'all checks passed'} ({len(failures)} failed)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
