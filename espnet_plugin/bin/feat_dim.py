#!/usr/bin/env python3
"""Print the feature dimension of the first matrix of a kaldiio scp (for shell stages).

    python -m espnet_plugin.bin.feat_dim exp/svae_x/latents/train/latents.scp    # -> 64
"""
from __future__ import annotations

import argparse
from typing import Sequence

import kaldiio

from espnet_plugin.errors import DataError


def feat_dim(scp: str) -> int:
    """Columns of the first matrix listed in ``scp``.

    Raises:
        DataError: the scp is missing or empty, or its first entry cannot be read (naming both).
    """
    try:
        with open(scp, encoding="utf-8") as f:
            line = f.readline()
    except OSError as exc:
        raise DataError(f"{scp}: cannot read the feature list: {exc}") from exc
    parts = line.split(maxsplit=1)
    if len(parts) != 2:
        raise DataError(f"{scp}: empty or malformed first line {line.strip()!r} (expected 'key ark:offset')")
    key, path = parts
    try:
        mat = kaldiio.load_mat(path.strip())
    except Exception as exc:
        raise DataError(f"{scp}: cannot read the features of {key!r} ({path.strip()}): {exc}") from exc
    if mat.ndim != 2:
        raise DataError(f"{scp}: the features of {key!r} are not a (frames, dim) matrix: shape {mat.shape}")
    return int(mat.shape[1])


def main(cmd: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scp", help="a kaldiio feats/latents scp")
    print(feat_dim(p.parse_args(cmd).scp))


if __name__ == "__main__":
    main()
