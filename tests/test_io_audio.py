"""Tests of espnet_plugin.io.audio: loading, resampling, downmixing, validation, writing."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from espnet_plugin.errors import DataError
from espnet_plugin.io.audio import (check_waveform, downmix, load_audio, pcm_to_float, pcm_to_mono, resample,
                                    resolve_listed_path, write_audio)


def _sine(fs: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_roundtrip_pcm16(tmp_path):
    x = _sine(16000, 0.5)
    p = tmp_path / "a.wav"
    write_audio(p, x, 16000)
    info = sf.info(str(p))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    y = load_audio(p)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1.0 / 32767 + 1e-7  # 16-bit quantisation
    assert not [f for f in os.listdir(tmp_path) if f != "a.wav"]  # no temp file left


def test_write_clips_and_rejects_nan(tmp_path):
    write_audio(tmp_path / "c.wav", np.array([2.0, -3.0, 0.5], np.float32), 16000)
    y = load_audio(tmp_path / "c.wav", allow_silence=True)
    np.testing.assert_allclose(y, [32767 / 32768, -1.0, 0.5], atol=1e-4)
    with pytest.raises(DataError, match="NaN"):
        write_audio(tmp_path / "n.wav", np.array([0.1, np.nan], np.float32), 16000)
    assert not (tmp_path / "n.wav").exists()


def test_resample_8k_keeps_frequency(tmp_path):
    p = tmp_path / "lo.wav"
    sf.write(str(p), _sine(8000, 1.0, freq=500.0), 8000, subtype="PCM_16")
    y = load_audio(p, 16000)
    assert y.shape == (16000,)
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / len(y) - 500.0) <= 1.0
    assert resample(np.ones(441, np.float32), 44100, 16000).shape == (160,)


def test_stereo_downmixed_to_mean(tmp_path):
    left, right = _sine(16000, 0.2, 300), _sine(16000, 0.2, 700, amp=0.3)
    p = tmp_path / "st.wav"
    sf.write(str(p), np.stack([left, right], 1), 16000, subtype="FLOAT")
    y = load_audio(p)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)


def test_missing_file_names_utt_and_path(tmp_path):
    with pytest.raises(DataError) as e:
        load_audio(tmp_path / "nope.wav", utt_id="utt7")
    assert "utt7" in str(e.value) and "nope.wav" in str(e.value) and "not found" in str(e.value)


def test_corrupt_header(tmp_path):
    p = tmp_path / "bad.wav"
    p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage garbage garbage")
    with pytest.raises(DataError, match="bad.wav"):
        load_audio(p, utt_id="u")


def test_empty_clip(tmp_path):
    p = tmp_path / "e.wav"
    sf.write(str(p), np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match="empty"):
        load_audio(p, utt_id="u")


def test_all_silent_unless_allowed(tmp_path):
    p = tmp_path / "z.wav"
    sf.write(str(p), np.zeros(1600, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match="silent"):
        load_audio(p, utt_id="u")
    assert load_audio(p, allow_silence=True).shape == (1600,)


def test_too_short_and_too_long(tmp_path):
    p = tmp_path / "s.wav"
    sf.write(str(p), _sine(8000, 0.25), 8000, subtype="PCM_16")  # 4000 samples at 16 kHz
    assert load_audio(p, 16000, min_samples=4000).shape == (4000,)
    with pytest.raises(DataError, match="too short.*min_samples=4001"):
        load_audio(p, 16000, min_samples=4001)
    with pytest.raises(DataError, match="too long"):
        load_audio(p, 16000, max_seconds=0.2)
    assert load_audio(p, 16000, max_seconds=0.25).shape == (4000,)


def test_nan_samples(tmp_path):
    p = tmp_path / "nan.wav"
    x = _sine(16000, 0.1)
    x[10] = np.nan
    sf.write(str(p), x, 16000, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN"):
        load_audio(p, utt_id="u")


def test_relative_path_with_root(tmp_path):
    (tmp_path / "sub").mkdir()
    write_audio(tmp_path / "sub" / "r.wav", _sine(16000, 0.1), 16000)
    assert load_audio("sub/r.wav", root=tmp_path).shape == (1600,)


def test_listed_paths_resolve_from_cwd_first_then_the_list_dir(tmp_path, monkeypatch):
    lists, here = tmp_path / "lists", tmp_path / "here"
    (lists / "a").mkdir(parents=True)
    (here / "a").mkdir(parents=True)
    (lists / "a" / "x.wav").write_bytes(b"")
    monkeypatch.chdir(here)
    assert resolve_listed_path("a/x.wav", lists) == lists / "a" / "x.wav"  # only beside the list
    (here / "a" / "x.wav").write_bytes(b"")
    assert resolve_listed_path("a/x.wav", lists) == Path("a/x.wav")  # exists from cwd: as written
    assert resolve_listed_path(lists / "a" / "x.wav", "/elsewhere") == lists / "a" / "x.wav"


def test_pcm_arrays_uint8_and_int16_scale_to_the_same_range():
    x = _sine(16000, 0.1, amp=0.5)
    u8 = np.round(x * 128 + 128).astype(np.uint8)  # 8-bit wav: unsigned, centred on 128
    i16 = np.round(x * 32768).astype(np.int16)
    a, b = pcm_to_float(u8), pcm_to_float(i16)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, x, atol=1 / 128)
    np.testing.assert_allclose(b, x, atol=1 / 32768)
    assert np.max(np.abs(a)) == pytest.approx(0.5, abs=1 / 128)
    np.testing.assert_array_equal(pcm_to_float(np.array([0, 128, 255], np.uint8)),
                                  np.array([-1.0, 0.0, 127 / 128], np.float32))
    y8 = pcm_to_mono(np.stack([u8, u8], 1), 8000, 16000, "utterance 'u8'")
    y16 = pcm_to_mono(np.stack([i16, i16], 1), 8000, 16000, "utterance 'u16'")
    assert y8.shape == y16.shape == (3200,) and y8.dtype == np.float32
    np.testing.assert_allclose(y8, y16, atol=0.02)


def test_pcm_to_mono_rejects_nan_and_empty_naming_the_utterance():
    x = _sine(16000, 0.1)
    x[5] = np.nan
    with pytest.raises(DataError, match="utterance 'bad_utt'.*NaN"):
        pcm_to_mono(x, 16000, 16000, "utterance 'bad_utt' (ark:x.ark:12)")
    with pytest.raises(DataError, match="utterance 'empty_utt'.*empty"):
        pcm_to_mono(np.zeros((0, 2), np.int16), 16000, 16000, "utterance 'empty_utt'")
    with pytest.raises(DataError, match="utterance 'str_utt'.*sample type"):
        pcm_to_mono(np.array(["a"]), 16000, 16000, "utterance 'str_utt'")
    assert pcm_to_mono(np.zeros(160, np.int16), 16000, 16000, "u").shape == (160,)  # silence is fine


def test_downmix_channels_last_or_first():
    st2 = np.stack([np.ones(100), 3 * np.ones(100)], 1)
    np.testing.assert_array_equal(downmix(st2), 2 * np.ones(100))
    np.testing.assert_array_equal(downmix(st2.T), 2 * np.ones(100))
    with pytest.raises(DataError, match="utt_3d"):
        downmix(np.zeros((2, 2, 2)), "utt_3d")


def test_check_waveform_bounds_match_load_audio(tmp_path):
    x = _sine(16000, 0.4)
    with pytest.raises(DataError, match="'u1'.*too short: 6400 samples"):
        check_waveform(x, 16000, "utterance 'u1'", min_samples=8000)
    with pytest.raises(DataError, match="'u2'.*too long"):
        check_waveform(x, 16000, "utterance 'u2'", max_seconds=0.3)
    with pytest.raises(DataError, match="'u3'.*all-silent"):
        check_waveform(np.zeros(8000, np.float32), 16000, "utterance 'u3'")
    check_waveform(x, 16000, "ok", min_samples=6400, max_seconds=0.4)
    write_audio(tmp_path / "x.wav", x, 16000)  # load_audio applies the same bounds to the file
    with pytest.raises(DataError, match="too short: 6400 samples"):
        load_audio(tmp_path / "x.wav", min_samples=8000)


_HEADERS = [b"", b"RIFF", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS", b"FORM"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(_HEADERS), body=st.binary(max_size=300))
def test_fuzz_random_bytes_only_dataerror(tmp_path, prefix, body):
    p = tmp_path / "fuzz.wav"
    p.write_bytes(prefix + body)
    try:
        y = load_audio(p, utt_id="fuzz")
    except DataError:
        return
    assert y.dtype == np.float32 and y.ndim == 1 and np.all(np.isfinite(y))


def test_is_silent_is_the_one_silence_rule():
    from espnet_plugin.io.audio import SILENCE_PEAK, SILENCE_THRESHOLD, is_silent

    assert is_silent(np.zeros(0, np.float32))  # empty counts as silent
    assert is_silent(np.full(100, 0.5 * SILENCE_PEAK, np.float32))  # below -80 dBFS
    assert not is_silent(np.full(100, 2 * SILENCE_PEAK, np.float32))
    quiet = np.full(100, 0.5 * SILENCE_PEAK, np.float32)
    assert not is_silent(quiet, SILENCE_THRESHOLD)  # the loader's lower threshold keeps it
    assert is_silent(np.full((10, 2), -0.5 * SILENCE_THRESHOLD, np.float32), SILENCE_THRESHOLD)


# --- truncated / inconsistent wav files (espnet_plugin.io.wav_header) ------------------------------

def _wav_bytes(tmp_path, seconds: float = 2.0, fs: int = 16000, subtype: str = "PCM_16", channels: int = 1) -> bytes:
    x = np.tile(_sine(fs, seconds)[:, None], (1, channels))
    sf.write(str(tmp_path / "full.wav"), x, fs, subtype=subtype)
    return (tmp_path / "full.wav").read_bytes()


def _fmt_wav(tag: int, bits: int, channels: int = 1, align: int | None = None, data: bytes = b"\0" * 64) -> bytes:
    import struct

    align = channels * ((bits + 7) // 8) if align is None else align
    body = (b"WAVEfmt " + struct.pack("<IHHIIHH", 16, tag, channels, 16000, 16000 * align, align, bits)
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("cut,read", [
    (44, 0),        # header only: the data chunk promises 32000 frames
    (60, 8),        # 16 bytes of samples (the example: 2 s cut after 60 bytes)
    (1045, 500),    # odd byte: half a sample
    (32044, 16000),  # half the data
    (64043, 31999),  # one byte short
])
def test_truncated_wav_names_file_and_both_frame_counts(tmp_path, cut, read):
    full = _wav_bytes(tmp_path)
    p = tmp_path / "cut.wav"
    p.write_bytes(full[:cut])
    with pytest.raises(DataError) as e:
        load_audio(p, utt_id="utt_cut")
    msg = str(e.value)
    assert "utt_cut" in msg and "cut.wav" in msg and "truncated" in msg
    assert "promises 32000 frames (2.000 s)" in msg and f"holds {read} " in msg
    assert load_audio(tmp_path / "full.wav").shape == (32000,)  # the whole file is fine


@pytest.mark.parametrize("cut,where", [(12, "no 'data' chunk"), (20, "inside chunk 'fmt '"),
                                       (36, "no 'data' chunk"), (40, "header of chunk 'data'"),
                                       (8, "12-byte RIFF header")])
def test_wav_cut_inside_its_header(tmp_path, cut, where):
    p = tmp_path / "h.wav"
    p.write_bytes(_wav_bytes(tmp_path)[:cut])
    with pytest.raises(DataError, match=f"h.wav.*{where}"):
        load_audio(p, utt_id="u")


def test_zero_length_data_chunk_is_empty_even_with_bytes_after_it(tmp_path):
    import struct

    p = tmp_path / "z.wav"
    p.write_bytes(_wav_bytes(tmp_path, 0.1)[:40] + struct.pack("<I", 0))
    with pytest.raises(DataError, match=r"z.wav.*zero-length WAV data chunk \(0 frames promised, 0 read\)"):
        load_audio(p, utt_id="u")
    p.write_bytes(_wav_bytes(tmp_path, 0.1)[:40] + struct.pack("<I", 0) + b"\1\2" * 1600)
    with pytest.raises(DataError, match="zero-length WAV data chunk.*3200 bytes follow"):
        load_audio(p, utt_id="u")


def test_streamed_wav_sizes_read_to_the_end(tmp_path):
    """Writers that cannot seek (ffmpeg/sox to a pipe) leave placeholder sizes: not truncation."""
    import struct

    full = _wav_bytes(tmp_path, 0.5)
    for riff, data in [(0xFFFFFFFF, 0xFFFFFFFF), (0, len(full) - 44), (len(full) - 8, 0x7FFFF000)]:
        p = tmp_path / "s.wav"
        p.write_bytes(full[:4] + struct.pack("<I", riff) + full[8:40] + struct.pack("<I", data) + full[44:])
        assert load_audio(p).shape == (8000,)


@pytest.mark.parametrize("subtype,channels", [("PCM_U8", 1), ("PCM_24", 2), ("FLOAT", 1), ("DOUBLE", 1),
                                              ("ULAW", 1), ("ALAW", 1), ("PCM_32", 1)])
def test_supported_wav_formats_pass_the_header_check(tmp_path, subtype, channels):
    p = tmp_path / "ok.wav"
    p.write_bytes(_wav_bytes(tmp_path, 0.1, subtype=subtype, channels=channels))
    assert load_audio(p).shape == (1600,)


@pytest.mark.parametrize("tag,bits,align,match", [
    (0x0055, 16, None, "unsupported sample format: WAV format tag 0x0055"),  # MP3 in a wav
    (0x0011, 4, None, "unsupported sample format: WAV format tag 0x0011"),   # IMA ADPCM
    (1, 64, None, "unsupported sample format: PCM with 64 bits"),
    (3, 16, None, "unsupported sample format: IEEE float with 16 bits"),
    (1, 16, 3, "inconsistent WAV header: block align 3 bytes"),  # libsndfile reads this as 16-bit
])
def test_unsupported_or_inconsistent_wav_formats(tmp_path, tag, bits, align, match):
    p = tmp_path / "f.wav"
    p.write_bytes(_fmt_wav(tag, bits, align=align))
    with pytest.raises(DataError, match=f"f.wav.*{match}"):
        load_audio(p, utt_id="u")


def test_scp_reader_checks_files_and_pipe_output(tmp_path):
    from espnet_plugin.io.kaldi_dir import Segment
    from espnet_plugin.io.scp_audio import load_entries, load_entry

    p = tmp_path / "cut.wav"
    p.write_bytes(_wav_bytes(tmp_path)[:1044])
    with pytest.raises(DataError, match="'a'.*cut.wav.*promises 32000 frames.*holds 500"):
        load_entry(str(p), utt_id="a")
    with pytest.raises(DataError, match="'b'.*promises 32000 frames.*holds 500"):  # a segment of it
        load_entry(str(p), utt_id="b", segment=Segment("rec", 0.0, 0.01))
    with pytest.raises(DataError, match="'c'.*output of the command.*promises 32000 frames.*holds 500"):
        load_entries(f"cat {p} |", [("c", None)], raise_first=True)
