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

# frames that say nothing about who allocated
NOISE = re.compile(
    r"^(\[root\]|dhat::|alloc::|core::|std::|<alloc::|<core::|<std::|hashbrown::|"
    r"<hashbrown::|__rust|<dhat::|bytes::bytes_mut|<bytes::|bytes::|"
    r"<&mut serde_json::de::Deserializer|serde::de::impls|<serde::de::impls|<serde_json::value::de|"
    r"serde_json::value::de|<serde_json::value::ser)"
)


def func(frame: str) -> str:
    # "0x1234: name (file:line:col)" -> "name (file:line)"
    frame = re.sub(r"^0x[0-9a-f]+: ", "", frame)
    frame = re.sub(r"::h[0-9a-f]{16}", "", frame)
    frame = re.sub(r"\(/root/\.cargo/registry/src/[^/]+/", "(", frame)
    frame = re.sub(r"\(/rustc/[0-9a-f]+/library/", "(std:", frame)
    frame = re.sub(r"\(/work/[^/]+/crates/lostromos/", "(", frame)
    frame = re.sub(r":(\d+):\d+\)$", r":\1)", frame)
    return frame


def frames(pp, ftbl):
    return [func(ftbl[i]) for i in pp["fs"]]


def site(fs, depth):
    kept = [f for f in fs if not NOISE.match(f)]
    return " <- ".join(kept[:depth]) if kept else " <- ".join(fs[:depth])


def owner(fs):
    for f in fs:
        if f.startswith(("lostromos::", "<lostromos::")) and "app::heap_profile" not in f:
            return re.sub(r" \(.*", "", f)
    for f in fs:
        if f.startswith(("kube_runtime::", "<kube_runtime::", "kube_client::", "<kube_client::")):
            return re.sub(r" \(.*", "", f)
    for f in fs:
        if not NOISE.match(f):
            return re.sub(r" \(.*", "", f)
    return "?"


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
