#!/usr/bin/env python3
"""Summarise a dhat heap profile (dhat-heap.json, as written by the `dhat-heap`
build of lostromos): the allocation sites holding the most bytes at the end of
the profile (live when it was written) and at the global peak.

    scripts/dhat-top.py target/dhat/idle-1000-restart.json [--top 15] [--depth 6]

Each site is shown by its first frames outside the allocator and the standard
library; "by owner" adds sites up by the first frame in Lostrómos's own code
(or kube's, when no Lostrómos frame is on the stack)."""

import argparse
import json
import re
from collections import defaultdict

# Frames are "0x...: function (file:line:col)"; the file tells whose code it is:
# Lostrómos's own (src/app/..., src/observe/...), a crate's (name-1.2.3/src/...),
# or the allocator and standard library's, which say nothing about who allocated.
OURS = re.compile(r"\((src/(app|config|crd|helm|observe|plan|reconcile|serve)/[^)]*|src/main\.rs[^)]*|src/lib\.rs[^)]*)\)$")
CRATE = re.compile(r"\(([A-Za-z0-9_\-]+)-\d+\.\d+\.\d+[^/]*/")
NOISE_CRATES = ("dhat", "hashbrown", "indexmap")


def func(frame: str) -> str:
    frame = re.sub(r"^0x[0-9a-f]+: ", "", frame)
    frame = re.sub(r"::h[0-9a-f]{16}", "", frame)
    frame = re.sub(r":(\d+):\d+\)$", r":\1)", frame)
    return frame


def short(frame: str, width: int = 110) -> str:
    m = re.match(r"^(.*) \(([^)]*)\)$", frame)
    if not m:
        return frame[:width]
    name, where = m.groups()
    name = re.sub(r"<.*>", "<..>", name)
    return f"{name} ({where})"[:width]


def frames(pp, ftbl):
    return [func(ftbl[i]) for i in pp["fs"]]


def ours(f):
    return OURS.search(f) and "heap_profile.rs" not in f


def a_crate(f):
    m = CRATE.search(f)
    return m and m.group(1) not in NOISE_CRATES


def owner(fs):
    for test in (ours, a_crate):
        for f in fs:
            if test(f):
                return short(f, 90)
    return "?"


def site(fs, depth):
    """The first crate frame (often naming the type allocated) and the first
    frames of Lostrómos's own."""
    picked = []
    first_crate = next((f for f in fs if a_crate(f)), None)
    if first_crate:
        picked.append(short(first_crate))
    picked += [short(f, 70) for f in fs if ours(f)][: depth - len(picked)]
    return " <- ".join(picked) if picked else "?"


def mib(b):
    return f"{b / 1048576:7.2f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--depth", type=int, default=5)
    a = ap.parse_args()
    with open(a.profile) as f:
        d = json.load(f)
    ftbl, pps = d["ftbl"], d["pps"]
    print(f"{a.profile}: {len(pps)} sites")
    for key, blocks, what in (("eb", "ebk", "live at the end (when written)"), ("gb", "gbk", "live at the peak")):
        total = sum(p[key] for p in pps)
        nblocks = sum(p[blocks] for p in pps)
        print(f"\n== {what}: {mib(total)} in {nblocks} blocks")
        by_owner = defaultdict(lambda: [0, 0])
        for p in pps:
            o = by_owner[owner(frames(p, ftbl))]
            o[0] += p[key]
            o[1] += p[blocks]
        print("-- by owner")
        for name, (b, k) in sorted(by_owner.items(), key=lambda x: -x[1][0])[: a.top]:
            print(f"{mib(b)} {k:8d} blocks  {name}")
        print("-- by site")
        for p in sorted(pps, key=lambda p: -p[key])[: a.top]:
            if p[key] == 0:
                break
            print(f"{mib(p[key])} {p[blocks]:8d} blocks  {site(frames(p, ftbl), a.depth)}")


if __name__ == "__main__":
    main()
