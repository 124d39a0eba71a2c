"""The overall score: each axis relative to its baseline, then combined across axes.

The paper's exact formula is not public; this project defines its own.

Definition
----------
Each axis is scored on a fixed set of constructs, one metric each (:data:`CONSTRUCTS`)::

    reconstruction: quality = PESQ, intelligibility = STOI, similarity = speaker sim (ref vs output)
    understanding:  content = CER of the ASR probe's decode, speaker = speaker-id accuracy
    generation:     intelligibility = CER of the ASR judge's decode, quality = MOS,
                    similarity = speaker sim (prompt vs output)

Every other column of the table (mel distance, WER, UTMOS, WavLM similarity, the probe-judged
``*_probe`` rates, ...) is shown but never scored, so a row's score does not depend on which extra
metrics it, another row or the baseline happen to have. One ASR number per decode: WER and CER of
one decode measure the same errors, counting both would give ASR two votes. CER is that number: the
probes emit characters (``token_type: char``), CER moves smoothly where WER flips a whole word for
one wrong letter (small test sets, judges weak on synthetic voices) and depends less on text
normalisation; WER stays in the table.

A bounded higher-is-better metric is first put on [0, 1] from its worst value
(:func:`espnet_plugin.metrics.missing.unit`): ``g = clip((x - W) / (best - W), 0, 1)``, PESQ
``(PESQ - 1) / 3.64``, MOS ``(MOS - 1) / 4``, STOI and speaker similarity ``clip(x, 0, 1)``. With
``g`` (or, for an error rate, ``e``) of row ``c`` and of the axis' baseline row ``b_a``
(reconstruction: ``mel_vocoder``, Mel + vocoder; understanding: ``fbank``; generation: ``mel_f5``)::

    r_m(c) = g_m(c) / g_m(b_a)      higher is better (PESQ, STOI, SIM, MOS, accuracy)
    r_m(c) = e_m(b_a) / e_m(c)      lower is better  (CER)
    r_m(c) <- clip(r_m(c), 1/R_MAX, R_MAX),  R_MAX = 10

so ``r > 1`` always means "better than the baseline"; ``g = 0`` (the worst value) gives 1/R_MAX,
``e = 0`` gives R_MAX. A construct whose baseline value is missing or ``<= 0`` cannot serve as a
reference and is left out of that axis for every row (logged). Then::

    S_a(c) = 100 * exp( mean_m log r_m(c) )        (geometric mean over the axis' constructs)
    overall(c) = exp( mean_a log S_a(c) )           over the three axes

``S_a(c)`` is NaN (missing) when row ``c`` lacks one of the axis' constructs (a subset would not
be comparable with other rows), and ``overall`` is NaN unless all three axis scores exist.
Missing is never turned into 0. Failed items (a silent output) are already in the metric values at
the metric's worst value (:mod:`espnet_plugin.metrics.missing`).

Why this form
-------------
* One vote per construct: each axis weighs quality, intelligibility and similarity (content and
  speaker) equally, whatever else was measured.
* Unit-free and scale-free: each construct enters as a ratio, so CER in % or as a fraction gives
  the same score; bounded scales are ratios of the distance above their floor, never of a
  negative number.
* Symmetric in log space: twice better on one construct and twice worse on another cancel,
  which an arithmetic mean of ratios would not do (it rewards gains more than it punishes
  losses).
* Anchored: 100 is "as good as the established baseline" on that axis, which is how the
  paper reads its bars; a row's score does not depend on which other rows are in the table
  (unlike z-scores or min-max normalisation over the compared systems).
* The geometric mean across axes penalises imbalance: (200, 50, 100) gives 100, an
  arithmetic mean 117; a model that collapses on one axis cannot buy it back elsewhere.
  The clip bounds one degenerate construct (CER 0, PESQ at its floor) to one decade of influence.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Optional

import numpy as np

from espnet_plugin.errors import ConfigError
from espnet_plugin.metrics.missing import unit
from espnet_plugin.metrics.registry import AXES, direction_of

logger = logging.getLogger(__name__)

R_MAX = 10.0
DEFAULT_BASELINES = {"reconstruction": "mel_vocoder", "understanding": "fbank", "generation": "mel_f5"}
# {axis: {construct: metric name}}: the only metrics that enter the scores (see the module doc)
CONSTRUCTS: dict[str, dict[str, str]] = {
    "reconstruction": {"quality": "pesq", "intelligibility": "stoi", "similarity": "spk_sim"},
    "understanding": {"content": "cer", "speaker": "sid_acc"},
    "generation": {"intelligibility": "cer", "quality": "mos", "similarity": "spk_sim"},
}


def relative_score(value: float, baseline: float, direction: str, r_max: float = R_MAX) -> float:
    """Ratio ``r`` of ``value`` to ``baseline`` oriented so that ``r > 1`` is better.

    Returns NaN when ``value`` or ``baseline`` is NaN/None or ``baseline <= 0``;
    otherwise ``clip(v/b or b/v, 1/r_max, r_max)`` with the ``<= 0`` guards of the module doc.
    The values are used as given: :func:`scores_from_references` maps bounded metrics to [0, 1] first.
    """
    if value is None or baseline is None:
        return float("nan")
    return float(_ratios(np.asarray(float(value)), np.asarray(float(baseline)), direction, r_max))


def reference_metrics(
    table: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, str] = DEFAULT_BASELINES,
    directions: Optional[Mapping[str, str]] = None,
    constructs: Mapping[str, Mapping[str, str]] = CONSTRUCTS,
) -> dict[str, dict[str, str]]:
    """The metrics each axis is scored on: ``{axis: {"axis/name": direction}}``.

    The axis' constructs (``{axis: {construct: metric name}}``, :data:`CONSTRUCTS`) whose value in
    the axis' baseline row is finite and ``> 0`` after :func:`espnet_plugin.metrics.missing.unit`
    (the others are logged and left out); no other column is ever looked at. An axis whose
    baseline row is absent or has none gets ``{}``.
    """
    directions = dict(directions or {})
    out: dict[str, dict[str, str]] = {a: {} for a in AXES}
    for axis in AXES:
        b = baselines.get(axis)
        if b is None or b not in table:
            logger.warning("no baseline row %r for axis %s: its scores are missing", b, axis)
            continue
        for construct, name in (constructs.get(axis) or {}).items():
            key = f"{axis}/{name}"
            d = directions.get(key) or direction_of(key)
            if d is None:
                logger.warning("construct %s (%r) has no known direction: left out of the %s score",
                               construct, key, axis)
                continue
            bv = table[b].get(key)
            if bv is None or not float(unit(key, float(bv))) > 0:   # NaN, missing or <= 0
                logger.warning("baseline %r has %s = %s: construct %s left out of the %s score",
                               b, key, bv, construct, axis)
                continue
            out[axis][key] = d
        if not out[axis]:
            logger.warning("baseline %r has no usable %s construct", b, axis)
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
    replicate is scored on the same metrics); bounded metrics are mapped by ``unit`` here.
    Silent: nothing is logged. Returns arrays (0-d for float input) per
    ``{row: {axis | "overall": score}}``, NaN where missing.
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
            logs = [np.log(_ratios(unit(k, np.asarray(_nan(vals.get(k)), dtype=float)),
                                   unit(k, np.asarray(_nan(table[b].get(k)), dtype=float)), d, r_max))
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
    constructs: Mapping[str, Mapping[str, str]] = CONSTRUCTS,
) -> dict[str, dict[str, float]]:
    """Axis scores and overall score of every row (see the module docstring for the formula).

    Args:
        table: ``{row: {metric_key: value}}``; keys are ``"axis/name"`` (or unique registered
            names); values may be NaN/None (missing).
        baselines: ``{axis: row}`` naming each axis' reference row.
        directions: ``{metric_key: "higher"|"lower"}``; defaults to the registry.  A construct
            with no known direction is left out (logged).
        r_max: clip bound of a single ratio.
        constructs: ``{axis: {construct: metric name}}`` scored (default :data:`CONSTRUCTS`);
            every other column is ignored.
    Returns:
        ``{row: {"reconstruction": S, "understanding": S, "generation": S, "overall": O}}``,
        NaN where missing.
    """
    refs = reference_metrics(table, baselines, directions, constructs)
    scores = scores_from_references(table, baselines, refs, r_max)
    for row, vals in table.items():
        for axis in AXES:
            if not math.isfinite(float(scores[row][axis])) and any(k in vals for k in refs[axis]):
                logger.info("row %r: %s score missing (a reference metric has no value)", row, axis)
    return {row: {k: float(v) for k, v in s.items()} for row, s in scores.items()}
