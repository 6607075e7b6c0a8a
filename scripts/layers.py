#!/usr/bin/env python3
"""Checks that paywatch's modules import one way, lowest layer first.

Reads every `crate::<module>` path in src/ (code, not comments), maps each
file to its top-level module (`src/chain/evm.rs` is `chain`), and fails when
a module names one in a later layer than its own. Also prints the module
graph's cycles (strongly connected groups of more than one module).

    python3 scripts/layers.py           # check; exit 1 on an upward import
    python3 scripts/layers.py --graph   # also print every edge

The layer order is the one docs/architecture.md describes.
"""

import os
import re
import sys

# Lowest first. Modules on one line form one layer: they may not import each
# other either.
LAYERS = [
    ["clock"],
    ["amount"],
    ["address"],
    ["transfer"],
    ["event", "status"],
    ["invoice_record"],
    ["config"],
    ["store"],
    ["watch"],
    ["telemetry"],
    ["risk"],
    ["chain"],
    ["scan"],
    ["plugin"],
    ["invoice"],
    ["deliver"],
    ["api"],
    ["client"],
    ["daemon"],
]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
PATH = re.compile(r"\bcrate::(\w+)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)


def module_of(rel):
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return parts[0][:-3]
    return parts[0]


def code_of(text):
    """The text without comments and string literals' contents."""
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("//"):
            continue
        out.append(re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.split(" // ")[0]))
    return "\n".join(out)


def edges():
    found = {}
    for root, _, files in os.walk(ROOT):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, ROOT)
            src = module_of(rel)
            if src in ("lib", "main"):
                continue
            code = code_of(open(path, encoding="utf-8").read())
            targets = set(PATH.findall(code))
            for group in USE_GROUP.findall(code):
                targets.update(re.findall(r"(?:^|[,{\s])(\w+)(?=::|\s*[,}]|$)", group))
            for t in targets:
                if t != src and t not in ("self", "super"):
                    found.setdefault((src, t), set()).add(rel)
    return found


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    found = edges()
    graph = {}
    for (a, b) in found:
        graph.setdefault(a, set()).add(b)
    bad = []
    for (a, b), files in sorted(found.items()):
        if a not in rank or b not in rank:
            unknown = a if a not in rank else b
            bad.append(f"module `{unknown}` is in no layer of scripts/layers.py ({', '.join(sorted(files))})")
        elif rank[b] >= rank[a]:
            bad.append(f"{', '.join(sorted(files))}: `{a}` imports `{b}`, which is not below it")
    if "--graph" in sys.argv:
        for (a, b) in sorted(found):
            print(f"{a} -> {b}")
    found_cycles = cycles(graph)
    print(f"{len(graph)} modules, {len(found)} cross-module imports, "
          f"{len(found_cycles)} cycles, {len(bad)} upward imports")
    for c in found_cycles:
        print("cycle: " + " <-> ".join(c))
    for b in bad:
        print(b)
    sys.exit(1 if bad or found_cycles else 0)


if __name__ == "__main__":
    main()
