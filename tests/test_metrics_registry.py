"""Tests of the metric registry, per-utterance helpers and the metrics.json writer."""
from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from espnet_plugin.errors import ConfigError
from espnet_plugin.metrics import registry as reg
from espnet_plugin.metrics.registry import (JudgeUnavailable, Metric, add_metric, available_metrics,
                                            average_scores, direction_of, get_metric, register_metric,
                                            resolve_metrics, score_utterance, write_metrics_json)


@pytest.fixture
def clean_registry():
    """Remove whatever a test registers."""
    restore = reg.METRICS.snapshot()
    yield
    restore()


@pytest.mark.parametrize("key,direction", [
    ("reconstruction/pesq", "higher"), ("reconstruction/stoi", "higher"),
    ("reconstruction/mel_distance", "lower"), ("reconstruction/spk_sim", "higher"),
    ("reconstruction/mos", "higher"), ("reconstruction/utmos", "higher"),
    ("generation/wer", "lower"), ("generation/cer", "lower"), ("generation/spk_sim", "higher"),
    ("generation/mos", "higher"), ("understanding/wer", "lower"), ("understanding/cer", "lower"),
    ("understanding/sid_acc", "higher"), ("understanding/kws_acc", "higher"),
])
def test_builtin_directions(key, direction):
    m = get_metric(key)
    assert m.direction == direction
    assert m.key == key


def test_lookup_rules():
    assert get_metric("pesq").axis == "reconstruction"
    assert get_metric("wer", axis="generation").aggregate == "corpus"
    with pytest.raises(ConfigError, match="several axes"):
        get_metric("wer")
    with pytest.raises(ConfigError, match="unknown metric"):
        get_metric("no_such_metric")
    with pytest.raises(ConfigError, match="unknown metric"):
        get_metric("pesq", axis="generation")
    axes = {m.axis for m in available_metrics()}
    assert axes == {"reconstruction", "understanding", "generation"}
    assert all(m.axis == "generation" for m in available_metrics("generation"))
    with pytest.raises(ConfigError):
        available_metrics("nonsense")


def test_register_and_validation(clean_registry):
    @register_metric("twice", direction="higher", axis="understanding", needs=("hyp",))
    def twice(hyp):
        """Doubles the first sample."""
        return 2.0 * float(hyp[0])

    m = get_metric("understanding/twice")
    assert m.fn is twice and m.description == "Doubles the first sample."
    assert score_utterance([m], hyp=np.array([1.5])) == {"twice": 3.0}
    with pytest.raises(ConfigError, match="already registered"):
        register_metric("twice", direction="higher", axis="understanding")(twice)
    with pytest.raises(ConfigError, match="direction"):
        register_metric("x1", direction="up", axis="understanding")
    with pytest.raises(ConfigError, match="axis"):
        register_metric("x2", direction="lower", axis="speed")
    with pytest.raises(ConfigError, match="bad metric name"):
        register_metric("a/b", direction="lower", axis="generation")
    with pytest.raises(ConfigError, match="needs inputs"):
        score_utterance([m], ref=np.zeros(3))


def test_score_utterance_on_error(clean_registry, caplog):
    @register_metric("boom", direction="higher", axis="understanding", needs=("hyp",))
    def boom(hyp):
        raise RuntimeError("judge crashed")

    @register_metric("ok", direction="higher", axis="understanding", needs=("hyp",))
    def ok(hyp):
        return 1.0

    def bad_loader():
        raise OSError("corrupt weights")

    add_metric(Metric("badload", "higher", None, "understanding", ("hyp",), loader=bad_loader))
    ms = [get_metric("understanding/boom"), get_metric("understanding/ok")]
    with pytest.raises(RuntimeError, match="judge crashed"):
        score_utterance(ms, hyp=np.zeros(2))
    with caplog.at_level(logging.WARNING, logger="espnet_plugin.metrics.registry"):
        out = score_utterance(ms + [get_metric("understanding/badload")], on_error="nan", hyp=np.zeros(2))
    assert out["ok"] == 1.0 and math.isnan(out["boom"]) and math.isnan(out["badload"])
    assert "understanding/boom failed: judge crashed" in caplog.text and "corrupt weights" in caplog.text
    with pytest.raises(ConfigError, match="needs inputs"):  # a missing input is a bug: raised either way
        score_utterance(ms, on_error="nan", ref=np.zeros(2))
    with pytest.raises(ConfigError, match="on_error"):
        score_utterance(ms, on_error="skip", hyp=np.zeros(2))


def test_direction_of():
    assert direction_of("reconstruction/pesq") == "higher"
    assert direction_of("generation/wer") == "lower"
    assert direction_of("mel_distance") == "lower"
    assert direction_of("wer") is None  # on several axes
    assert direction_of("generation/no_such") is None


def test_online_metric_skipped_once(clean_registry, caplog):
    calls = []

    def loader():
        calls.append(1)
        raise JudgeUnavailable("weights not here")

    add_metric(Metric("fancy", "higher", None, "generation", ("hyp",), loader=loader))
    with caplog.at_level(logging.WARNING, logger="espnet_plugin.metrics.registry"):
        ms = resolve_metrics(["fancy", "mos"], "generation")
        assert [m.name for m in ms] == ["mos"]
        assert resolve_metrics(["fancy"], "generation") == []
        # skipped metrics produce no value at all (never a 0)
        assert score_utterance([get_metric("generation/fancy")], hyp=np.zeros(4)) == {}
    assert len(calls) == 1
    skipped = [r for r in caplog.records if "fancy" in r.getMessage() and "SKIPPED" in r.getMessage()]
    assert len(skipped) == 1 and "weights not here" in skipped[0].getMessage()


def test_builtin_online_metrics_skip_offline(monkeypatch):
    monkeypatch.delenv("ESPNET_PLUGIN_UTMOS_DIR", raising=False)
    m = get_metric("reconstruction/utmos")
    assert m.online and m.resolve() is None


def test_average_scores_counts_nan():
    means, n_nan = average_scores([{"a": 1.0, "b": float("nan")}, {"a": 3.0, "b": float("nan")},
                                   {"a": float("nan")}])
    assert means["a"] == pytest.approx(2.0) and n_nan["a"] == 1
    assert math.isnan(means["b"]) and n_nan["b"] == 3


def test_write_metrics_json(tmp_path):
    rec = write_metrics_json(tmp_path / "s" / "metrics.json", axis="reconstruction", tag="t",
                             metrics={"pesq": 3.5, "stoi": float("nan")}, n=7,
                             n_nan={"stoi": np.int64(7)})
    back = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert back["metrics"] == {"pesq": 3.5, "stoi": None}
    assert back["directions"] == {"pesq": "higher", "stoi": "higher"}
    assert back["n"] == 7 and back["axis"] == "reconstruction" and back["tag"] == "t"
    assert back["n_nan"] == {"stoi": 7}
    assert rec["metrics"]["pesq"] == 3.5  # the record returned is the one written
    with pytest.raises(ConfigError, match="no direction"):
        write_metrics_json(tmp_path / "m.json", axis="understanding", tag="t",
                           metrics={"mystery": 1.0}, n=1)
    write_metrics_json(tmp_path / "m.json", axis="understanding", tag="t",
                       metrics={"mystery": 1.0}, n=1, directions={"mystery": "lower"})
    with pytest.raises(ConfigError, match="axis"):
        write_metrics_json(tmp_path / "m.json", axis="speed", tag="t", metrics={}, n=0)
