#!/usr/bin/env python3
"""Read a lightreasoner run file into pandas DataFrames (numpy + h5py + pandas).

    import sys; sys.path.insert(0, "tools")       # or copy this one file
    import lrread
    with lrread.RunFile("run.h5") as r:
        problems = r.problems()          # one row per problem: question, answer, status, trace
        traces = r.traces()              # one row per trace: finish_reason, text, ... (+ token ids)
        steps = r.divergence()           # one row per generated step: kl, entropies, log-probs, top-1
        samples = r.samples()            # one row per sample: label_ids / label_weights as lists
        log = r.train_log()              # /train/log, one row per optimizer step
        evals = r.evals()                # {"before": DataFrame, "after": DataFrame, ...}
        acc = r.eval_summary()           # one row per /eval group: accuracy and its 95% interval
        cfg = r.config()                 # the root config (after `select`: its alpha/beta)

Codes are categoricals (finish_reason: eos, max_new_tokens, context_full,
amateur_vocab, nonfinite; problem status: sampled, skipped_context), read from
the file's HDF5 enums (/types) or, for older files and integer columns, from
the same definitions below. Strings are str, ragged columns (token ids, label
ids and weights, candidates) are Python lists. A group's attributes are in
DataFrame.attrs. Command line: `python3 tools/lrread.py run.h5` prints every
table's shape and the time it took to read.
"""
import json
import sys
import time

import h5py
import numpy as np
import pandas as pd

# The codes when a file stores them as plain integers (files written before
# the enums; /eval groups written by older versions).
FINISH_REASONS = ["eos", "max_new_tokens", "context_full", "amateur_vocab", "nonfinite"]
PROBLEM_STATUS = ["sampled", "skipped_context"]
EXTRACT_METHODS = ["none", "boxed", "answer_is", "last_number"]


def _categorical(values, names):
    """Integer codes -> an ordered categorical with the named categories."""
    values = np.asarray(values)
    if isinstance(names, dict):  # an HDF5 enum: name -> value
        by_value = sorted(names.items(), key=lambda kv: kv[1])
        cats = [k for k, _ in by_value]
        lookup = {v: k for k, v in by_value}
    else:
        cats = list(names)
        lookup = dict(enumerate(cats))
    labels = [lookup.get(int(v), "code_%d" % int(v)) for v in values]
    extra = sorted(set(labels) - set(cats))
    return pd.Categorical(labels, categories=cats + extra, ordered=False)


def _column(ds, codes=None):
    """One 1-D dataset as a pandas-ready column."""
    enum = h5py.check_enum_dtype(ds.dtype)
    if enum is not None:
        return _categorical(ds[()], enum)
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object)
    data = ds[()]
    if codes is not None:
        return _categorical(data, codes)
    return data


def _ragged(values, offsets):
    """values split at offsets (n+1 entries) -> list of n Python lists."""
    offsets = np.asarray(offsets)
    return [values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def _attrs(obj):
    out = {}
    for k, v in obj.attrs.items():
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, np.generic):
            v = v.item()
        if k == "config" and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


class RunFile:
    """A run file opened read-only; every method returns fresh DataFrames."""

    def __init__(self, path):
        self.path = path
        self.f = h5py.File(path, "r")

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- root
    def attrs(self):
        """Root attributes (config parsed from JSON)."""
        return _attrs(self.f)

    def config(self):
        """The flags the file now reflects (`select` updates alpha/beta; the
        configuration `sample` ran with is config_sample)."""
        return self.attrs().get("config", {})

    def _group(self, name):
        if name not in self.f:
            raise KeyError("%s has no /%s" % (self.path, name))
        return self.f[name]

    def _frame(self, g, names, index_name, codes=None):
        codes = codes or {}
        df = pd.DataFrame({n: _column(g[n], codes.get(n)) for n in names if n in g})
        df.index.name = index_name
        df.attrs.update(_attrs(g))
        return df

    # ---- sampling stage
    def problems(self):
        """One row per input problem (index: problem row)."""
        g = self._group("problems")
        return self._frame(g, ["id", "question", "answer", "source_line", "status", "trace"], "problem",
                           {"status": PROBLEM_STATUS})

    def traces(self, tokens=True):
        """One row per trace (index: trace row), with the question, the
        decoded text and (tokens=True) prompt_ids / generated_ids lists."""
        g = self._group("traces")
        df = self._frame(g, ["problem", "prompt_len", "n_generated", "finish_reason", "text"], "trace",
                         {"finish_reason": FINISH_REASONS})
        if "problems" in self.f:
            q = self.f["problems/question"].asstr()[()]
            df.insert(1, "question", np.asarray([q[p] for p in df["problem"]], dtype=object))
        if tokens:
            off, ids, plen = g["token_offsets"][()], g["tokens"][()], g["prompt_len"][()]
            df["prompt_ids"] = [ids[off[i]:off[i] + plen[i]].tolist() for i in range(len(plen))]
            df["generated_ids"] = [ids[off[i] + plen[i]:off[i + 1]].tolist() for i in range(len(plen))]
        so = g["step_offsets"][()]
        df["first_step"] = so[:-1]
        return df

    def divergence(self, candidates=False):
        """One row per generated step (index: divergence row): KL, entropies,
        log-probs of y_t, top-1 ids; candidates=True adds cand_ids and both
        candidate log-prob lists."""
        g = self._group("divergence")
        names = ["trace", "step", "token", "kl", "entropy_expert", "entropy_amateur", "logp_expert", "logp_amateur",
                 "top1_expert", "top1_amateur"]
        df = self._frame(g, names, "row")
        if candidates:
            off = g["cand_offsets"][()]
            for n in ["cand_ids", "cand_logp_expert", "cand_logp_amateur"]:
                df[n] = _ragged(g[n][()], off)
        return df

    def samples(self):
        """One row per training sample (index: sample), label_ids and
        label_weights as lists."""
        g = self._group("samples")
        df = self._frame(g, ["trace", "step", "problem", "divergence_row", "kl"], "sample")
        off = g["label_offsets"][()]
        df["label_ids"] = _ragged(g["label_ids"][()], off)
        df["label_weights"] = _ragged(g["label_weights"][()], off)
        return df

    # ---- training
    def train_log(self):
        """/train/log: one row per optimizer step (index: step); empty when
        the file has no training yet."""
        if "train/log" not in self.f:
            return pd.DataFrame(index=pd.Index([], name="step"))
        g = self.f["train/log"]
        names = [n for n in g if isinstance(g[n], h5py.Dataset) and g[n].ndim == 1]
        df = pd.DataFrame({n: _column(g[n]) for n in names})
        if "skipped" in df:
            df["skipped"] = df["skipped"].astype(bool)
        if "step" in df:
            df = df.set_index("step")
        df.attrs.update(_attrs(self.f["train"]))
        return df

    # ---- evaluations
    def eval_names(self):
        """The /eval groups in pipeline order: before, after, then by name."""
        if "eval" not in self.f:
            return []
        names = [n for n in self.f["eval"] if not n.startswith(".")]
        rank = lambda n: (0 if n.startswith("before") else 1 if n.startswith("after") else 2, n)
        return sorted(names, key=rank)

    def eval(self, name):
        """/eval/<name>: one row per benchmark problem; the summary (accuracy,
        interval, model, adapter, ...) in DataFrame.attrs."""
        g = self._group("eval/" + name)
        names = [n for n in g if isinstance(g[n], h5py.Dataset) and g[n].ndim == 1]
        df = self._frame(g, names, "problem", {"finish_reason": FINISH_REASONS, "extract_method": EXTRACT_METHODS})
        for b in ("correct", "gold_unparseable"):
            if b in df:
                df[b] = df[b].astype(bool)
        return df

    def evals(self):
        """Every /eval group, in pipeline order."""
        return {n: self.eval(n) for n in self.eval_names()}

    def eval_summary(self):
        """One row per /eval group: accuracy, 95% interval, counts, model, adapter."""
        rows = []
        for n in self.eval_names():
            a = _attrs(self.f["eval/" + n])
            cfg = a.get("config") if isinstance(a.get("config"), dict) else {}
            rows.append({"name": n, "accuracy": a.get("accuracy"), "ci95_low": a.get("accuracy_ci95_low"),
                         "ci95_high": a.get("accuracy_ci95_high"), "n_correct": a.get("n_correct"),
                         "n_problems": a.get("n_problems"), "benchmark": a.get("benchmark"), "model": a.get("model"),
                         "adapter": a.get("adapter", cfg.get("adapter"))})
        return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()


def main(argv):
    if len(argv) != 2:
        print("usage: lrread.py RUN.h5", file=sys.stderr)
        return 2
    with RunFile(argv[1]) as r:
        tables = [("problems", r.problems), ("traces", r.traces), ("divergence", r.divergence),
                  ("divergence+candidates", lambda: r.divergence(candidates=True)), ("samples", r.samples)]
        if "train" in r.f and "log" in r.f["train"]:
            tables.append(("train_log", r.train_log))
        for n in r.eval_names():
            tables.append(("eval/" + n, lambda n=n: r.eval(n)))
        for name, fn in tables:
            t0 = time.perf_counter()
            df = fn()
            dt = time.perf_counter() - t0
            print("%-22s %8d rows x %2d columns  %7.1f ms" % (name, len(df), len(df.columns), 1e3 * dt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
