"""Uncertainty of the summary: bootstrap confidence intervals and paired comparisons.

Every cell of the summary is a statistic of per-utterance values, so its uncertainty comes from
resampling the test utterances (the percentile bootstrap, ``n_boot`` replicates, fixed seed so a
rerun gives the same table):

* a *mean* metric (PESQ, STOI, SIM, MOS, ...) is the mean of its per-utterance values, an item
  the judge could not score (NaN in the file) counted at the metric's worst value
  (:mod:`espnet_plugin.metrics.missing`; :func:`read_per_utt` substitutes it and counts the items
  in ``Column.n_failed``), so a replicate resamples the failures too;
* a *ratio* metric (WER, CER, accuracy) is ``scale * sum(err) / sum(len)`` over utterances
  (corpus level, as the scorers compute it), so the per-utterance file holds ``<m>.err`` and
  ``<m>.len`` columns instead of a rate.

Rows are resampled **together** (one index draw per set of utterances, shared by every row), so a
replicate of the axis scores keeps the pairing: the difference of two rows in one replicate is the
paired difference, and its interval is a paired bootstrap test. ``verdict`` says *better* or
*worse* when the 95 % interval of the difference excludes 0, else *no significant difference*.

The axis and overall scores of each replicate come from
:func:`espnet_plugin.metrics.overall.scores_from_references`, on the same reference metrics as the
point estimate.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from espnet_plugin.errors import DataError
from espnet_plugin.metrics.missing import fill_failed

N_BOOT = 1000
ALPHA = 0.05


@dataclass
class Column:
    """Per-utterance values of one metric of one row.

    ``kind == "mean"``: ``num[u]`` is the value and ``den`` is None; NaN = not measured on this
    utterance (left out of the mean; failed items were already set to the worst value).
    ``kind == "ratio"``: the metric is ``scale * sum(num) / sum(den)`` (errors / reference length).
    ``n_failed``: items the judge could not score (counted at the worst value).
    """

    utts: tuple[str, ...]
    num: np.ndarray
    den: Optional[np.ndarray] = None
    scale: float = 100.0
    n_failed: int = 0

    @property
    def kind(self) -> str:
        return "mean" if self.den is None else "ratio"

    def value(self, idx: Optional[np.ndarray] = None) -> np.ndarray:
        """The statistic on the utterances ``idx`` (an int array (..., n) of positions; all if None)."""
        num = self.num if idx is None else self.num[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.den is None:
                ok = np.isfinite(num)
                cnt = ok.sum(axis=-1)
                return np.where(cnt > 0, np.where(ok, num, 0.0).sum(axis=-1) / np.maximum(cnt, 1), np.nan)
            den = self.den if idx is None else self.den[idx]
            tot = den.sum(axis=-1)
            return np.where(tot > 0, self.scale * num.sum(axis=-1) / np.where(tot > 0, tot, 1), np.nan)

    def aligned(self, utts: Sequence[str]) -> "Column":
        """This column on ``utts`` (missing utterances: NaN for means, 0/0 for ratios)."""
        pos = {u: i for i, u in enumerate(self.utts)}
        sel = np.array([pos.get(u, -1) for u in utts])
        have = sel >= 0

        def take(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(len(utts), fill, dtype=float)
            out[have] = a[sel[have]]
            return out

        if self.den is None:
            return Column(tuple(utts), take(self.num, np.nan), n_failed=self.n_failed)
        return Column(tuple(utts), take(self.num, 0.0), take(self.den, 0.0), self.scale, self.n_failed)


def read_per_utt(path: Union[str, Path]) -> dict[str, Column]:
    """Columns of a ``per_utt.tsv`` (header ``utt <names...>``): ``{metric: Column}``.

    A numeric column ``m`` is a mean metric, its ``nan`` items set to ``m``'s worst value when it
    has one (:func:`espnet_plugin.metrics.missing.fill_failed`, counted in ``n_failed``); a pair
    ``m.err`` / ``m.len`` is a ratio metric ``100 * sum(err) / sum(len)``. Text columns (ASR
    transcripts) are ignored.

    Raises:
        DataError: unreadable file, no header, or a row with another number of fields.
    """
    p = Path(path)
    try:
        with open(p, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise DataError(f"{p}: cannot read per-utterance scores: {exc}") from exc
    if not rows or not rows[0] or rows[0][0] != "utt":
        raise DataError(f"{p}: expected a header line starting with 'utt'")
    head, body = rows[0], [r for r in rows[1:] if r]
    for i, r in enumerate(body, start=2):
        if len(r) != len(head):
            raise DataError(f"{p}:{i}: {len(r)} fields, the header has {len(head)}")
    utts = tuple(r[0] for r in body)

    def numeric(j: int) -> Optional[np.ndarray]:
        try:
            return np.array([float(r[j]) for r in body], dtype=float)
        except ValueError:
            return None

    cols: dict[str, Column] = {}
    for j, name in enumerate(head[1:], start=1):
        if name.endswith(".len"):
            continue
        if name.endswith(".err"):
            base = name[:-4]
            if base + ".len" not in head:
                raise DataError(f"{p}: column {name!r} without {base + '.len'!r}")
            num, den = numeric(j), numeric(head.index(base + ".len"))
            if num is None or den is None:
                raise DataError(f"{p}: non-numeric values in {name!r} or {base + '.len'!r}")
            cols[base] = Column(utts, num, den)
        elif (v := numeric(j)) is not None:
            v, n_failed = fill_failed(v, name)
            cols.setdefault(name, Column(utts, v, n_failed=n_failed))
    return cols


def percentile_ci(reps: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """``(lo, hi)``: the ``alpha/2`` and ``1 - alpha/2`` percentiles of the finite replicates."""
    r = np.asarray(reps, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(r, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def bootstrap_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                 alpha: float = ALPHA) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of per-utterance values: ``(mean, lo, hi)``."""
    col = Column(tuple(str(i) for i in range(len(values))), np.asarray(values, dtype=float))
    idx = draw_indices(len(values), n_boot, seed)
    return (float(col.value()), *percentile_ci(col.value(idx), alpha))


def draw_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampling positions, drawn with replacement."""
    if n <= 0:
        return np.zeros((n_boot, 0), dtype=int)
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def replicate_table(samples: Mapping[str, Mapping[str, Column]], n_boot: int = N_BOOT,
                    seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``{row: {metric_key: (n_boot,) replicates}}`` with one shared draw per set of utterances.

    The utterances of a metric key are the union over rows (sorted); every row's column is
    aligned to them, so rows are resampled pairwise. Keys whose union is the same share a draw.
    """
    universes: dict[str, tuple[str, ...]] = {}
    for cols in samples.values():
        for key, c in cols.items():
            universes[key] = tuple(sorted(set(universes.get(key, ())) | set(c.utts)))
    draws: dict[tuple[str, ...], np.ndarray] = {}
    for i, u in enumerate(sorted(set(universes.values()))):
        draws[u] = draw_indices(len(u), n_boot, seed + i)
    return {row: {key: c.aligned(universes[key]).value(draws[universes[key]]) for key, c in cols.items()}
            for row, cols in samples.items()}


def verdict(lo: float, hi: float) -> str:
    """``better`` / ``worse`` when the interval of (row - reference) excludes 0, else n.s."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not measured"
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no significant difference"


def paired_comparison(reps_a: np.ndarray, reps_b: np.ndarray, point_a: float, point_b: float,
                      alpha: float = ALPHA) -> dict:
    """Paired bootstrap comparison of a score (higher is better) of ``a`` against ``b``.

    ``reps_*`` are replicates drawn with shared indices (:func:`replicate_table`). Returns
    ``{"delta", "lo", "hi", "p", "verdict"}``; ``p`` is the two-sided bootstrap p-value
    ``2 * min(P(d <= 0), P(d >= 0))`` (1.0 when every replicate difference is 0).
    """
    d = np.asarray(reps_a, dtype=float) - np.asarray(reps_b, dtype=float)
    d = d[np.isfinite(d)]
    lo, hi = percentile_ci(d, alpha)
    p = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))) if d.size else float("nan")
    return {"delta": float(point_a - point_b), "lo": lo, "hi": hi, "p": p, "verdict": verdict(lo, hi)}
