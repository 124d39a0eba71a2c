"""The scorers' shared pieces: tags, margins, the per-utterance table, the audio reader."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.metrics import cli


def test_default_tag_strips_the_axis_prefix(tmp_path):
    assert cli.default_tag(str(tmp_path / "svae_jmas" / "score_test")) == "jmas"
    assert cli.default_tag(str(tmp_path / "tts_jmas" / "score")) == "jmas"
    assert cli.default_tag(str(tmp_path / "other" / "x")) == "other"


def test_parse_margins():
    assert cli.parse_margins("0.5,0.25") == {"m1": 0.5, "m2": 0.25}
    assert cli.parse_margins(None) is None
    with pytest.raises(ConfigError, match="m1,m2"):
        cli.parse_margins("0.5")


def test_write_per_utt_formats_nan_and_text(tmp_path):
    cli.write_per_utt(tmp_path / "d" / "per_utt.tsv",
                      {"u1": {"pesq": 3.14159265, "hyp": "a\tb"}, "u2": {"pesq": float("nan")}}, ["pesq", "hyp"])
    lines = (tmp_path / "d" / "per_utt.tsv").read_text().splitlines()
    assert lines == ["utt\tpesq\thyp", "u1\t3.14159\ta b", "u2\tnan\tnan"]


def test_load_wav_16k_resamples_downmixes_and_names_the_utterance(tmp_path):
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "a.wav", stereo.astype(np.float32), 8000)
    x = cli.load_wav_16k("a.wav", "utt_a", root=tmp_path)
    assert x.dtype == np.float32 and x.ndim == 1 and abs(len(x) - 16000) <= 2
    with pytest.raises(DataError, match="utt_b"):
        cli.load_wav_16k(str(tmp_path / "missing.wav"), "utt_b")


def test_load_wav_16k_pipe_8bit_and_16bit_give_the_same_scale(tmp_path):
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)).astype(np.float32)
    sf.write(tmp_path / "u8.wav", x, 8000, subtype="PCM_U8")  # kaldiio returns uint8 samples
    sf.write(tmp_path / "i16.wav", x, 8000, subtype="PCM_16")
    a = cli.load_wav_16k(f"cat {tmp_path / 'u8.wav'} |", "utt_u8")
    b = cli.load_wav_16k(f"cat {tmp_path / 'i16.wav'} |", "utt_i16")
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == (16000,)
    assert np.max(np.abs(b)) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(a, b, atol=0.03)


def test_common_options_and_start():
    p = argparse.ArgumentParser()
    cli.add_scoring_args(p, ["pesq", "stoi"], "hypothesis")
    args = p.parse_args(["--hyp_dir", "h", "--out_dir", "o", "--num_threads", "0", "--margins", "1,2"])
    assert cli.start(args) == ["pesq", "stoi"]
    assert cli.record_extras(args) == {"margins": {"m1": 1.0, "m2": 2.0}}
    args = p.parse_args(["--hyp_dir", "h", "--out_dir", "o", "--metrics", " pesq ,, mos"])
    assert cli.start(args) == ["pesq", "mos"] and cli.record_extras(args) == {}


def test_find_missing_hyps(tmp_path, caplog):
    (tmp_path / "a.wav").write_bytes(b"")
    assert cli.find_missing_hyps(["a"], tmp_path, "list.tsv", False) == set()
    with pytest.raises(DataError, match=r"no <utt>.wav for 1 of 2 utterances of list.tsv \(first: \['b'\]\)"):
        cli.find_missing_hyps(["a", "b"], tmp_path, "list.tsv", False)
    with pytest.raises(DataError, match="2 of 2"):
        cli.find_missing_hyps(["c", "b"], tmp_path, "list.tsv", True)
    with caplog.at_level("WARNING"):
        assert cli.find_missing_hyps(["a", "b"], tmp_path, "list.tsv", True) == {"b"}
    assert "1 utterances have no hypothesis and are skipped" in caplog.text
