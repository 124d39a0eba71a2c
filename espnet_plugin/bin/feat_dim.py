#!/usr/bin/env python3
"""Print the feature dimension of the first matrix of a kaldiio scp (for shell stages), or write the
shape file of every matrix (what ESPnet's collect-stats stage writes, without building a model).

    python -m espnet_plugin.bin.feat_dim exp/svae_x/latents/train/latents.scp    # -> 64
    python -m espnet_plugin.bin.feat_dim exp/svae_x/latents/train/latents.scp --shape_out speech_shape
        # -> "utt frames,dim" per line
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


def shape_lines(scp: str) -> list[str]:
    """``"<key> <frames>,<dim>"`` of every matrix of ``scp``, in its order.

    Raises:
        DataError: an entry that cannot be read or is not a (frames, dim) matrix (naming it).
    """
    out = []
    try:
        for key, mat in kaldiio.load_scp_sequential(scp):
            if mat.ndim != 2:
                raise DataError(f"{scp}: the features of {key!r} are not a (frames, dim) matrix: shape {mat.shape}")
            out.append(f"{key} {mat.shape[0]},{mat.shape[1]}")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{scp}: cannot read the features after {len(out)} entries: {exc}") from exc
    if not out:
        raise DataError(f"{scp}: no features listed")
    return out


def main(cmd: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scp", help="a kaldiio feats/latents scp")
    p.add_argument("--shape_out", default=None, help="write 'key frames,dim' lines here instead of printing the dim")
    args = p.parse_args(cmd)
    if args.shape_out:
        from pathlib import Path

        from espnet_plugin.io.kaldi_dir import write_text_atomic

        Path(args.shape_out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.shape_out, "".join(line + "\n" for line in shape_lines(args.scp)))
        return
    print(feat_dim(args.scp))


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
