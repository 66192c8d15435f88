#!/usr/bin/env python3
"""Folds the stacks bench/alloccount.c wrote (bench/allocs.sh --trace PHASE) into tables of callers.

For every counted allocation the shim wrote "== alloc" and its frames (innermost first), as
backtrace_symbols_fd prints them: "object(+0xOFFSET)[0xADDRESS]" or "object(symbol+0xOFF)[…]". The frames
in the test bundle carry only offsets; they are symbolized with llvm-symbolizer (one batch). Printed:
  - per allocation, the innermost frame in Petrel's own modules (Mail*, SMTP*, POP3*, Petrel*, IMAP*),
  - per allocation, the innermost frame outside the allocator and the Swift runtime (any module),
each with the count divided by UNITS (messages or RETRs in the traced phase).
Usage: alloc_callers.py TRACE UNITS [TOP]
"""
import collections
import re
import subprocess
import sys

FRAME = re.compile(r"^(?P<object>[^(]+)\((?P<inner>[^)]*)\)\[(?P<address>0x[0-9a-f]+)\]$")
RUNTIME = re.compile(r"alloccount|libc\.so|libswiftCore|swift_alloc|swift_slowAlloc|swift_allocObject|libdispatch|libFoundation")
OWN = re.compile(r"^\$s(\d+)(Mail|SMTP|POP3|Petrel|IMAP)")


def main() -> None:
    path, units = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    stacks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] | None = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "== alloc":
                current = []
                stacks.append(current)
                continue
            m = FRAME.match(line)
            if m is None or current is None:
                continue
            current.append((m["object"], m["inner"]))
    # Symbolize the bundle's offsets in one batch.
    offsets: dict[tuple[str, str], str] = {}
    by_object: dict[str, set[str]] = collections.defaultdict(set)
    for stack in stacks:
        for obj, inner in stack:
            if inner.startswith("+0x"):
                by_object[obj].add(inner[1:])
    for obj, offs in by_object.items():
        ordered = sorted(offs)
        out = subprocess.run(
            ["llvm-symbolizer", "--obj=" + obj, "--functions=linkage", "--no-inlines", "--output-style=GNU"],
            input="\n".join(ordered) + "\n", capture_output=True, text=True).stdout.split("\n")
        # GNU style: two lines per address (function, file:line).
        for i, off in enumerate(ordered):
            offsets[(obj, "+" + off)] = out[2 * i] if 2 * i < len(out) else "?"

    def name(obj: str, inner: str) -> str:
        if inner.startswith("+0x"):
            return offsets.get((obj, inner), "?")
        sym = inner.split("+", 1)[0]
        return sym or obj.rsplit("/", 1)[-1]

    own: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for stack in stacks:
        names = [(obj, name(obj, inner)) for obj, inner in stack]
        leaf_name = next((n for obj, n in names if not RUNTIME.search(obj + " " + n)), "(runtime only)")
        leaf[leaf_name] += 1
        own_name = next((n for _, n in names if OWN.match(n)), "(no Petrel frame)")
        own[own_name] += 1

    def show(title: str, counter: collections.Counter[str]) -> None:
        print(f"\n{title} — {len(stacks)} allocations, {len(stacks) / units:.1f} per unit")
        demangled = subprocess.run(
            ["swift", "demangle", "--simplified"], input="\n".join(n for n, _ in counter.most_common(top)) + "\n",
            capture_output=True, text=True).stdout.split("\n")
        for (n, c), d in zip(counter.most_common(top), demangled):
            print(f"{c / units:8.1f}  {d[:160]}")

    show("innermost Petrel frame", own)
    show("innermost frame outside the allocator/runtime", leaf)


if __name__ == "__main__":
    main()
