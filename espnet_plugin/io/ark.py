"""Atomic kaldiio ark/scp writing: the ``.scp`` is the commit marker.

The ark is written under its final name, the scp under ``<scp>.tmp`` and renamed at the end,
so a killed job never leaves an scp pointing at a half-written ark. A rerun over a finished
output first removes the old scp: the ark it indexes is about to be truncated and rewritten, and a
kill in the middle must leave no scp rather than an old one with offsets past the new ark's end.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import kaldiio


@contextmanager
def atomic_ark_writer(ark: str | os.PathLike, scp: str | os.PathLike) -> Iterator[kaldiio.WriteHelper]:
    """``with atomic_ark_writer(ark, scp) as w: w[key] = np.ndarray`` (float32 matrices)."""
    ark, scp = Path(ark), Path(scp)
    ark.parent.mkdir(parents=True, exist_ok=True)
    tmp = scp.with_name(scp.name + ".tmp")
    scp.unlink(missing_ok=True)  # before the ark it indexes is truncated
    with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp}") as writer:
        yield writer
    os.replace(tmp, scp)


def merge_scps(parts: list[str | os.PathLike], out: str | os.PathLike) -> None:
    """Concatenate scp files (sorted by key) atomically."""
    lines = []
    for p in parts:
        lines += [ln for ln in Path(p).read_text().splitlines() if ln.strip()]
    lines.sort(key=lambda ln: ln.split(maxsplit=1)[0])
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(ln + "\n" for ln in lines))
    os.replace(tmp, out)
