"""The missing-value policy: a system that outputs silence on half the items is penalised, on real
PESQ/STOI of short synthetic signals, through the scorers' means, the summary's cells, their
bootstrap intervals, the failed counts of table.md/table.csv and the reconstruction score."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from espnet_plugin.metrics import missing
from espnet_plugin.metrics.registry import average_scores, get_metric, score_utterance, write_metrics_json

SR = 16000


def _utt(seed: int) -> np.ndarray:
    """1 s of an amplitude-modulated two-tone + noise signal (what PESQ and STOI accept)."""
    r = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    env = 0.5 * (1 + np.sin(2 * np.pi * (3 + seed) * t))
    x = env * (np.sin(2 * np.pi * (150 + 10 * seed) * t) + 0.5 * np.sin(2 * np.pi * (450 + 20 * seed) * t)
               + 0.2 * r.standard_normal(SR))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_the_table():
    from espnet_plugin.metrics import reconstruction

    assert missing.worst_value("mel_distance") == pytest.approx(-math.log(reconstruction.MEL_FLOOR))
    assert missing.worst_value("reconstruction/pesq") == 1.0 and missing.worst_value("generation/spk_sim") == 0.0
    assert missing.worst_value("generation/cer") is None           # error rates: nothing to substitute
    # a failure is never better than outputting silence: mel distance of silence from loud noise
    noise = np.random.default_rng(0).uniform(-1, 1, SR).astype(np.float32)
    assert reconstruction.mel_distance(noise, np.zeros_like(noise)) < missing.worst_value("mel_distance")
    # PESQ on [0, 1] from its floor; a value below the floor is 0, never negative
    assert float(missing.unit("pesq", 2.82)) == pytest.approx(0.5)
    assert float(missing.unit("pesq", -0.3)) == 0.0 and float(missing.unit("mos", 5.0)) == 1.0
    assert missing.unit("cer", 12.0) == 12.0


def _score(refs, hyps):
    metrics = [get_metric("reconstruction/pesq"), get_metric("reconstruction/stoi")]
    return {f"u{i}": score_utterance(metrics, ref=r, hyp=h) for i, (r, h) in enumerate(zip(refs, hyps))}


@pytest.fixture(scope="module")
def scored():
    """Per-utterance PESQ/STOI of: the baseline, a good system, the same system silent on half the items."""
    rng = np.random.default_rng(1)
    refs = [_utt(s) for s in range(6)]
    good = [r + 0.01 * rng.standard_normal(r.size).astype(np.float32) for r in refs]
    base = [r + 0.03 * rng.standard_normal(r.size).astype(np.float32) for r in refs]
    half = [g if i % 2 == 0 else np.zeros_like(g) for i, g in enumerate(good)]
    return {"mel_vocoder": _score(refs, base), "good": _score(refs, good), "silent_half": _score(refs, half)}


def test_scorer_mean_counts_failures_at_the_worst_value(scored):
    good, half = scored["good"], scored["silent_half"]
    assert all(math.isnan(half[f"u{i}"]["pesq"]) for i in (1, 3, 5))     # real PESQ: undefined on silence
    means, n_nan = average_scores(list(half.values()))
    assert n_nan == {"pesq": 3, "stoi": 3}
    ok = [good[f"u{i}"] for i in (0, 2, 4)]
    for m, w in (("pesq", 1.0), ("stoi", 0.0)):
        assert means[m] == pytest.approx((sum(r[m] for r in ok) + 3 * w) / 6)
        # over its successes only it would match the good system; now it is clearly worse
        assert np.mean([r[m] for r in ok]) > means[m] + 0.2 * (np.mean([r[m] for r in ok]) - w)


def test_summary_shows_failures_and_penalises_the_score(scored, tmp_path):
    from espnet_plugin.bin import summarize
    from espnet_plugin.metrics.cli import write_per_utt

    exp = tmp_path / "exp"
    for tag, per_utt in scored.items():
        d = exp / f"svae_{tag}" / "scores"
        write_per_utt(d / "per_utt.tsv", per_utt, ["pesq", "stoi"])
        # the mean over successes only, as scorers wrote it before the policy: the summary recomputes it
        old_means = {m: float(np.nanmean([r[m] for r in per_utt.values()])) for m in ("pesq", "stoi")}
        n_nan = {m: sum(math.isnan(r[m]) for r in per_utt.values()) for m in ("pesq", "stoi")}
        write_metrics_json(d / "metrics.json", axis="reconstruction", tag=tag, metrics=old_means,
                           n=len(per_utt), n_nan=n_nan, per_utt=["per_utt.tsv"])
    out = exp / "summary"
    scores = summarize.main(["--exp_dir", str(exp), "--out_dir", str(out), "--log_level", "ERROR",
                             "--n_boot", "200"])
    rows = {r["config"]: r for r in csv.DictReader((out / "table.csv").open(encoding="utf-8"))}
    half, good = rows["silent_half"], rows["good"]
    want = np.mean([v if math.isfinite(v) else 1.0 for v in (r["pesq"] for r in scored["silent_half"].values())])
    assert float(half["rec:pesq ↑"]) == pytest.approx(want, rel=1e-4)
    assert half["rec:pesq_failed"] == "3" and half["rec:stoi_failed"] == "3" and good["rec:pesq_failed"] == "0"
    assert float(half["rec:stoi_lo"]) <= float(half["rec:stoi ↑"]) <= float(half["rec:stoi_hi"])
    assert float(half["rec:stoi_hi"]) < float(good["rec:stoi_lo"])   # the failures are in the replicates too
    assert scores["silent_half"]["reconstruction"] < 0.6 * scores["good"]["reconstruction"]
    md = (out / "table.md").read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("| silent_half"))
    assert line.count("(3 failed)") == 2
    assert "failed" not in next(ln for ln in md.splitlines() if ln.startswith("| good"))
    assert json.loads((out / "scores.json").read_text())["silent_half"]["reconstruction"] == \
        pytest.approx(scores["silent_half"]["reconstruction"])
