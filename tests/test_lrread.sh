#!/usr/bin/env bash
# tools/lrread.py (numpy + h5py + pandas) on a complete run file of the tiny
# models: every table comes back as a DataFrame consistent with the file
# (rows, offsets, categories from the shared HDF5 enums, labels as lists
# summing to 1, evaluations in pipeline order); the file's code datasets use
# the one committed enum per code, larger datasets are chunked with
# shuffle + gzip, and `select` updates the root config.
. "$(dirname "$0")/test_pipeline_common.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, pandas' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks h5py or pandas (apt: python3-h5py python3-pandas)"; exit 77
fi
run=$work/run.h5
make_run "$run"
"$LR_BIN" select --run "$run" --beta 0.3 --quiet || fail "select exited $?"
$PY "$LR_SOURCE_DIR/tools/lrread.py" "$run" || fail "lrread.py exited $?"
$PY - "$LR_SOURCE_DIR/tools" "$run" <<'PY' || fail "reader checks"
import sys
sys.path.insert(0, sys.argv[1])
import h5py
import numpy as np
import pandas as pd
import lrread

path = sys.argv[2]
with lrread.RunFile(path) as r, h5py.File(path, "r") as f:
    P, T, D, S = r.problems(), r.traces(), r.divergence(candidates=True), r.samples()
    assert isinstance(P, pd.DataFrame) and len(P) == f["problems/id"].shape[0] == 10
    assert P["status"].dtype == "category" and set(P["status"]) <= {"sampled", "skipped_context"}
    assert isinstance(P["question"].iloc[0], str)
    assert len(T) == f["traces/problem"].shape[0] and T["finish_reason"].dtype == "category"
    assert list(T["finish_reason"].cat.categories[:5]) == lrread.FINISH_REASONS
    assert all(len(g) == n for g, n in zip(T["generated_ids"], T["n_generated"]))
    assert all(len(p) == n for p, n in zip(T["prompt_ids"], T["prompt_len"]))
    assert T["question"].iloc[0] == P["question"].iloc[T["problem"].iloc[0]]
    assert len(D) == f["divergence/kl"].shape[0] == T["n_generated"].sum()
    assert all(isinstance(c, list) and len(c) >= 1 for c in D["cand_ids"])
    assert len(S) == f["samples/kl"].shape[0] and len(S) > 0
    assert all(isinstance(l, list) for l in S["label_ids"])
    assert np.allclose([sum(w) for w in S["label_weights"]], 1, atol=1e-4)
    assert (S["kl"] >= 0.3).all(), "samples below the selected beta"
    assert S.attrs["beta"] == 0.3
    cfg = r.config()
    assert cfg["beta"] == 0.3, "select did not update the root config"
    assert "config_sample" in f.attrs and "config_updated_by" in f.attrs
    L = r.train_log()
    assert list(L.index) == list(range(1, 7)) and L["loss"].notna().all() and L["skipped"].dtype == bool
    assert r.eval_names() == ["before", "after"], r.eval_names()
    E = r.evals()
    for name, e in E.items():
        assert len(e) == 10 and e["correct"].dtype == bool and e["finish_reason"].dtype == "category"
        assert list(e["finish_reason"].cat.categories[:5]) == lrread.FINISH_REASONS
        assert 0 <= e.attrs["accuracy"] <= 1
    A = r.eval_summary()
    assert list(A.index) == ["before", "after"] and A.loc["after", "model"].endswith("merged")

    # one committed enum per code, shared by the datasets
    for ds, t in [("traces/finish_reason", "finish_reason"), ("problems/status", "problem_status")]:
        assert h5py.check_enum_dtype(f[ds].dtype) is not None, ds
        assert f[ds].id.get_type().committed() and t in f["types"], ds
    enum = h5py.check_enum_dtype(f["types/finish_reason"].dtype)
    assert enum == {n: i for i, n in enumerate(lrread.FINISH_REASONS)}, enum
    # large datasets compressed, small ones not padded to big chunks
    big = [(n, d) for n, d in [(n, f[n]) for n in ["divergence/kl", "traces/tokens", "divergence/cand_ids"]]]
    for n, d in big:
        assert d.compression == "gzip" and d.shuffle and d.chunks[0] * d.dtype.itemsize <= 1 << 16, n
print("reader checks ok")
PY
echo "test_lrread: ok"
