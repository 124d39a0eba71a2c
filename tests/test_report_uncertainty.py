"""Bootstrap intervals and paired verdicts on inputs whose answers are known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from espnet_plugin.errors import DataError
from espnet_plugin.report.uncertainty import (Column, bootstrap_ci, paired_comparison, percentile_ci,
                                              read_per_utt, replicate_table, verdict)


def test_bootstrap_of_a_constant_is_that_constant():
    mean, lo, hi = bootstrap_ci([0.7] * 25, n_boot=200)
    assert mean == lo == hi == pytest.approx(0.7)


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small = rng.normal(2.0, 1.0, 20)
    big = rng.normal(2.0, 1.0, 2000)
    m1, lo1, hi1 = bootstrap_ci(small)
    m2, lo2, hi2 = bootstrap_ci(big)
    assert lo1 < m1 < hi1 and lo2 < m2 < hi2
    assert (hi2 - lo2) < (hi1 - lo1) / 4
    # the normal-theory half width 1.96 * sd / sqrt(n), within 20 %
    assert (hi2 - lo2) / 2 == pytest.approx(1.96 * big.std() / math.sqrt(big.size), rel=0.2)


def test_ratio_column_is_corpus_level():
    c = Column(("a", "b"), np.array([1.0, 3.0]), np.array([10.0, 10.0]))
    assert float(c.value()) == pytest.approx(20.0)      # 100 * 4 / 20, not the mean of 10 % and 30 %
    assert float(c.value(np.array([1, 1]))) == pytest.approx(30.0)


def test_identical_systems_no_significant_difference():
    rng = np.random.default_rng(0)
    vals = rng.uniform(1, 4, 30)
    utts = tuple(f"u{i}" for i in range(30))
    samples = {"a": {"reconstruction/pesq": Column(utts, vals)},
               "b": {"reconstruction/pesq": Column(utts, vals.copy())}}
    reps = replicate_table(samples, n_boot=300)
    res = paired_comparison(reps["a"]["reconstruction/pesq"], reps["b"]["reconstruction/pesq"], 2.0, 2.0)
    assert res["verdict"] == "no significant difference"
    assert res["lo"] == res["hi"] == 0.0 and res["p"] == 1.0


def test_paired_test_sees_a_small_consistent_gain_that_two_means_would_not():
    # per-utterance values vary a lot (between-utterance spread), b is a + 0.05 on every utterance:
    # unpaired intervals overlap, the paired difference is clearly positive
    rng = np.random.default_rng(3)
    a = rng.uniform(1.0, 4.0, 40)
    b = a + 0.05
    utts = tuple(f"u{i}" for i in range(40))
    reps = replicate_table({"a": {"k": Column(utts, a)}, "b": {"k": Column(utts, b)}}, n_boot=500)
    lo_a, hi_a = percentile_ci(reps["a"]["k"])
    lo_b, hi_b = percentile_ci(reps["b"]["k"])
    assert lo_b < hi_a  # the intervals of the two means overlap
    res = paired_comparison(reps["b"]["k"], reps["a"]["k"], b.mean(), a.mean())
    assert res["verdict"] == "better" and res["lo"] > 0
    res = paired_comparison(reps["a"]["k"], reps["b"]["k"], a.mean(), b.mean())
    assert res["verdict"] == "worse" and res["p"] < 0.05


def test_rows_missing_utterances_are_aligned():
    c = Column(("a", "c"), np.array([1.0, 3.0]))
    al = c.aligned(("a", "b", "c"))
    assert np.isnan(al.num[1]) and float(al.value()) == pytest.approx(2.0)
    r = Column(("a",), np.array([2.0]), np.array([4.0])).aligned(("a", "b"))
    assert list(r.num) == [2.0, 0.0] and list(r.den) == [4.0, 0.0]


def test_verdict_rules():
    assert verdict(0.1, 2.0) == "better"
    assert verdict(-2.0, -0.1) == "worse"
    assert verdict(-0.1, 0.1) == "no significant difference"
    assert verdict(float("nan"), 1.0) == "not measured"


def test_read_per_utt(tmp_path):
    p = tmp_path / "per_utt.tsv"
    p.write_text("utt\tpesq\tx\twer.err\twer.len\tasr_hyp\nu1\t2.5\t2\t1\t4\tHELLO\nu2\tnan\tnan\t0\t3\tA B\n")
    cols = read_per_utt(p)
    assert set(cols) == {"pesq", "x", "wer"}
    assert float(cols["pesq"].value()) == pytest.approx((2.5 + 1.0) / 2)   # failed: PESQ's floor 1.0
    assert cols["pesq"].n_failed == 1
    assert float(cols["x"].value()) == pytest.approx(2.0) and cols["x"].n_failed == 0   # no worst value: skipped
    assert float(cols["wer"].value()) == pytest.approx(100 / 7)
    bad = tmp_path / "bad.tsv"
    bad.write_text("utt\tpesq\nu1\t1\t2\n")
    with pytest.raises(DataError, match="bad.tsv:2"):
        read_per_utt(bad)


def test_seed_rows_average_per_utterance_and_tts_of_one_seed():
    from espnet_plugin.report.compare import group_seeds, seed_groups

    utts = ("u1", "u2")
    values = {"jmas_seed1": {"reconstruction/pesq": 2.0, "generation/wer": 50.0},
              "jmas_seed2": {"reconstruction/pesq": 3.0},
              "vanilla": {"reconstruction/pesq": 1.0}}
    samples = {"jmas_seed1": {"reconstruction/pesq": Column(utts, np.array([1.0, 3.0]), n_failed=1),
                              "generation/wer": Column(utts, np.array([1.0, 2.0]), np.array([3.0, 3.0]))},
               "jmas_seed2": {"reconstruction/pesq": Column(utts, np.array([3.0, 3.0]), n_failed=0)},
               "vanilla": {"reconstruction/pesq": Column(utts, np.array([1.0, 1.0]))}}
    assert seed_groups(list(values)) == {"jmas": ["jmas_seed1", "jmas_seed2"]}
    vals, samp, groups = group_seeds(values, samples)
    assert set(vals) == {"jmas", "vanilla"} and groups == {"jmas": ["jmas_seed1", "jmas_seed2"]}
    assert vals["jmas"]["reconstruction/pesq"] == pytest.approx(2.5)
    assert list(samp["jmas"]["reconstruction/pesq"].num) == [2.0, 3.0]
    assert samp["jmas"]["reconstruction/pesq"].n_failed == 1            # failed items of all seeds
    assert vals["jmas"]["generation/wer"] == pytest.approx(50.0)     # from the one seed that has it


def test_summary_intervals_and_verdicts_end_to_end():
    """Scores of a row equal to the baseline are 100 with a [100, 100]-free interval; identical rows: n.s."""
    from espnet_plugin.metrics.overall import compute_scores, reference_metrics
    from espnet_plugin.report.compare import intervals, paired_verdicts

    rng = np.random.default_rng(0)
    utts = tuple(f"u{i}" for i in range(30))
    base = rng.uniform(1.5, 3.5, 30)
    samples = {r: {"reconstruction/pesq": Column(utts, v)} for r, v in
               {"mel_vocoder": base, "vanilla": base * 0.8, "same": base * 0.8, "good": base * 0.8 + 0.1}.items()}
    values = {r: {k: float(c.value()) for k, c in cols.items()} for r, cols in samples.items()}
    baselines = {"reconstruction": "mel_vocoder"}
    refs = reference_metrics(values, baselines)
    scores = compute_scores(values, baselines)
    ci, reps = intervals(values, samples, baselines, refs, n_boot=300)
    lo, hi = ci["vanilla"]["reconstruction"]
    assert lo <= scores["vanilla"]["reconstruction"] <= hi and hi - lo > 0
    assert ci["mel_vocoder"]["reconstruction"] == (100.0, 100.0)
    v = paired_verdicts(scores, reps, "vanilla")
    assert v["same"]["reconstruction"]["verdict"] == "no significant difference"
    assert v["good"]["reconstruction"]["verdict"] == "better"
    assert v["mel_vocoder"]["reconstruction"]["verdict"] == "better"
    assert v["good"]["overall"]["verdict"] == "not measured"    # no understanding/generation axis


def test_latent_time_share(tmp_path):
    import kaldiio

    from espnet_plugin.bin.latent_stats import main as latent_stats, time_share

    rng = np.random.default_rng(0)
    const = [np.tile(rng.normal(size=(1, 4)), (20, 1)) for _ in range(5)]       # one frame repeated
    moving = [rng.normal(size=(20, 4)) for _ in range(5)]
    assert time_share(const)["time_share"] == pytest.approx(0.0, abs=1e-12)
    assert time_share(moving)["time_share"] == pytest.approx(1.0, abs=0.15)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/l.ark,{tmp_path}/l.scp") as w:
        for i, z in enumerate(moving):
            w(f"u{i}", z.astype(np.float32))
    out = latent_stats(["--scp", str(tmp_path / "l.scp"), "--out_json", str(tmp_path / "s.json")])
    assert out["n_utts"] == 5 and out["n_frames"] == 100 and (tmp_path / "s.json").is_file()
    with pytest.raises(DataError, match="expected"):
        time_share([np.zeros((0, 4))])
