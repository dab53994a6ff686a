#!/usr/bin/env python3
"""The include graph between refit's folders (docs/architecture.md).

Reads every #include "..." of the library, the command and its tools,
resolves each to the header's folder, prints the edges between folders
with the headers behind them, and exits 1 when an edge points the wrong
way (a folder may include only the folders below it in LAYERS), when the
command includes a header outside its named tool set, or when there is an
include cycle between folders or between files.
usage: include_graph.py [REPO_ROOT]   (default: two folders up)
"""
import os
import re
import sys

# folder -> (path, the folders it may include). Bottom to top.
LAYERS = {
    "public":   ("include",              set()),  # refit.h alone
    "base":     ("include/base",         {"public"}),
    "shard":    ("shard",                {"base", "public"}),
    "kernels":  ("kernels",              {"base", "public"}),
    "comm":     ("comm",                 {"base", "public"}),
    "backends": ("coord/backends",       {"shard", "kernels", "comm", "base", "public"}),
    "host":     ("coord/backends/host",  {"backends", "shard", "kernels", "comm", "base", "public"}),
    "cuda":     ("coord/backends/cuda",  {"backends", "shard", "kernels", "comm", "base", "public"}),
    "coord":    ("coord",                {"backends", "shard", "kernels", "comm", "base", "public"}),
    "synth":    ("launch/synth",         {"shard", "base", "public"}),
    "launch":   ("launch",               {"synth", "coord", "shard", "kernels", "comm", "cuda", "base", "public"}),
}
# The command's named tool headers (launch/CMakeLists.txt): beyond refit.h,
# launch may include only these headers of the library.
LAUNCH_TOOLS = {"rf_common.h", "rf_settings.h", "rf_fileio.h", "model.h", "checkpoint.h", "safetensors.h",
                "snapshot.h", "refit_tool.h", "node_place.h", "cuda_device.h", "synth.h"}
SOURCE = re.compile(r"\.(c|h|cu)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(rel):
    """The deepest LAYERS folder holding the file rel (a path from the root)."""
    d = os.path.dirname(rel)
    best = None
    for name, (path, _) in LAYERS.items():
        if d == path and (best is None or len(path) > len(LAYERS[best][0])):
            best = name
    return best


def scan(root):
    files = {}  # rel path -> folder
    for name, (path, _) in LAYERS.items():
        full = os.path.join(root, path)
        for f in sorted(os.listdir(full)) if os.path.isdir(full) else []:
            rel = os.path.join(path, f)
            if SOURCE.search(f) and os.path.isfile(os.path.join(root, rel)):
                files[rel] = name
    headers = {}  # header base name -> rel paths
    for rel in files:
        if rel.endswith(".h"):
            headers.setdefault(os.path.basename(rel), []).append(rel)
    return files, headers


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    files, headers = scan(root)
    errors = []
    for h, where in headers.items():
        if len(where) > 1:
            errors.append(f"header {h} exists twice: {', '.join(where)}")
    edges = {}  # (from folder, to folder) -> set of headers
    file_edges = {}  # rel -> set of rel
    for rel, src in sorted(files.items()):
        text = open(os.path.join(root, rel), encoding="utf-8", errors="replace").read()
        for inc in INCLUDE.findall(text):
            target = headers.get(os.path.basename(inc))
            if not target:
                continue  # a system or third-party header
            dst_rel = target[0]
            dst = files[dst_rel]
            file_edges.setdefault(rel, set()).add(dst_rel)
            if dst == src:
                continue
            edges.setdefault((src, dst), set()).add(os.path.basename(inc))
            if dst not in LAYERS[src][1]:
                errors.append(f"wrong way: {rel} ({src}) includes {inc} ({dst})")
            if src == "launch" and dst != "public" and os.path.basename(inc) not in LAUNCH_TOOLS:
                errors.append(f"launch uses {inc}, not one of its named tool headers")
    print("include graph between folders (edge: headers included):")
    for name in LAYERS:
        outs = sorted((dst, hs) for (s, dst), hs in edges.items() if s == name)
        print(f"  {name:9s} [{LAYERS[name][0]}]")
        for dst, hs in outs:
            print(f"      -> {dst:9s} {', '.join(sorted(hs))}")
    errors += cycles({s: {d for (s2, d) in edges if s2 == s} for s in LAYERS}, "folders")
    errors += cycles(file_edges, "files")
    for e in errors:
        print("ERROR: " + e)
    print(f"{len(files)} files, {len(edges)} edges between folders, {len(errors)} errors")
    return 1 if errors else 0


def cycles(graph, what):
    """One message per include cycle found by a depth-first search."""
    found, state = [], {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m == n:
                continue
            if state.get(m) == 1:
                found.append(f"include cycle between {what}: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif not state.get(m):
                visit(m, stack)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if not state.get(n):
            visit(n, [])
    return found


if __name__ == "__main__":
    sys.exit(main())
