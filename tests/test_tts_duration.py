"""F5-TTS's duration rule and sway-sampling schedule against hand-computed values."""
import math

import pytest
import torch

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.tts.duration import estimate_duration, sway_sampling, text_length, time_schedule


def test_sway_hand_values():
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    # t + s (cos(pi t / 2) - 1 + t) with s = -1
    want = [0.0, 0.25 - (math.cos(math.pi / 8) - 0.75), 0.5 - (math.cos(math.pi / 4) - 0.5),
            0.75 - (math.cos(3 * math.pi / 8) - 0.25), 1.0]
    assert torch.allclose(sway_sampling(t, -1.0), torch.tensor(want, dtype=torch.float64), atol=1e-12)
    # numbers written out: 0.0761205, 0.2928932, 0.6173166
    assert sway_sampling(t, -1.0)[1:4].tolist() == pytest.approx([0.0761205, 0.2928932, 0.6173166], abs=1e-6)
    assert torch.equal(sway_sampling(t, 0.0), t)


def test_time_schedule():
    ts = time_schedule(4, -1.0, dtype=torch.float64)
    assert ts.shape == (5,)
    assert ts.tolist() == pytest.approx([0.0, 0.0761205, 0.2928932, 0.6173166, 1.0], abs=1e-6)
    assert torch.all(ts[1:] > ts[:-1])  # monotone for s = -1
    assert time_schedule(4, None, dtype=torch.float64).tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert time_schedule(2, 0.0).tolist() == pytest.approx([0, 0.5, 1])
    with pytest.raises(ConfigError):
        time_schedule(0)


def test_text_length_counts_utf8_bytes():
    assert text_length("hello") == 5
    assert text_length("café") == 5  # é is two bytes
    assert text_length("日本") == 6


def test_duration_rule_hand_values():
    # ref "hello world" = 11 bytes, gen "good morning" = 12 bytes
    assert estimate_duration(100, "hello world", "good morning") == 100 + int(100 / 11 * 12)  # 209
    assert estimate_duration(100, "hello world", "good morning") == 209
    assert estimate_duration(100, "hello world", "good morning", speed=2.0) == 154  # 100 + int(54.54)
    assert estimate_duration(40, "café", "ab") == 40 + 16  # 40 / 5 * 2
    assert estimate_duration(10, "abcdefghij", "") == 11  # at least one generated frame


def test_duration_errors():
    with pytest.raises(DataError):
        estimate_duration(10, "", "abc")
    with pytest.raises(ConfigError):
        estimate_duration(10, "abc", "abc", speed=0.0)
