"""Tests of the format + filter stage (espnet_plugin.bin.format_data), one per bad input."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.bin import format_data as fd
from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import check_data_dir, read_scp, write_data_dir

FS = 16000


def _tone(seconds: float, fs: int = FS, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    x = 0.3 * np.sin(2 * np.pi * 200 * t)
    return np.stack([x, 0.5 * x], 1) if channels == 2 else x


def _make(tmp: Path, n: int = 3) -> Path:
    """A good input dir: utts s1-a0.. of 1 s at 16 kHz; returns the dir."""
    src = tmp / "in"
    wav, text, spk = {}, {}, {}
    for i in range(n):
        utt = f"s{i % 2}-a{i}"
        p = tmp / "audio" / f"{utt}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(p), _tone(1.0), FS, subtype="PCM_16")
        wav[utt], text[utt], spk[utt] = str(p), f"WORD {i}", f"s{i % 2}"
    write_data_dir(src, wav, text, spk)
    return src


def _run(tmp: Path, on_error: str = "fail", **kw) -> fd.FormatResult:
    return fd.format_data(tmp / "in", tmp / "out", fs=FS, min_seconds=0.5, max_seconds=20.0,
                          on_error=on_error, **kw)


def _skipped(tmp: Path) -> dict[str, str]:
    rows = (tmp / "out" / "skipped.tsv").read_text().splitlines()
    return dict(r.split("\t", 1) for r in rows)


def _audio_path(tmp: Path, utt: str) -> Path:
    return tmp / "audio" / f"{utt}.wav"


def _check_skip(tmp: Path, utt: str, pattern: str) -> None:
    """fail mode raises naming the utterance; skip mode drops it and reports why."""
    with pytest.raises(DataError, match=pattern) as e:
        _run(tmp)
    assert utt in str(e.value)
    res = _run(tmp, "skip")
    assert [u for u, _ in res.skipped] == [utt]
    assert utt in _skipped(tmp)
    kd = check_data_dir(tmp / "out")
    assert utt not in kd.wav and len(kd.wav) == 2
    assert set(read_scp(tmp / "out" / "utt2num_samples")) == set(kd.wav)


def test_good_dir_formatted(tmp_path):
    _make(tmp_path)
    res = _run(tmp_path)
    assert res.kept == 3 and not res.skipped and not res.up_to_date
    out = tmp_path / "out"
    kd = check_data_dir(out)
    assert kd.text == check_data_dir(tmp_path / "in").text
    for utt, path in kd.wav.items():
        assert path == str(out / "wav" / kd.utt2spk[utt] / f"{utt}.wav")
        assert (sf.info(path).samplerate, sf.info(path).subtype) == (FS, "PCM_16")
    assert read_scp(out / "utt2num_samples") == {u: "16000" for u in kd.wav}
    assert (out / "feats_type").read_text() == "raw\n"
    assert (out / "skipped.tsv").read_text() == ""


def test_idempotent_rerun_changes_nothing(tmp_path):
    _make(tmp_path)
    _run(tmp_path)
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    assert _run(tmp_path).up_to_date
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    # new arguments: outputs recomputed, but identical wavs are not rewritten
    res = fd.format_data(tmp_path / "in", tmp_path / "out", fs=FS, min_seconds=0.4)
    assert res.kept == 3 and not res.up_to_date
    for p in files:
        if p.suffix == ".wav":
            assert p.stat().st_mtime_ns == before[p][0]


def test_missing_audio(tmp_path):
    _make(tmp_path)
    _audio_path(tmp_path, "s1-a1").unlink()
    _check_skip(tmp_path, "s1-a1", "not found")


def test_corrupt_header(tmp_path):
    _make(tmp_path)
    _audio_path(tmp_path, "s0-a0").write_bytes(b"RIFF\x00\x01\x00\x00WAVEjunkjunkjunk")
    _check_skip(tmp_path, "s0-a0", "corrupt|cannot decode")


def test_empty_audio(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s0-a2")), np.zeros(0), FS, subtype="PCM_16")
    _check_skip(tmp_path, "s0-a2", "empty")


def test_all_silent(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s1-a1")), np.zeros(FS), FS, subtype="PCM_16")
    _check_skip(tmp_path, "s1-a1", "silent")


def test_wrong_sample_rate_is_resampled(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s1-a1")), _tone(1.5, 22050), 22050, subtype="PCM_16")
    res = _run(tmp_path)
    assert res.kept == 3 and res.num_samples["s1-a1"] == 24000  # 1.5 s at 16 kHz
    p = check_data_dir(tmp_path / "out").wav["s1-a1"]
    assert sf.info(p).samplerate == FS and sf.info(p).frames == 24000


def test_stereo_is_downmixed(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s0-a0")), _tone(1.0, channels=2), FS, subtype="PCM_16")
    _run(tmp_path)
    y, fs = sf.read(check_data_dir(tmp_path / "out").wav["s0-a0"])
    assert y.ndim == 1 and fs == FS
    np.testing.assert_allclose(y, 0.75 * _tone(1.0), atol=2e-4)  # mean of x and x/2


def test_too_short(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s0-a2")), _tone(0.3), FS, subtype="PCM_16")
    _check_skip(tmp_path, "s0-a2", "too short")


def test_too_long(tmp_path):
    _make(tmp_path)
    sf.write(str(_audio_path(tmp_path, "s1-a1")), _tone(2.0), FS, subtype="PCM_16")
    with pytest.raises(DataError, match="too long.*s1-a1|s1-a1.*too long"):
        fd.format_data(tmp_path / "in", tmp_path / "out", min_seconds=0.5, max_seconds=1.5)
    res = fd.format_data(tmp_path / "in", tmp_path / "out", min_seconds=0.5, max_seconds=1.5,
                         on_error="skip")
    assert [u for u, _ in res.skipped] == ["s1-a1"] and "too long" in res.skipped[0][1]


def test_missing_transcript(tmp_path):
    src = _make(tmp_path)
    lines = (src / "text").read_text().splitlines()
    (src / "text").write_text("\n".join(x for x in lines if not x.startswith("s1-a1")) + "\n")
    _check_skip(tmp_path, "s1-a1", "missing from text")


def test_non_utf8_transcript(tmp_path):
    src = _make(tmp_path)
    raw = (src / "text").read_bytes().replace(b"WORD 2", b"WORD \xff\xfe")
    (src / "text").write_bytes(raw)
    _check_skip(tmp_path, "s0-a2", "text:2: bytes that are not UTF-8")


def test_duplicate_ids(tmp_path):
    src = _make(tmp_path)
    with open(src / "wav.scp", "a") as f:
        f.write(f"s0-a0 {_audio_path(tmp_path, 's0-a2')}\n")
    for mode in ("fail", "skip"):  # ambiguous: always an error
        with pytest.raises(DataError, match="wav.scp:4: duplicate key 's0-a0'"):
            _run(tmp_path, mode)


def test_mismatched_keys(tmp_path):
    src = _make(tmp_path)
    with open(src / "wav.scp", "a") as f:
        f.write(f"s9-extra {_audio_path(tmp_path, 's0-a0')}\n")
    with pytest.raises(DataError, match="s9-extra"):
        _run(tmp_path)
    res = _run(tmp_path, "skip")
    assert res.kept == 3 and [u for u, _ in res.skipped] == ["s9-extra"]
    assert "no entry in utt2spk, text" in res.skipped[0][1]


def test_cli_exit_status(tmp_path):
    _make(tmp_path)
    args = ["--in_dir", str(tmp_path / "in"), "--out_dir", str(tmp_path / "out"), "--nj", "2",
            "--no_progress"]
    assert fd.main(args) == 0
    _audio_path(tmp_path, "s0-a0").unlink()
    with pytest.raises(DataError, match="s0-a0"):  # the entry point prints it as one line, exit 2
        fd.main(args)
    assert fd.main(args + ["--on_error", "skip"]) == 0
    assert not (tmp_path / "out" / "wav" / "s0" / "s0-a0.wav").exists()  # stale wav removed


def _pcm(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, n).astype(np.int16)


def _write_dir(src: Path, wav: dict[str, str], spk: dict[str, str], segments: str = "") -> None:
    """wav.scp (by recording when ``segments`` is given), utt2spk and segments, no text."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in wav.items()))
    (src / "utt2spk").write_text("".join(f"{k} {v}\n" for k, v in spk.items()))
    if segments:
        (src / "segments").write_text(segments)


def _out_pcm(tmp: Path, utt: str) -> np.ndarray:
    kd = check_data_dir(tmp / "out", require_text=False)
    return sf.read(kd.wav[utt], dtype="int16")[0]


def test_pipes_in_wav_scp_format_sample_for_sample(tmp_path):
    xs = {f"s-u{i}": _pcm(FS, i) for i in range(3)}
    for utt, x in xs.items():
        sf.write(str(tmp_path / f"{utt}.wav"), x, FS, subtype="PCM_16")
    code = f"import sys; sys.stdout.buffer.write(open({str(tmp_path / 's-u1.wav')!r}, 'rb').read())"
    wav = {"s-u0": f"cat {tmp_path / 's-u0.wav'} |", "s-u1": f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} |",
           "s-u2": str(tmp_path / "s-u2.wav")}
    _write_dir(tmp_path / "in", wav, {u: "s" for u in xs})
    res = _run(tmp_path, require_text=False)
    assert res.kept == 3 and res.num_samples == {u: FS for u in xs}
    for utt, x in xs.items():
        np.testing.assert_array_equal(_out_pcm(tmp_path, utt), x)
    os.utime(tmp_path / "s-u0.wav", ns=(1, 1))  # the file a pipe reads changed: redo
    assert not _run(tmp_path, require_text=False).up_to_date


def test_failing_pipe_names_the_utterance_and_command(tmp_path):
    sf.write(str(tmp_path / "ok.wav"), _pcm(FS, 0), FS, subtype="PCM_16")
    _write_dir(tmp_path / "in", {"s-bad": "false |", "s-ok": f"cat {tmp_path / 'ok.wav'} |"},
               {"s-bad": "s", "s-ok": "s"})
    with pytest.raises(DataError, match=r"utterance 's-bad'.*command 'false' failed"):
        _run(tmp_path, require_text=False)
    res = _run(tmp_path, "skip", require_text=False)
    assert res.kept == 1 and [u for u, _ in res.skipped] == ["s-bad"]


def test_segments_over_two_recordings(tmp_path):
    r1, r2 = _pcm(3 * FS, 1), _pcm(2 * FS, 2)
    sf.write(str(tmp_path / "r1.wav"), r1, FS, subtype="PCM_16")
    sf.write(str(tmp_path / "r2.flac"), r2, FS, subtype="PCM_16")
    wav = {"r1": str(tmp_path / "r1.wav"), "r2": f"cat {tmp_path / 'r2.flac'} |"}
    segs = ("a-1 r1 0.00 1.00\na-2 r1 1.50 -1\nb-1 r2 0.25 1.25\nb-2 r2 1.0 2.0\n")
    spk = {"a-1": "a", "a-2": "a", "b-1": "b", "b-2": "b"}
    _write_dir(tmp_path / "in", wav, spk, segs)
    res = _run(tmp_path, require_text=False)
    assert res.kept == 4
    want = {"a-1": r1[:FS], "a-2": r1[24000:], "b-1": r2[4000:20000], "b-2": r2[FS:]}
    for utt, x in want.items():
        np.testing.assert_array_equal(_out_pcm(tmp_path, utt), x)
    assert read_scp(tmp_path / "out" / "utt2num_samples") == {u: str(len(x)) for u, x in want.items()}
    assert not (tmp_path / "out" / "segments").exists()
    # a segment outside its recording: named, and dropped in skip mode
    (tmp_path / "in" / "segments").write_text(segs + "b-3 r2 1.5 2.6\n")
    (tmp_path / "in" / "utt2spk").write_text("".join(f"{k} {v}\n" for k, v in {**spk, "b-3": "b"}.items()))
    with pytest.raises(DataError, match=r"utterance 'b-3'.*recording 'r2'.*past the end"):
        _run(tmp_path, require_text=False)
    assert [u for u, _ in _run(tmp_path, "skip", require_text=False).skipped] == ["b-3"]


def test_segments_need_their_recording_and_a_caller_that_cuts(tmp_path):
    sf.write(str(tmp_path / "r1.wav"), _pcm(FS, 1), FS, subtype="PCM_16")
    _write_dir(tmp_path / "in", {"r1": str(tmp_path / "r1.wav")}, {"a-1": "a", "a-2": "a"},
               "a-1 r1 0 0.6\na-2 r9 0 0.6\n")
    with pytest.raises(DataError, match=r"a-2 \(r9\)"):
        _run(tmp_path, require_text=False)
    assert [u for u, _ in _run(tmp_path, "skip", require_text=False).skipped] == ["a-2"]
    with pytest.raises(DataError, match="has a segments file"):
        check_data_dir(tmp_path / "in", require_text=False)  # e.g. make_tts_pairs on a raw dir
    (tmp_path / "in" / "segments").write_text("a-1 r1 0.5 0.2\na-2 r1 0 0.6\n")
    with pytest.raises(DataError, match=r"segment 'a-1': bad times"):
        _run(tmp_path, require_text=False)
