"""Collect every ``metrics.json`` under an experiment dir into one comparison table + plots.

    python -m espnet_plugin.bin.summarize --exp_dir exp --out_dir exp/summary \\
        [--baseline_recon mel_vocoder] [--baseline_und fbank] [--baseline_gen mel_f5]

Reads ``EXP/**/metrics.json`` (schema of :func:`espnet_plugin.metrics.write_metrics_json`:
``axis``, ``tag``, ``metrics``, ``directions``; reconstruction, generation and the probe
stage's understanding files alike), one row per tag; a cell with per-utterance scores takes their
statistic, items a judge could not score counted at the metric's worst value
(:mod:`espnet_plugin.metrics.missing`, the count shown as ``(k failed)``); computes the axis
and overall scores (:mod:`espnet_plugin.metrics.overall`), a 95 % bootstrap interval for every
cell and a paired verdict of every row against ``--reference`` (:mod:`espnet_plugin.report.compare`; rows
``<name>_seed<k>`` are averaged into ``<name>``) and writes ``OUT/table.md``, ``OUT/table.csv``,
``OUT/scores.json``, ``OUT/stats.json`` (intervals, paired verdicts, seeds), ``OUT/axes.png``,
``OUT/curves.png`` (validation losses over training, :mod:`espnet_plugin.report.curves`) and, when
margin-sweep rows exist
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
    p.add_argument("--reference", default="vanilla",
                   help="row every other row is compared with (paired bootstrap per axis)")
    p.add_argument("--ground_truth_und", default="fbank",
                   help="probe row whose understanding cells the ground_truth row shows (the probe on "
                        "the test audio itself); '' for none")
    p.add_argument("--n_boot", type=int, default=1000, help="bootstrap replicates of the intervals")
    p.add_argument("--smoke_note", default="",
                   help="one line printed above the table (e.g. that a smoke run's differences mean nothing)")
    p.add_argument("--decode_tag", default="",
                   help="read a VAE's scores from its decode dirs of this inference model only "
                        "(svae_*/decode_<decode_tag>_<set>); those of other models are skipped; '' reads all")
    p.add_argument("--log_level", default="INFO")
    return p


def other_model_decode(path: Path, exp: Path, decode_tag: str) -> bool:
    """Whether ``path`` (a metrics file under ``exp``) lies in a VAE's decode dir of another inference
    model than ``decode_tag``: ``svae_<x>/decode_<model tag>_<set>/...`` (svae.sh's stage-8 layout)."""
    if not decode_tag:
        return False
    parts = path.relative_to(exp).parts
    return (len(parts) > 2 and parts[0].startswith("svae_") and parts[1].startswith("decode_")
            and not parts[1].startswith(f"decode_{decode_tag}_"))


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point; returns ``{row: {axis: score, "overall": score}}``."""
    from tqdm import tqdm

    from espnet_plugin.io.kaldi_dir import write_text_atomic
    from espnet_plugin.metrics.overall import compute_scores, reference_metrics, scores_from_references
    from espnet_plugin.report.compare import (group_seeds, intervals, latent_markdown, paired_markdown,
                                               paired_verdicts, seeds_markdown)
    from espnet_plugin.report.curves import collect_curves, plot_curves
    from espnet_plugin.report.plots import parse_margins, plot_axes, plot_margins
    from espnet_plugin.report.table import copy_axis, merge_records, read_metrics_json, read_samples, row_order, \
        cells_from_samples, write_tables

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exp, out = Path(args.exp_dir), Path(args.out_dir)
    out_res = out.resolve()
    # older files first so that a re-scored (newer) file wins on a (tag, axis) clash
    files = sorted((p for p in exp.glob(args.pattern) if p.is_file() and out_res not in p.resolve().parents
                    and not other_model_decode(p, exp, args.decode_tag)),
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
    samples = read_samples(records)
    if args.ground_truth_und and args.ground_truth_und in table.values and "ground_truth" in table.values:
        copy_axis(table, samples, args.ground_truth_und, "ground_truth", "understanding")
    baselines = {"reconstruction": args.baseline_recon, "understanding": args.baseline_und,
                 "generation": args.baseline_gen}
    cells_from_samples(table, samples)   # cells from per_utt.tsv: failed items at the worst value
    seed_values = table.values
    table.values, samples, groups = group_seeds(table.values, samples, table.extra)
    for axis, b in baselines.items():   # after grouping: a baseline trained with seeds is one row
        if b not in table.values:
            logger.warning("baseline %r (%s) not found: %s scores will be missing", b, axis, axis)
    cells_from_samples(table, samples)   # the seed-averaged rows' failed counts
    seed_values = share_missing_axes(seed_values, groups)
    refs = reference_metrics(table.values, baselines, table.directions)
    scores = compute_scores(table.values, baselines, table.directions)
    ci, rep_scores = intervals(table.values, samples, baselines, refs, n_boot=args.n_boot)
    seed_scores = {r: {k: float(v) for k, v in s_.items()} for r, s_ in
                   scores_from_references(with_baselines(seed_values, table.values, baselines), baselines,
                                          refs).items()}
    margins = {r: m for r in table.values
               if (m := parse_margins(r, table.extra.get(r, {}).get("margins"))) is not None}

    def sort_key(r: str) -> tuple:
        m = margins.get(r)
        return (0, r, 0.0, 0.0) if m is None else (1, r.split("m1")[0], m[0], m[1])

    rows = row_order(list(table.values), baselines, sort_key)
    if "ground_truth" in rows:
        rows = ["ground_truth"] + [r for r in rows if r != "ground_truth"]
    verdicts = paired_verdicts(scores, rep_scores, args.reference, [r for r in rows if r != "ground_truth"])
    notes = {b: f"{len(m)} seeds" for b, m in groups.items()} if groups else None
    shares = {}
    for f in sorted(exp.glob("svae_*/latents/*/stats.json")):
        try:
            shares[f.parents[2].name[len("svae_"):]] = float(json.loads(f.read_text())["time_share"])
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("%s: %s", f, exc)
    extra_md = (paired_markdown(verdicts, args.reference) + seeds_markdown(seed_scores, groups)
                + latent_markdown(shares, groups) + bad_utts_markdown(exp))
    head = f"> {args.smoke_note}\n\n" if args.smoke_note else ""
    md, cs = write_tables(out, table, scores, baselines, rows, ci, notes, extra_md, head)
    write_text_atomic(out / "scores.json", json.dumps(_finite(scores), indent=2) + "\n")
    write_text_atomic(out / "stats.json", json.dumps(
        {"intervals": _finite(ci), "paired_with": args.reference, "paired": _finite(verdicts),
         "seed_groups": groups, "seed_scores": _finite({r: seed_scores[r] for m in groups.values() for r in m})},
        indent=2) + "\n")
    plot_axes(scores, rows, out / "axes.png")
    written = [md, cs, out / "scores.json", out / "stats.json", out / "axes.png"]
    if plot_curves(collect_curves(exp), out / "curves.png") is not None:
        written.append(out / "curves.png")
    mp = out / "margins.png"
    if margins:
        plot_margins(scores, margins, mp)
        written.append(mp)
    elif mp.exists():
        mp.unlink()  # stale picture from an earlier sweep
    logger.info("wrote %s", ", ".join(str(p) for p in written))
    return scores


def bad_utts_markdown(exp: Path) -> str:
    """One line naming how many utterances each job skipped for bad audio (``--skip_bad_utts``), or ''."""
    from espnet_plugin.io.bad_utts import read_bad_utts

    counts = {str(d.relative_to(exp)): len(read_bad_utts(d))
              for d in sorted({p.parent for p in exp.glob("**/bad_utts*.tsv")})}
    counts = {d: n for d, n in counts.items() if n}
    if not counts:
        return ""
    return ("\n**Skipped utterances (bad audio, see bad_utts.tsv):** "
            + ", ".join(f"{d}: {n}" for d, n in counts.items()) + "\n")


def share_missing_axes(values: dict, groups: dict) -> dict:
    """Seed rows lacking a whole axis (the latent TTS runs on the first seed only) take that axis'
    values from the first seed that has it, so each seed still gets an overall score."""
    from espnet_plugin.metrics.registry import AXES

    out = {r: dict(v) for r, v in values.items()}
    for members in groups.values():
        for axis in AXES:
            donor = next((m for m in members if any(k.startswith(axis + "/") for k in values[m])), None)
            if donor is None:
                continue
            for m in members:
                if not any(k.startswith(axis + "/") for k in values[m]):
                    out[m].update({k: v for k, v in values[donor].items() if k.startswith(axis + "/")})
    return out


def with_baselines(seed_values: dict, grouped: dict, baselines: dict) -> dict:
    """The per-seed rows plus each axis' baseline row as the summary table has it (a baseline trained
    with seeds, e.g. ``mel_vocoder_seed1``, is a grouped row ``mel_vocoder`` there): every seed is
    scored against the same references as the table's rows."""
    out = dict(seed_values)
    for b in baselines.values():
        if b in grouped and b not in out:
            out[b] = grouped[b]
    return out


def _finite(o):
    """JSON-safe copy: non-finite floats -> None, tuples -> lists."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, float) or hasattr(o, "item"):
        v = float(o)
        return v if math.isfinite(v) else None
    return o


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
