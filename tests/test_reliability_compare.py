#!/usr/bin/env python3
"""Compares one group of two run files (h5py), recursively: the same
datasets with the same values, dtypes and shapes. Timing columns and
provenance attributes are not compared (they differ between any two runs).
Usage: test_reliability_compare.py A.h5 B.h5 GROUP. Exit 0 when equal; the
files must open (a damaged file fails)."""
import sys

import h5py
import numpy as np

TIMING = {"seconds", "tokens_per_s"}                      # /train/log columns
PROVENANCE = {"command_line", "config", "wall_seconds", "created", "n_ranks"}


def main():
    pa, pb, group = sys.argv[1], sys.argv[2], sys.argv[3].strip("/")
    errors = []
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        if group not in fa or group not in fb:
            print(f"/{group} missing in {pa if group not in fa else pb}")
            return 1

        def walk(ga, gb, where):
            for k in sorted(set(ga.attrs) - PROVENANCE):
                if k not in gb.attrs or not np.array_equal(np.asarray(ga.attrs[k]), np.asarray(gb.attrs[k])):
                    errors.append(f"{where}: attribute {k} differs")
            if set(ga.keys()) != set(gb.keys()):
                errors.append(f"{where}: members differ: {sorted(set(ga.keys()) ^ set(gb.keys()))}")
                return
            for k in ga:
                a, b = ga[k], gb[k]
                if isinstance(a, h5py.Group):
                    walk(a, b, f"{where}/{k}")
                elif k not in TIMING:
                    va, vb = a[()], b[()]
                    if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(va, vb):
                        errors.append(f"{where}/{k}: values differ")

        walk(fa[group], fb[group], "/" + group)
    for e in errors[:20]:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
