#!/usr/bin/env bash
# The include check of the layering (docs/architecture.md): every
# `#include "folder/..."` in src/ must name the file's own folder or one
# that src/layers.cmake declares below it (directly or through another),
# a folder's *_internal.h headers are its own, and the folders' include
# graph has no loops. The build enforces the same table (each folder's
# library sees only the include roots of the folders below it); this check
# needs no build, names every offending line, and runs first in CI
# (tools/lint.sh). Known violations are listed in src/layers.cmake as
# lr_layer_exception(...) lines: they are reported, not failed.
#   bash tools/check_layers.sh [ROOT]     (ROOT: the repository, default: this one)
# Exits 1 on any violation.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$root" <<'PY'
import os, re, sys

root = sys.argv[1]
src = os.path.join(root, "src")
table = os.path.join(src, "layers.cmake")
errors, notes = [], []

# ---- the table: lr_layer(<folder> <deps>...) and lr_layer_exception(<folder> <dep> "why")
layers, order, exceptions = {}, [], {}
for n, line in enumerate(open(table, encoding="utf-8"), 1):
    line = line.split("#", 1)[0]
    m = re.match(r'\s*lr_layer\(\s*(\w+)((?:\s+\w+)*)\s*\)', line)
    if m:
        name, deps = m.group(1), m.group(2).split()
        for d in deps:
            if d not in layers:
                errors.append(f"src/layers.cmake:{n}: {name} uses {d}, which is not declared above it")
        if name in layers:
            errors.append(f"src/layers.cmake:{n}: {name} is declared twice")
        layers[name] = deps
        order.append(name)
        continue
    m = re.match(r'\s*lr_layer_exception\(\s*(\w+)\s+(\w+)\s+"([^"]*)"\s*\)', line)
    if m:
        exceptions[(m.group(1), m.group(2))] = m.group(3)
        continue
    if line.strip():
        errors.append(f"src/layers.cmake:{n}: not a layer line: {line.strip()}")

below = {}  # folder -> every folder it may use
for name in order:
    s = set()
    for d in layers[name]:
        s |= {d} | below.get(d, set())
    below[name] = s

folders = sorted(e for e in os.listdir(src) if os.path.isdir(os.path.join(src, e)))
for f in folders:
    if f not in layers:
        errors.append(f"src/{f}/: no layer in src/layers.cmake (add lr_layer({f} <folders it uses>))")
for name in layers:
    if name not in folders:
        errors.append(f"src/layers.cmake: {name} is not a folder of src/")

# ---- the includes
inc_re = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
graph, used_exceptions, n_files, n_inc = {}, set(), 0, 0


def scan(path, folder, is_src):
    global n_files, n_inc
    n_files += 1
    rel = os.path.relpath(path, root)
    for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        m = inc_re.match(line)
        if not m:
            continue
        inc = m.group(1)
        n_inc += 1
        if inc.startswith("../") or "/../" in inc:
            errors.append(f"{rel}:{n}: relative include \"{inc}\" (write \"folder/file.h\" from src/)")
            continue
        top = inc.split("/", 1)[0] if "/" in inc else None
        if top not in layers:
            continue  # a system-style or generated header (version.h, cblas.h)
        base = os.path.basename(inc)
        if base.endswith("_internal.h") and top != folder:
            errors.append(f"{rel}:{n}: \"{inc}\" is private to src/{top}/")
        if not is_src or folder in (None, top):
            continue
        graph.setdefault(folder, set()).add(top)
        if top in below[folder]:
            continue
        if (folder, top) in exceptions:
            used_exceptions.add((folder, top))
            notes.append(f"{rel}:{n}: {folder} includes \"{inc}\": known exception ({exceptions[(folder, top)]})")
            continue
        errors.append(f"{rel}:{n}: {folder}/ includes \"{inc}\", but {top}/ is not below {folder}/ "
                      f"(src/layers.cmake: {folder} uses {' '.join(layers[folder]) or 'nothing'})")


exts = (".c", ".h", ".cu", ".cuh")
for dirpath, dirnames, filenames in os.walk(src):
    dirnames.sort()
    for fn in sorted(filenames):
        if not fn.endswith(exts):
            continue
        path = os.path.join(dirpath, fn)
        parts = os.path.relpath(path, src).split(os.sep)
        folder = parts[0] if len(parts) > 1 and parts[0] in layers else None  # src/main.c: the top
        scan(path, folder, True)
# outside src/ (benchmarks, fuzzers): only the private-header rule
for extra in ("bench", "fuzz"):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, extra)):
        for fn in sorted(filenames):
            if fn.endswith(exts):
                scan(os.path.join(dirpath, fn), extra, False)

# ---- loops in the folders' include graph
state, stack = {}, []


def visit(f):
    state[f] = 1
    stack.append(f)
    for t in sorted(graph.get(f, ())):
        if state.get(t) == 1:
            loop = stack[stack.index(t):] + [t]
            edges = list(zip(loop, loop[1:]))
            text = " -> ".join(loop)
            if all(e in exceptions or e[1] in below.get(e[0], ()) for e in edges) and any(e in exceptions for e in edges):
                notes.append(f"folder loop {text}: through a known exception")
            else:
                errors.append(f"folder loop {text}")
        elif not state.get(t):
            visit(t)
    stack.pop()
    state[f] = 2


for f in sorted(graph):
    if not state.get(f):
        visit(f)

for e in sorted(set(exceptions) - used_exceptions):
    notes.append(f"exception {e[0]} -> {e[1]} is no longer needed: remove it from src/layers.cmake")

for x in notes:
    print("note: " + x)
for x in errors:
    print("error: " + x)
print(f"check_layers: {len(layers)} layers, {n_files} files, {n_inc} includes, "
      f"{len(exceptions)} known exception(s), {len(errors)} violation(s)")
sys.exit(1 if errors else 0)
PY
