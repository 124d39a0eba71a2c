"""The overall score on hand-made tables (expected values computed by hand)."""
from __future__ import annotations

import math

import pytest

from espnet_plugin.errors import ConfigError
from espnet_plugin.metrics.overall import CONSTRUCTS, R_MAX, compute_scores, relative_score

BASE = {"reconstruction": "mel_vocoder", "understanding": "fbank", "generation": "mel_f5"}
NAN = float("nan")


def _table():
    # PESQ 2.82 -> (2.82 - 1) / 3.64 = 0.5 on [0, 1]; MOS 3 -> (3 - 1) / 4 = 0.5
    return {
        "mel_vocoder": {"reconstruction/pesq": 2.82, "reconstruction/stoi": 0.8, "reconstruction/spk_sim": 0.6},
        "fbank": {"understanding/cer": 10.0, "understanding/sid_acc": 80.0},
        "mel_f5": {"generation/cer": 4.0, "generation/mos": 3.0, "generation/spk_sim": 0.5},
        "a": {"reconstruction/pesq": 3.73, "reconstruction/stoi": 0.8, "reconstruction/spk_sim": 0.6,
              "understanding/cer": 5.0, "understanding/sid_acc": 80.0,
              "generation/cer": 2.0, "generation/mos": 4.0, "generation/spk_sim": 0.5},
        # no understanding result at all; half the baseline's distance above the floor everywhere
        "b": {"reconstruction/pesq": 1.91, "reconstruction/stoi": 0.4, "reconstruction/spk_sim": 0.3,
              "generation/cer": 8.0, "generation/mos": 2.0, "generation/spk_sim": 0.25},
        # degenerate values hit the clip: CER 0 -> 10x, PESQ below its floor 1.0 -> 0.1x (never a
        # ratio of a negative number); a NaN construct makes the axis missing
        "c": {"reconstruction/pesq": -0.2, "reconstruction/stoi": 0.8, "reconstruction/spk_sim": 0.6,
              "understanding/cer": 0.0, "understanding/sid_acc": 80.0,
              "generation/cer": 4.0, "generation/mos": 3.0, "generation/spk_sim": NAN},
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
    # row a: rec = 100 * (0.75/0.5 * 1 * 1) ** (1/3); und = 100 * sqrt(10/5 * 1);
    # gen = 100 * (4/2 * 0.75/0.5 * 1) ** (1/3)
    rec_a, und_a, gen_a = 100 * 1.5 ** (1 / 3), 100 * math.sqrt(2.0), 100 * 3.0 ** (1 / 3)
    assert s["a"]["reconstruction"] == pytest.approx(rec_a)
    assert s["a"]["understanding"] == pytest.approx(und_a)
    assert s["a"]["generation"] == pytest.approx(gen_a)
    assert s["a"]["overall"] == pytest.approx((rec_a * und_a * gen_a) ** (1 / 3))
    # row b: every construct at half the baseline (PESQ 1.91 -> 0.25 vs 0.5) -> 50; und missing
    assert s["b"]["reconstruction"] == pytest.approx(50.0)
    assert s["b"]["generation"] == pytest.approx(50.0)
    assert math.isnan(s["b"]["understanding"]) and math.isnan(s["b"]["overall"])
    # row c: rec = 100 * 0.1 ** (1/3); und = 100 * sqrt(10 * 1); gen missing (spk_sim NaN)
    assert s["c"]["reconstruction"] == pytest.approx(100 * 0.1 ** (1 / 3))
    assert s["c"]["understanding"] == pytest.approx(100 * math.sqrt(10.0))
    assert math.isnan(s["c"]["generation"]) and math.isnan(s["c"]["overall"])
    # each baseline is exactly 100 on its own axis, missing elsewhere
    assert s["mel_vocoder"]["reconstruction"] == pytest.approx(100.0)
    assert s["fbank"]["understanding"] == pytest.approx(100.0)
    assert s["mel_f5"]["generation"] == pytest.approx(100.0)
    assert math.isnan(s["mel_vocoder"]["generation"]) and math.isnan(s["mel_vocoder"]["overall"])


EXTRAS = {"reconstruction/mel_distance": 3.0, "reconstruction/mos": 2.5, "reconstruction/utmos": 2.0,
          "reconstruction/spk_sim_wavlm": 0.2, "understanding/wer": 50.0, "understanding/kws_acc": 30.0,
          "understanding/mystery": 7.0, "generation/wer": 60.0, "generation/cer_probe": 33.0,
          "generation/wer_probe": 70.0, "generation/utmos": 1.5}


@pytest.mark.parametrize("where", ["mel_vocoder", "fbank", "mel_f5", "a", "b"])
def test_extra_metrics_never_change_any_score(where):
    """Adding non-construct columns (WER next to CER, mel distance, UTMOS, ...) to a baseline or to
    another row leaves every row's scores unchanged (the old score took every metric the baseline had)."""
    before = compute_scores(_table(), BASE)
    t = _table()
    t[where].update(EXTRAS)
    after = compute_scores(t, BASE, directions={"understanding/mystery": "lower"})
    for row in before:
        for k, v in before[row].items():
            assert after[row][k] == pytest.approx(v, nan_ok=True), (row, k)


def test_asr_counts_once():
    """WER and CER of one decode: only CER is scored, so a WER twice as good changes nothing."""
    t = _table()
    t["fbank"]["understanding/wer"] = 20.0
    t["a"]["understanding/wer"] = 10.0
    assert compute_scores(t, BASE)["a"]["understanding"] == pytest.approx(100 * math.sqrt(2.0))
    assert sum(n in ("wer", "cer") for n in CONSTRUCTS["understanding"].values()) == 1
    assert sum(n in ("wer", "cer") for n in CONSTRUCTS["generation"].values()) == 1


def test_baseline_without_a_construct_and_missing_baseline():
    t = _table()
    del t["mel_vocoder"]["reconstruction/spk_sim"]       # left out for every row: PESQ and STOI only
    s = compute_scores(t, {**BASE, "understanding": "no_such_row"})
    assert s["a"]["reconstruction"] == pytest.approx(100 * math.sqrt(1.5))
    assert all(math.isnan(r["understanding"]) and math.isnan(r["overall"]) for r in s.values())
    # a baseline PESQ at its floor (0 on [0, 1]) cannot be a reference either
    t["mel_vocoder"]["reconstruction/pesq"] = 1.0
    assert compute_scores(t, BASE)["a"]["reconstruction"] == pytest.approx(100.0)


def test_constructs_override():
    t = {"base": {"understanding/mystery": 2.0, "understanding/cer": 10.0},
         "x": {"understanding/mystery": 4.0, "understanding/cer": 5.0}}
    base = {"understanding": "base"}
    assert compute_scores(t, base)["x"]["understanding"] == pytest.approx(200.0)
    # a construct without a known direction is left out; with one given, it is scored
    c = {"understanding": {"content": "cer", "other": "mystery"}}
    assert compute_scores(t, base, constructs=c)["x"]["understanding"] == pytest.approx(200.0)
    s = compute_scores(t, base, directions={"understanding/mystery": "lower"}, constructs=c)
    assert s["x"]["understanding"] == pytest.approx(100 * math.sqrt(0.5 * 2.0))
