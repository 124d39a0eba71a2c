#!/usr/bin/env python3
"""Filter a formatted data dir by duration (ESPnet's "remove short/long data" stage).

    python -m espnet_plugin.bin.filter_data --in_dir dump/raw/org/train --out_dir dump/raw/train \
        --min_seconds 0.5 --max_seconds 20 [--fs 16000]

Reads ``utt2num_samples`` (written by the format stage), keeps utterances within the limits, and writes
``wav.scp``/``text``/``utt2spk``/``spk2utt``/``utt2num_samples`` of the kept ones; every removed utterance
is listed with its reason in ``<out_dir>/filtered.tsv``.  The inputs are checked (``utt2num_samples`` and
``utt2spk`` present, every sample count a non-negative integer, at least one utterance kept) before
anything is written.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Mapping, Sequence

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import read_scp, utt2spk_to_spk2utt, write_scp, write_text_atomic

FILES = ("wav.scp", "text", "utt2spk", "utt2num_samples")  # copied (restricted to the kept utterances)


def parse_num_samples(path: Path, entries: Mapping[str, str]) -> dict[str, int]:
    """``{utt: samples}`` of the entries of an ``utt2num_samples`` file (``path``, for messages).

    Raises:
        DataError: a count that is not a non-negative integer (naming the file and the utterance).
    """
    out: dict[str, int] = {}
    for utt, v in entries.items():
        try:
            n = int(v)
        except ValueError:
            n = -1
        if n < 0:
            raise DataError(f"{path}: utterance {utt!r}: number of samples {v!r} "
                            "is not a non-negative integer")
        out[utt] = n
    return out


def main(cmd: Sequence[str] | None = None) -> None:
    """Entry point (see the module docstring).

    Raises:
        DataError: a missing input file, a bad sample count, or no utterance within the limits
            (nothing is written then).
    """
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--min_seconds", type=float, default=0.5)
    p.add_argument("--max_seconds", type=float, default=20.0)
    p.add_argument("--fs", type=int, default=16000)
    args = p.parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    src, dst = Path(args.in_dir), Path(args.out_dir)
    if not (src / "utt2num_samples").is_file():
        raise DataError(f"{src}/utt2num_samples is missing: run the format stage first")
    if not (src / "utt2spk").is_file():
        raise DataError(f"{src}/utt2spk is missing: run the format stage first")
    inputs = {name: read_scp(src / name) for name in FILES if (src / name).is_file()}
    n = parse_num_samples(src / "utt2num_samples", inputs["utt2num_samples"])
    lo, hi = args.min_seconds * args.fs, args.max_seconds * args.fs
    keep = {k for k, v in n.items() if lo <= v <= hi}
    dropped = sorted(set(n) - keep)
    logging.info(f"{src} -> {dst}: kept {len(keep)}, removed {len(dropped)} (< {args.min_seconds}s or > {args.max_seconds}s)")
    if not keep:
        raise DataError(f"no utterance of {src} is within {args.min_seconds}-{args.max_seconds} s")
    kept = {name: {k: v for k, v in d.items() if k in keep} for name, d in inputs.items()}
    dst.mkdir(parents=True, exist_ok=True)
    for name, entries in kept.items():
        write_scp(dst / name, entries)
    spk2utt = utt2spk_to_spk2utt(kept["utt2spk"])
    write_scp(dst / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    write_text_atomic(dst / "filtered.tsv", "".join(
        f"{k}\t{n[k] / args.fs:.2f}s\t{'too short' if n[k] < lo else 'too long'}\n" for k in dropped))


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
