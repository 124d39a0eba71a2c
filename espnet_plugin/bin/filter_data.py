#!/usr/bin/env python3
"""Filter a formatted data dir by duration (ESPnet's "remove short/long data" stage).

    python -m espnet_plugin.bin.filter_data --in_dir dump/raw/org/train --out_dir dump/raw/train \
        --min_seconds 0.5 --max_seconds 20 [--fs 16000]

Reads ``utt2num_samples`` (written by the format stage), keeps utterances within the limits, and writes
``wav.scp``/``text``/``utt2spk``/``spk2utt``/``utt2num_samples`` of the kept ones; every removed utterance
is listed with its reason in ``<out_dir>/filtered.tsv``.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import read_scp, write_scp


def main(cmd=None) -> None:
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
    n = {k: int(v) for k, v in read_scp(src / "utt2num_samples").items()}
    lo, hi = args.min_seconds * args.fs, args.max_seconds * args.fs
    keep = {k for k, v in n.items() if lo <= v <= hi}
    dropped = sorted(set(n) - keep)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("wav.scp", "text", "utt2spk", "utt2num_samples"):
        if (src / name).is_file():
            d = read_scp(src / name)
            write_scp(dst / name, {k: v for k, v in d.items() if k in keep})
    spk2utt: dict[str, list[str]] = {}
    for k, s in read_scp(dst / "utt2spk").items():
        spk2utt.setdefault(s, []).append(k)
    write_scp(dst / "spk2utt", {s: " ".join(sorted(u)) for s, u in spk2utt.items()})
    tmp = dst / "filtered.tsv.tmp"
    with open(tmp, "w") as f:
        for k in dropped:
            f.write(f"{k}\t{n[k] / args.fs:.2f}s\t{'too short' if n[k] < lo else 'too long'}\n")
    os.replace(tmp, dst / "filtered.tsv")
    logging.info(f"{src} -> {dst}: kept {len(keep)}, removed {len(dropped)} (< {args.min_seconds}s or > {args.max_seconds}s)")
    if not keep:
        raise DataError(f"no utterance of {src} is within {args.min_seconds}-{args.max_seconds} s")


if __name__ == "__main__":
    main()
