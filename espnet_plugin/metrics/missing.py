"""The missing-value policy: what an item a judge cannot score counts as (one table, here).

A judge cannot score some items: PESQ and STOI of a silent output, the speaker similarity of a
clip with less than 0.3 s of voice, DistillMOS of an all-zero clip; the scorers write NaN for such
an item. Dropping it from the mean averages a system over its successes only, so a system that
outputs silence on half the prompts would look as good as one that never fails. Instead a
*failed* item (NaN) counts as the metric's worst value ``W_m``, wherever per-utterance values are
aggregated::

    mean_m = (sum_{u ok} x_u + n_failed * W_m) / n

(:func:`espnet_plugin.metrics.registry.average_scores`: the means of ``metrics.json``;
:func:`espnet_plugin.report.uncertainty.read_per_utt`: the summary's cells and every bootstrap
replicate). The number of failed items is kept (``n_nan`` in ``metrics.json``, ``Column.n_failed``)
and shown next to the value: ``0.71 [0.65, 0.77] (3 failed)`` in ``table.md``, ``<metric>_failed``
in ``table.csv``.

============================  ==========  =====  ==============================================
metric                        worst W     best   why W
============================  ==========  =====  ==============================================
``pesq``                      1.0         4.64   floor of wide-band PESQ's MOS-LQO mapping
                                                 (P.862.2 outputs 1.02 .. 4.64)
``stoi``                      0.0         1.0    no envelope correlation at all
``spk_sim``, ``spk_sim_wavlm``  0.0       1.0    cosine of unrelated (orthogonal) embeddings;
                                                 Resemblyzer d-vectors are non-negative, so 0 is
                                                 its floor; -1 (opposite voices) has no meaning
                                                 for a speaker encoder
``mos``, ``utmos``            1.0         5.0    the bottom of the MOS scale ("bad")
``mel_distance``              11.51       0.0    ``-ln(MEL_FLOOR)``: silence (every band at the
                                                 1e-5 floor) against a log-mel of 0 everywhere,
                                                 about full-scale white noise (11.0); speech vs
                                                 silence is smaller, so a failure never scores
                                                 better than outputting silence
============================  ==========  =====  ==============================================

Not in the table, nothing is substituted:

* error rates (``wer``, ``cer``, ``*_probe``) are corpus ratios of error counts: an output the
  ASR judge cannot transcribe is an empty hypothesis, all of its reference deleted, already
  counted in full; a per-utterance rate is NaN only for an empty reference, which is no failure;
* accuracies (``sid_acc``, ``kws_acc``): each item is right (100) or wrong (0);
* any other metric: its NaN items are left out of the mean and not counted as failed.

The same scale puts a higher-is-better metric on [0, 1] for the overall score
(:mod:`espnet_plugin.metrics.overall`): ``unit(x) = clip((x - W) / (best - W), 0, 1)``, so PESQ
(which the C library can return below 1 for odd inputs) never enters a ratio as a negative number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

MEL_FLOOR = 1e-5  # = espnet_plugin.metrics.reconstruction.MEL_FLOOR (not imported: no cycle)


@dataclass(frozen=True)
class Scale:
    """``worst``: the value of a failed item; ``best``: the other end of the scale."""

    worst: float
    best: float


SCALES: dict[str, Scale] = {
    "pesq": Scale(1.0, 4.64),
    "stoi": Scale(0.0, 1.0),
    "spk_sim": Scale(0.0, 1.0),
    "spk_sim_wavlm": Scale(0.0, 1.0),
    "mos": Scale(1.0, 5.0),
    "utmos": Scale(1.0, 5.0),
    "mel_distance": Scale(-math.log(MEL_FLOOR), 0.0),
}


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def worst_value(key: str) -> Optional[float]:
    """Worst value of metric ``key`` (``"axis/name"`` or ``name``); None when it has none."""
    s = SCALES.get(_name(key))
    return None if s is None else s.worst


def fill_failed(values: np.ndarray, key: str) -> tuple[np.ndarray, int]:
    """``(values with NaN -> worst value, number of NaN)``; unchanged and 0 without a worst value."""
    x = np.asarray(values, dtype=float)
    w = worst_value(key)
    if w is None:
        return x, 0
    bad = ~np.isfinite(x)
    return np.where(bad, w, x), int(bad.sum())


def unit(key: str, x):
    """``clip((x - W) / (best - W), 0, 1)`` for a bounded higher-is-better metric; ``x`` otherwise.

    Works on floats and arrays (NaN stays NaN).
    """
    s = SCALES.get(_name(key))
    if s is None or not (s.best > s.worst):
        return x
    with np.errstate(invalid="ignore"):
        return np.clip((np.asarray(x, dtype=float) - s.worst) / (s.best - s.worst), 0.0, 1.0)
