"""The overall score: each axis relative to its baseline, then combined across axes.

The paper's exact formula is not public; this project defines its own.

Definition
----------
For an axis ``a`` with baseline row ``b_a`` (reconstruction: ``mel_vocoder``, Mel + vocoder;
understanding: ``fbank``; generation: ``mel_f5``, F5-TTS on mel) and every metric ``m`` of that
axis that the baseline row has (finite and > 0), the relative score of row ``c`` is::

    r_m(c) = v_m(c) / v_m(b_a)      if higher is better (PESQ, STOI, SIM, MOS, accuracy)
    r_m(c) = v_m(b_a) / v_m(c)      if lower is better  (WER, CER, mel distance)
    r_m(c) <- clip(r_m(c), 1/R_MAX, R_MAX),  R_MAX = 10

so ``r > 1`` always means "better than the baseline".  Guards: a value ``<= 0`` gives the
worst ratio 1/R_MAX for a higher-is-better metric and the best ratio R_MAX for a
lower-is-better one (WER 0); a baseline value that is not finite or ``<= 0`` cannot serve as a
reference and the metric is left out of the axis (logged).  Then::

    S_a(c) = 100 * exp( mean_m log r_m(c) )        (geometric mean; baseline = 100)
    overall(c) = exp( mean_a log S_a(c) )           over the three axes

``S_a(c)`` is NaN (missing) when row ``c`` lacks any of the axis' reference metrics (a subset
would not be comparable with other rows), and ``overall`` is NaN unless all three axis scores
exist.  Missing is never turned into 0.

Why this form
-------------
* Unit-free and scale-free: each metric enters as a ratio, so WER in % or as a fraction,
  mel distance in any log base, give the same score.
* Symmetric in log space: twice better on one metric and twice worse on another cancel,
  which an arithmetic mean of ratios would not do (it rewards gains more than it punishes
  losses).
* Anchored: 100 is "as good as the established baseline" on that axis, which is how the
  paper reads its bars; a row's score does not depend on which other rows are in the table
  (unlike z-scores or min-max normalisation over the compared systems).
* The geometric mean across axes penalises imbalance: (200, 50, 100) gives 100, an
  arithmetic mean 117; a model that collapses on one axis cannot buy it back elsewhere.
  The clip bounds one degenerate metric (e.g. WER 0 or PESQ < 0) to one decade of influence.
* Caveat: bounded metrics near their ceiling (STOI 0.96 vs 0.97) move little in ratio terms,
  so within reconstruction PESQ, mel distance and MOS carry most of the spread.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Optional

import numpy as np

from espnet_plugin.metrics.registry import AXES, direction_of, get_metric
from espnet_plugin.errors import ConfigError

logger = logging.getLogger(__name__)

R_MAX = 10.0
DEFAULT_BASELINES = {"reconstruction": "mel_vocoder", "understanding": "fbank", "generation": "mel_f5"}


def relative_score(value: float, baseline: float, direction: str, r_max: float = R_MAX) -> float:
    """Ratio ``r`` of ``value`` to ``baseline`` oriented so that ``r > 1`` is better.

    Returns NaN when ``value`` or ``baseline`` is NaN/None or ``baseline <= 0``;
    otherwise ``clip(v/b or b/v, 1/r_max, r_max)`` with the ``<= 0`` guards of the module doc.
    """
    if value is None or baseline is None:
        return float("nan")
    v, b = float(value), float(baseline)
    if not (math.isfinite(v) and math.isfinite(b)) or b <= 0:
        return float("nan")
    if direction == "higher":
        r = v / b if v > 0 else 0.0
    elif direction == "lower":
        r = b / v if v > 0 else math.inf
    else:
        raise ConfigError(f"direction {direction!r} not in ('higher', 'lower')")
    return min(max(r, 1.0 / r_max), r_max)


def _geo_mean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def metric_axis(key: str) -> Optional[str]:
    """Axis of a metric key ``"axis/name"`` (or a unique registered name); None if unknown."""
    if "/" in key:
        a = key.split("/", 1)[0]
        return a if a in AXES else None
    try:
        return get_metric(key).axis
    except ConfigError:
        return None


def reference_metrics(
    table: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, str] = DEFAULT_BASELINES,
    directions: Optional[Mapping[str, str]] = None,
) -> dict[str, dict[str, str]]:
    """The metrics each axis is scored on: ``{axis: {metric_key: direction}}``.

    Those of the axis' baseline row with a known direction and a finite value ``> 0`` (others are
    logged and left out); an axis whose baseline row is absent or has none gets ``{}``.
    """
    directions = dict(directions or {})
    out: dict[str, dict[str, str]] = {a: {} for a in AXES}
    for axis in AXES:
        b = baselines.get(axis)
        if b is None or b not in table:
            logger.warning("no baseline row %r for axis %s: its scores are missing", b, axis)
            continue
        for key, bv in table[b].items():
            if metric_axis(key) != axis:
                continue
            d = directions.get(key) or direction_of(key)
            if d is None:
                logger.warning("metric %r has no known direction: left out of the %s score", key, axis)
                continue
            if bv is None or not math.isfinite(float(bv)) or float(bv) <= 0:
                logger.warning("baseline %r has %s = %s: left out of the %s score", b, key, bv, axis)
                continue
            out[axis][key] = d
        if not out[axis]:
            logger.warning("baseline %r has no usable %s metric", b, axis)
    return out


def _ratios(v: np.ndarray, b: np.ndarray, direction: str, r_max: float) -> np.ndarray:
    """Vectorised :func:`relative_score` (NaN in, NaN out)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if direction == "higher":
            r = np.where(v > 0, v / b, 0.0)
        elif direction == "lower":
            r = np.where(v > 0, b / v, np.inf)
        else:
            raise ConfigError(f"direction {direction!r} not in ('higher', 'lower')")
        r = np.where(np.isfinite(v) & np.isfinite(b) & (b > 0), r, np.nan)
    return np.clip(r, 1.0 / r_max, r_max)


def scores_from_references(
    table: Mapping[str, Mapping[str, Any]],
    baselines: Mapping[str, str],
    refs: Mapping[str, Mapping[str, str]],
    r_max: float = R_MAX,
) -> dict[str, dict[str, np.ndarray]]:
    """Axis and overall scores for values that are floats or equal-shape arrays (bootstrap replicates).

    ``refs`` comes from :func:`reference_metrics` (chosen once, on the point estimates, so every
    replicate is scored on the same metrics). Silent: nothing is logged. Returns arrays (0-d for
    float input) per ``{row: {axis | "overall": score}}``, NaN where missing.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for row, vals in table.items():
        s: dict[str, np.ndarray] = {}
        for axis in AXES:
            keys = refs.get(axis) or {}
            b = baselines.get(axis)
            if not keys or b not in table:
                s[axis] = np.asarray(np.nan)
                continue
            logs = [np.log(_ratios(np.asarray(_nan(vals.get(k)), dtype=float),
                                   np.asarray(_nan(table[b].get(k)), dtype=float), d, r_max))
                    for k, d in keys.items()]
            s[axis] = 100.0 * np.exp(sum(logs) / len(logs))   # NaN when any ratio is missing
        s["overall"] = np.exp(sum(np.log(s[a]) for a in AXES) / len(AXES))
        out[row] = s
    return out


def _nan(v: Any) -> Any:
    return float("nan") if v is None else v


def compute_scores(
    table: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, str] = DEFAULT_BASELINES,
    directions: Optional[Mapping[str, str]] = None,
    r_max: float = R_MAX,
) -> dict[str, dict[str, float]]:
    """Axis scores and overall score of every row (see the module docstring for the formula).

    Args:
        table: ``{row: {metric_key: value}}``; keys are ``"axis/name"`` (or unique registered
            names); values may be NaN/None (missing).
        baselines: ``{axis: row}`` naming each axis' reference row.
        directions: ``{metric_key: "higher"|"lower"}``; defaults to the registry.  Metrics with
            no known direction are ignored (logged).
        r_max: clip bound of a single ratio.
    Returns:
        ``{row: {"reconstruction": S, "understanding": S, "generation": S, "overall": O}}``,
        NaN where missing.
    """
    refs = reference_metrics(table, baselines, directions)
    scores = scores_from_references(table, baselines, refs, r_max)
    for row, vals in table.items():
        for axis in AXES:
            if not math.isfinite(float(scores[row][axis])) and any(k in vals for k in refs[axis]):
                logger.info("row %r: %s score missing (a reference metric has no value)", row, axis)
    return {row: {k: float(v) for k, v in s.items()} for row, s in scores.items()}
