#!/usr/bin/env python3
"""Compares the data of two sampling run files (h5py): every dataset of
/problems, /traces, /divergence and /samples must be identical (values,
dtypes, shapes), and so must the attributes except provenance (command
line, resolved flags — which include role counts — and select's command
line). Usage: compare_runs.py A.h5 B.h5 [--only samples] [--ignore-attr NAME]...
(--ignore-attr: also leave out an attribute that legitimately differs, e.g.
resume_key between two --batch sizes). Exit 0 when equal."""
import sys

import h5py
import numpy as np

PROVENANCE = {"command_line", "config", "select_command_line", "config_sample", "config_updated_by"}


def attrs_equal(a, b, where, errors):
    ka = set(a.attrs.keys()) - PROVENANCE
    kb = set(b.attrs.keys()) - PROVENANCE
    if ka != kb:
        errors.append(f"{where}: attributes differ: {sorted(ka ^ kb)}")
        return
    for k in ka:
        va, vb = a.attrs[k], b.attrs[k]
        if not np.array_equal(np.asarray(va), np.asarray(vb)):
            errors.append(f"{where}: attribute {k}: {va!r} != {vb!r}")


def compare(pa, pb, groups):
    errors = []
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        if groups == ["problems", "traces", "divergence", "samples"]:
            attrs_equal(fa, fb, "/", errors)
        for g in groups:
            if g not in fa or g not in fb:
                errors.append(f"/{g} missing")
                continue
            ga, gb = fa[g], fb[g]
            attrs_equal(ga, gb, "/" + g, errors)
            if set(ga.keys()) != set(gb.keys()):
                errors.append(f"/{g}: datasets differ: {sorted(set(ga.keys()) ^ set(gb.keys()))}")
                continue
            for name in ga:
                da, db = ga[name], gb[name]
                if da.dtype != db.dtype or da.shape != db.shape:
                    errors.append(f"/{g}/{name}: {da.dtype}{da.shape} vs {db.dtype}{db.shape}")
                elif not np.array_equal(da[()], db[()]):
                    errors.append(f"/{g}/{name}: values differ")
                else:
                    attrs_equal(da, db, f"/{g}/{name}", errors)
    return errors


def main():
    args = sys.argv[1:]
    groups = ["problems", "traces", "divergence", "samples"]
    while "--ignore-attr" in args:
        i = args.index("--ignore-attr")
        PROVENANCE.add(args[i + 1])
        del args[i:i + 2]
    if "--only" in args:
        i = args.index("--only")
        groups = [args[i + 1]]
        del args[i:i + 2]
    errors = compare(args[0], args[1], groups)
    for e in errors:
        print(f"compare_runs: {args[0]} vs {args[1]}: {e}", file=sys.stderr)
    if not errors:
        print(f"compare_runs: {args[0]} == {args[1]} ({', '.join(groups)})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
