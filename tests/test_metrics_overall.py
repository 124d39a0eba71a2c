"""The overall score on a hand-made table (expected values computed by hand)."""
from __future__ import annotations

import math

import pytest

from espnet_plugin.errors import ConfigError
from espnet_plugin.metrics.overall import R_MAX, compute_scores, relative_score

BASE = {"reconstruction": "mel_vocoder", "understanding": "fbank", "generation": "mel_f5"}
NAN = float("nan")


def _table():
    return {
        "mel_vocoder": {"reconstruction/pesq": 3.0, "reconstruction/mel_distance": 1.0},
        "fbank": {"understanding/wer": 20.0},
        "mel_f5": {"generation/wer": 4.0, "generation/spk_sim": 0.5},
        "a": {"reconstruction/pesq": 3.6, "reconstruction/mel_distance": 0.8,
              "understanding/wer": 10.0, "generation/wer": 2.0, "generation/spk_sim": 0.5},
        # no understanding result at all
        "b": {"reconstruction/pesq": 1.5, "reconstruction/mel_distance": 2.0,
              "generation/wer": 8.0, "generation/spk_sim": 0.25},
        # degenerate values hit the clip: WER 0 -> 10x, PESQ < 0 -> 0.1x
        "c": {"reconstruction/pesq": -0.2, "reconstruction/mel_distance": 1.0,
              "understanding/wer": 0.0, "generation/wer": 4.0, "generation/spk_sim": NAN},
    }


def test_relative_score():
    assert relative_score(3.6, 3.0, "higher") == pytest.approx(1.2)
    assert relative_score(0.8, 1.0, "lower") == pytest.approx(1.25)
    assert relative_score(0.0, 2.0, "lower") == R_MAX
    assert relative_score(-1.0, 2.0, "higher") == 1 / R_MAX
    assert relative_score(1e6, 1.0, "higher") == R_MAX
    assert math.isnan(relative_score(NAN, 1.0, "higher"))
    assert math.isnan(relative_score(None, 1.0, "higher"))
    assert math.isnan(relative_score(1.0, 0.0, "lower"))  # a zero baseline cannot be a reference
    with pytest.raises(ConfigError):
        relative_score(1.0, 1.0, "sideways")


def test_hand_computed_scores():
    s = compute_scores(_table(), BASE)
    # row a: rec = 100 * sqrt(3.6/3.0 * 1.0/0.8) = 100 * sqrt(1.5)
    rec_a = 100 * math.sqrt(1.2 * 1.25)
    und_a = 100 * (20.0 / 10.0)                 # 200
    gen_a = 100 * math.sqrt((4.0 / 2.0) * 1.0)  # 141.42
    assert s["a"]["reconstruction"] == pytest.approx(122.4744871, rel=1e-9)
    assert s["a"]["reconstruction"] == pytest.approx(rec_a)
    assert s["a"]["understanding"] == pytest.approx(und_a)
    assert s["a"]["generation"] == pytest.approx(gen_a)
    assert s["a"]["overall"] == pytest.approx((rec_a * und_a * gen_a) ** (1 / 3))
    assert s["a"]["overall"] == pytest.approx(151.30857, rel=1e-6)  # (122.47 * 200 * 141.42) ** (1/3)
    # row b: rec = 100 * sqrt(0.5 * 0.5) = 50; gen = 100 * sqrt(0.5 * 0.5) = 50; und missing
    assert s["b"]["reconstruction"] == pytest.approx(50.0)
    assert s["b"]["generation"] == pytest.approx(50.0)
    assert math.isnan(s["b"]["understanding"]) and math.isnan(s["b"]["overall"])
    # row c: rec = 100 * sqrt(0.1 * 1) ; und = 100 * 10 ; gen missing (spk_sim NaN)
    assert s["c"]["reconstruction"] == pytest.approx(100 * math.sqrt(0.1))
    assert s["c"]["understanding"] == pytest.approx(1000.0)
    assert math.isnan(s["c"]["generation"]) and math.isnan(s["c"]["overall"])
    # each baseline is exactly 100 on its own axis, missing elsewhere
    assert s["mel_vocoder"]["reconstruction"] == pytest.approx(100.0)
    assert s["fbank"]["understanding"] == pytest.approx(100.0)
    assert s["mel_f5"]["generation"] == pytest.approx(100.0)
    assert math.isnan(s["mel_vocoder"]["generation"]) and math.isnan(s["mel_vocoder"]["overall"])


def test_missing_baseline_and_extra_metrics():
    t = _table()
    t["a"]["reconstruction/stoi"] = 0.9  # the baseline lacks it: ignored, not an error
    s = compute_scores(t, {**BASE, "understanding": "no_such_row"})
    assert s["a"]["reconstruction"] == pytest.approx(100 * math.sqrt(1.5))
    assert all(math.isnan(r["understanding"]) and math.isnan(r["overall"]) for r in s.values())


def test_directions_override_and_unknown_metrics():
    t = {"base": {"understanding/mystery": 2.0, "understanding/wer": 10.0},
         "x": {"understanding/mystery": 4.0, "understanding/wer": 5.0}}
    base = {"understanding": "base"}
    # unknown direction: the metric is left out -> only WER counts
    assert compute_scores(t, base)["x"]["understanding"] == pytest.approx(200.0)
    s = compute_scores(t, base, directions={"understanding/mystery": "lower"})
    assert s["x"]["understanding"] == pytest.approx(100 * math.sqrt(0.5 * 2.0))
