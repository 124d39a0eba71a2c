#!/usr/bin/env python3
"""Build the offline synthetic corpus (see :mod:`espnet_plugin.data.synth_corpus`).

``python -m espnet_plugin.bin.make_synth_corpus --db_dir downloads/synth --data_dir data
--num_utts 640 --seed 0 --nj 2``
"""
from __future__ import annotations

import argparse
import json
import logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db_dir", required=True, help="where the wavs are written")
    p.add_argument("--data_dir", default="data", help="parent of data/{train,dev,test}")
    p.add_argument("--num_utts", type=int, default=640)
    p.add_argument("--num_voices", type=int, default=24)
    p.add_argument("--num_test_speakers", type=int, default=4)
    p.add_argument("--dev_utts_per_speaker", type=int, default=2)
    p.add_argument("--min_words", type=int, default=4)
    p.add_argument("--max_words", type=int, default=14)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nj", type=int, default=2)
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return p


def main(cmd: list[str] | None = None) -> int:
    """Entry point; returns 0 (a data or configuration error is raised: ``espnet_plugin.cli``)."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from espnet_plugin.data.synth_corpus import make_corpus

    info = make_corpus(
        args.db_dir, args.data_dir, num_utts=args.num_utts, num_voices=args.num_voices,
        num_test_speakers=args.num_test_speakers,
        dev_utts_per_speaker=args.dev_utts_per_speaker, seed=args.seed, nj=args.nj,
        min_words=args.min_words, max_words=args.max_words,
        show_progress=not args.no_progress,
    )
    print(json.dumps({k: info[k] for k in ("splits", "synth_seconds", "mean_utt_seconds",
                                           "skipped") if k in info}, sort_keys=True))
    return 0


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
