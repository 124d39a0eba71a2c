"""Collect every ``metrics.json`` under an experiment dir into one comparison table + plots.

    python -m espnet_plugin.bin.summarize --exp_dir exp --out_dir exp/summary \\
        [--baseline_recon mel_vocoder] [--baseline_und fbank] [--baseline_gen mel_f5]

Reads ``EXP/**/metrics.json`` (schema of :func:`espnet_plugin.metrics.write_metrics_json`:
``axis``, ``tag``, ``metrics``, ``directions``; reconstruction, generation and the probe
stage's understanding files alike), one row per tag, computes the axis and overall scores
(:mod:`espnet_plugin.metrics.overall`) and writes ``OUT/table.md``, ``OUT/table.csv``,
``OUT/scores.json``, ``OUT/axes.png`` and, when margin-sweep rows exist
(``jmas_m1-0.5_m2-0.25`` or a ``margins`` field), ``OUT/margins.png``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Sequence

from espnet_plugin.errors import DataError

logger = logging.getLogger("summarize")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet_plugin.metrics.overall import DEFAULT_BASELINES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--pattern", default="**/metrics.json", help="glob under exp_dir")
    p.add_argument("--baseline_recon", default=DEFAULT_BASELINES["reconstruction"])
    p.add_argument("--baseline_und", default=DEFAULT_BASELINES["understanding"])
    p.add_argument("--baseline_gen", default=DEFAULT_BASELINES["generation"])
    p.add_argument("--log_level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point; returns ``{row: {axis: score, "overall": score}}``."""
    from tqdm import tqdm

    from espnet_plugin.io.kaldi_dir import write_text_atomic
    from espnet_plugin.metrics.overall import compute_scores
    from espnet_plugin.report.plots import parse_margins, plot_axes, plot_margins
    from espnet_plugin.report.table import merge_records, read_metrics_json, row_order, write_tables

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exp, out = Path(args.exp_dir), Path(args.out_dir)
    out_res = out.resolve()
    # older files first so that a re-scored (newer) file wins on a (tag, axis) clash
    files = sorted((p for p in exp.glob(args.pattern) if p.is_file() and out_res not in p.resolve().parents),
                   key=lambda p: (p.stat().st_mtime, str(p)))
    if not files:
        raise DataError(f"{exp}: no files matching {args.pattern!r}")
    records, bad = [], []
    for p in tqdm(files, desc="summarize", disable=None):
        try:
            records.append((str(p), read_metrics_json(p)))
        except DataError as exc:  # a foreign or broken file: visible as missing cells
            bad.append(str(p))
            logger.warning("skipped %s", exc)
    if not records:
        raise DataError(f"{exp}: none of the {len(files)} metrics files is valid: {bad[:3]}")
    table = merge_records(records)
    baselines = {"reconstruction": args.baseline_recon, "understanding": args.baseline_und,
                 "generation": args.baseline_gen}
    for axis, b in baselines.items():
        if b not in table.values:
            logger.warning("baseline %r (%s) not found: %s scores will be missing", b, axis, axis)
    scores = compute_scores(table.values, baselines, table.directions)
    margins = {r: m for r in table.values
               if (m := parse_margins(r, table.extra.get(r, {}).get("margins"))) is not None}

    def sort_key(r: str) -> tuple:
        m = margins.get(r)
        return (0, r, 0.0, 0.0) if m is None else (1, r.split("m1")[0], m[0], m[1])

    rows = row_order(list(table.values), baselines, sort_key)
    md, cs = write_tables(out, table, scores, baselines, rows)
    write_text_atomic(out / "scores.json", json.dumps(
        {r: {k: (v if math.isfinite(v) else None) for k, v in s.items()} for r, s in scores.items()},
        indent=2) + "\n")
    plot_axes(scores, rows, out / "axes.png")
    written = [md, cs, out / "scores.json", out / "axes.png"]
    mp = out / "margins.png"
    if margins:
        plot_margins(scores, margins, mp)
        written.append(mp)
    elif mp.exists():
        mp.unlink()  # stale picture from an earlier sweep
    logger.info("wrote %s", ", ".join(str(p) for p in written))
    return scores


if __name__ == "__main__":
    main()
