"""Tests of espnet_plugin.io.scp_audio: wav.scp pipes, ark entries and segments, with real
files and real shell commands (``cat``, ``python -c``, ``false``, ``true``)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import Segment
from espnet_plugin.io.scp_audio import (cut_segment, load_entries, load_entry, read_recording,
                                        source_files)

FS = 16000


def _pcm(n: int, seed: int = 0) -> np.ndarray:
    """(n,) int16 noise (every sample distinct enough to catch an off-by-one)."""
    return np.random.default_rng(seed).integers(-20000, 20000, n).astype(np.int16)


def _direct(p: Path) -> np.ndarray:
    return sf.read(str(p), dtype="float32")[0]


def _py_cat(p: Path) -> str:
    """A ``python -c`` pipe that copies the file to stdout (no sox / flac needed)."""
    code = f"import sys; sys.stdout.buffer.write(open({str(p)!r}, 'rb').read())"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} |"


def test_pipes_equal_the_direct_read_sample_for_sample(tmp_path):
    x = _pcm(FS)
    sf.write(tmp_path / "a.wav", x, FS, subtype="PCM_16")
    sf.write(tmp_path / "a.flac", x, FS, subtype="PCM_16")
    ref = _direct(tmp_path / "a.wav")
    for spec in (f"cat {tmp_path / 'a.wav'} |", _py_cat(tmp_path / "a.flac"),
                 f"cat {tmp_path / 'a.flac'} | cat |"):
        y = load_entry(spec, FS, utt_id="u")
        assert y.dtype == np.float32 and np.array_equal(y, ref), spec
    assert source_files(f"cat {tmp_path / 'a.wav'} |") == [tmp_path / "a.wav"]


def test_pipe_stereo_8k_is_downmixed_and_resampled_like_a_file(tmp_path):
    x = np.stack([_pcm(8000, 1), _pcm(8000, 2)], 1)
    sf.write(tmp_path / "s.wav", x, 8000, subtype="PCM_16")
    y = load_entry(f"cat {tmp_path / 's.wav'} |", FS, utt_id="u")
    np.testing.assert_array_equal(y, load_entry(str(tmp_path / "s.wav"), FS, utt_id="u"))
    assert y.shape == (FS,)


def test_failing_pipe_names_the_utterance_and_command(tmp_path):
    with pytest.raises(DataError, match=r"utterance 'utt_f'.*command 'false' failed with exit status 1"):
        load_entry("false |", FS, utt_id="utt_f")
    with pytest.raises(DataError, match=r"utterance 'utt_e'.*'echo oops >&2; exit 3'.*status 3: oops"):
        load_entry("echo oops >&2; exit 3 |", FS, utt_id="utt_e")
    with pytest.raises(DataError, match=r"utterance 'utt_t'.*command 'true' wrote no audio"):
        load_entry("true |", FS, utt_id="utt_t")
    with pytest.raises(DataError, match=r"utterance 'utt_g'.*cannot decode the command's output"):
        load_entry("echo not-audio |", FS, utt_id="utt_g")


def test_validation_applies_to_piped_audio(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros(FS, np.int16), FS, subtype="PCM_16")
    with pytest.raises(DataError, match=r"utterance 'uz'.*all-silent"):
        load_entry(f"cat {tmp_path / 'z.wav'} |", FS, utt_id="uz")
    sf.write(tmp_path / "s.wav", _pcm(800), FS, subtype="PCM_16")
    with pytest.raises(DataError, match=r"utterance 'us'.*too short"):
        load_entry(f"cat {tmp_path / 's.wav'} |", FS, utt_id="us", min_samples=801)
    with pytest.raises(DataError, match=r"utterance 'ul'.*too long"):
        load_entry(f"cat {tmp_path / 's.wav'} |", FS, utt_id="ul", max_seconds=0.04)


def test_ark_offset_entry(tmp_path):
    import kaldiio

    x = _pcm(FS, 3)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'a.ark'},{tmp_path / 'a.scp'}") as w:
        w["k"] = (FS, x)
    spec = (tmp_path / "a.scp").read_text().split(maxsplit=1)[1].strip()
    np.testing.assert_array_equal(load_entry(spec, FS, utt_id="k"), x / 32768.0)
    assert source_files(spec) == [tmp_path / "a.ark"]


def test_segments_cut_at_the_recording_rate_and_check_bounds(tmp_path):
    x = _pcm(2 * FS, 4)
    sf.write(tmp_path / "r.wav", x, FS, subtype="PCM_16")
    spec = f"cat {tmp_path / 'r.wav'} |"
    items = [("a", Segment("r", 0.0, 0.5)), ("b", Segment("r", 0.25, -1)),
             ("c", Segment("r", 2.5, 3.0)), ("d", Segment("r", 1.0, 2.5)),
             ("e", Segment("r", 1.5, 2.005))]
    out = dict(load_entries(spec, items, FS))
    np.testing.assert_array_equal(out["a"], x[:8000] / 32768.0)
    np.testing.assert_array_equal(out["b"], x[4000:] / 32768.0)
    np.testing.assert_array_equal(out["e"], x[24000:] / 32768.0)  # 5 ms overshoot: truncated
    assert isinstance(out["c"], DataError) and "utterance 'c'" in str(out["c"])
    assert "starts at 2.5 s, not inside its recording of 2.000 s" in str(out["c"])
    assert isinstance(out["d"], DataError) and "ends at 2.5 s, past the end" in str(out["d"])
    with pytest.raises(DataError, match=r"utterance 'd'.*recording 'r'"):
        load_entry(spec, FS, utt_id="d", segment=Segment("r", 1.0, 2.5))
    data, rate = read_recording(str(tmp_path / "r.wav"), "x")
    assert cut_segment(data, rate, Segment("r", 0.5, 1.0), "x").shape == (8000, 1)


def test_failing_recording_names_every_utterance_of_it():
    out = load_entries("false |", [("a", Segment("r", 0, 1)), ("b", Segment("r", 1, 2))], FS)
    assert [u for u, _ in out] == ["a", "b"]
    for u, err in out:
        assert isinstance(err, DataError)
        assert f"utterance {u!r}" in str(err) and "recording 'r'" in str(err) and "false" in str(err)
