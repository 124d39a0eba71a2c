#!/usr/bin/env python3
"""Kaldi dirs from LibriTTS / LibriSpeech / LibriSpeech-PC (see :mod:`espnet_plugin.data.libri`).

Examples::

    python -m espnet_plugin.bin.prep_libri --corpus libritts --root downloads \\
        --subsets train-clean-100 dev-clean test-clean --data_dir data
    python -m espnet_plugin.bin.prep_libri --corpus librispeech --root downloads \\
        --subsets train-clean-100 --out_set train_ls100 --data_dir data
    python -m espnet_plugin.bin.prep_libri --corpus librispeech_pc --root downloads \\
        --manifest downloads/LibriSpeech-PC/test-clean.json --data_dir data

Each subset goes to ``<data_dir>/<subset with - -> _>`` for LibriTTS (``train_clean_100``),
``<data_dir>/ls_<subset>`` for LibriSpeech (``ls_test_clean``) and ``ls_test_clean_pc`` for
LibriSpeech-PC, so both corpora can share one ``data/``; ``--out_set NAME`` merges all given
subsets into ``<data_dir>/NAME``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, choices=["libritts", "librispeech", "librispeech_pc"])
    p.add_argument("--root", required=True, help="dir holding LibriTTS/ or LibriSpeech/")
    p.add_argument("--subsets", nargs="*", default=[], help="e.g. train-clean-100 test-clean")
    p.add_argument("--manifest", default=None, help="LibriSpeech-PC JSON-lines manifest")
    p.add_argument("--data_dir", default="data")
    p.add_argument("--out_set", default=None, help="merge all subsets into data_dir/OUT_SET")
    p.add_argument("--text_style", default="upper", choices=["upper", "raw"],
                   help="upper: LibriSpeech-style normalised transcript; raw: as in the source")
    p.add_argument("--libritts_text", default="normalized", choices=["normalized", "original"])
    p.add_argument("--min_seconds", type=float, default=4.0, help="LibriSpeech-PC filter")
    p.add_argument("--max_seconds", type=float, default=10.0, help="LibriSpeech-PC filter")
    return p


def prep(args: argparse.Namespace) -> dict[str, int]:
    """Parse and write the Kaldi dirs; returns ``{set name: number of utterances}``."""
    from espnet_plugin.data import libri
    from espnet_plugin.errors import ConfigError

    data = Path(args.data_dir)
    written: dict[str, int] = {}
    if args.corpus == "librispeech_pc":
        if not args.manifest:
            raise ConfigError("--corpus librispeech_pc needs --manifest")
        recs = libri.parse_librispeech_pc(args.root, args.manifest, args.min_seconds,
                                          args.max_seconds)
        name = args.out_set or "ls_test_clean_pc"
        libri.records_to_kaldi(recs, data / name, args.text_style)
        return {name: len(recs)}
    if not args.subsets:
        raise ConfigError(f"--corpus {args.corpus} needs --subsets")

    def parse(subsets: list[str]) -> list:
        if args.corpus == "libritts":
            return libri.parse_libritts(args.root, subsets, args.libritts_text)
        return libri.parse_librispeech(args.root, subsets)

    prefix = "" if args.corpus == "libritts" else "ls_"
    groups = ({args.out_set: args.subsets} if args.out_set
              else {prefix + s.replace("-", "_"): [s] for s in args.subsets})
    for name, subsets in groups.items():
        recs = parse(subsets)
        libri.records_to_kaldi(recs, data / name, args.text_style)
        written[name] = len(recs)
    return written


def main(cmd: list[str] | None = None) -> int:
    """Entry point; returns 0 (a data or configuration error is raised: ``espnet_plugin.cli``)."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    written = prep(args)
    for name, n in written.items():
        logging.info("%s/%s: %d utterances", args.data_dir, name, n)
    return 0


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
