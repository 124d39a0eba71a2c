"""Tests of espnet_plugin.data.libri and bin/prep_libri on small fake corpus trees."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.bin import prep_libri
from espnet_plugin.data.libri import (
    UttRecord,
    parse_librispeech,
    parse_librispeech_pc,
    parse_libritts,
    records_to_kaldi,
)
from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.kaldi_dir import check_data_dir


def _audio(path: Path, seconds: float, fs: int = 16000, fmt: str = "WAV") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(fs * seconds)) / fs
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), fs, format=fmt, subtype="PCM_16")


def _libritts(root: Path) -> None:
    base = root / "LibriTTS"
    items = [("test-clean", "84", "121123", "000007_000001", "Hello, world!"),
             ("test-clean", "84", "121123", "000008_000000", "It's fine."),
             ("test-clean", "841", "5000", "000001_000002", "Another speaker."),
             ("dev-clean", "2", "149", "000000_000000", "Dev sentence.")]
    for subset, spk, ch, rest, text in items:
        d = base / subset / spk / ch
        stem = f"{spk}_{ch}_{rest}"
        _audio(d / f"{stem}.wav", 0.2, fs=24000)
        (d / f"{stem}.normalized.txt").write_text(text)
        (d / f"{stem}.original.txt").write_text(text.upper())


def _librispeech(root: Path) -> None:
    base = root / "LibriSpeech" / "test-clean"
    for spk, ch, n in (("1089", "134686", 2), ("121", "121726", 1)):
        d = base / spk / ch
        lines = []
        for i in range(n):
            utt = f"{spk}-{ch}-{i:04d}"
            _audio(d / f"{utt}.flac", 0.1 * (i + 1), fmt="FLAC")
            lines.append(f"{utt} SOME WORDS {i}")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{spk}-{ch}.trans.txt").write_text("\n".join(lines) + "\n")


def test_parse_libritts(tmp_path):
    _libritts(tmp_path)
    recs = parse_libritts(tmp_path, ["test-clean"])
    assert [r.utt_id for r in recs] == [
        "84-121123-000007-000001", "84-121123-000008-000000", "841-5000-000001-000002"]
    assert [r.spk_id for r in recs] == ["84", "84", "841"]
    assert recs[0].text == "Hello, world!" and Path(recs[0].wav_path).is_file()
    assert parse_libritts(tmp_path / "LibriTTS", ["test-clean"], "original")[1].text == "IT'S FINE."
    records_to_kaldi(recs, tmp_path / "data" / "test_clean")
    kd = check_data_dir(tmp_path / "data" / "test_clean")
    assert kd.text["84-121123-000007-000001"] == "HELLO WORLD"
    assert kd.spk2utt == {"84": ["84-121123-000007-000001", "84-121123-000008-000000"],
                          "841": ["841-5000-000001-000002"]}
    # Kaldi's rule: sorting utterances also sorts speakers
    spk_order = [kd.utt2spk[u] for u in sorted(kd.wav)]
    assert spk_order == sorted(spk_order)


def test_libritts_errors(tmp_path):
    _libritts(tmp_path)
    with pytest.raises(DataError, match="subset directory not found"):
        parse_libritts(tmp_path, ["train-clean-100"])
    txt = next((tmp_path / "LibriTTS" / "dev-clean").rglob("*.normalized.txt"))
    txt.unlink()
    with pytest.raises(DataError, match="transcript .*normalized.txt not found"):
        parse_libritts(tmp_path, ["dev-clean"])
    assert parse_libritts(tmp_path, ["dev-clean"], skip_missing_text=True) == []


def test_parse_librispeech(tmp_path):
    _librispeech(tmp_path)
    recs = parse_librispeech(tmp_path, ["test-clean"])
    assert [r.utt_id for r in recs] == ["1089-134686-0000", "1089-134686-0001", "121-121726-0000"]
    assert recs[2] == UttRecord("121-121726-0000", "121", recs[2].wav_path, "SOME WORDS 0")
    assert recs[2].wav_path.endswith("test-clean/121/121726/121-121726-0000.flac")
    (Path(recs[1].wav_path)).unlink()
    with pytest.raises(DataError, match="1089-134686.trans.txt:2: audio .* not found"):
        parse_librispeech(tmp_path, ["test-clean"])


def test_parse_librispeech_pc_filters_duration(tmp_path):
    _librispeech(tmp_path)
    man = tmp_path / "LibriSpeech-PC" / "test-clean.json"
    man.parent.mkdir()
    rows = [
        {"audio_filepath": "test-clean/1089/134686/1089-134686-0000.flac", "text": "Some, words!",
         "duration": 4.5},
        {"audio_filepath": "/elsewhere/LibriSpeech/test-clean/121/121726/121-121726-0000.flac",
         "text": "Too short.", "duration": 3.99},
        {"audio_filepath": "/elsewhere/LibriSpeech/test-clean/1089/134686/1089-134686-0001.flac",
         "text": "Ten seconds exactly.", "duration": 10.0},
    ]
    man.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    recs = parse_librispeech_pc(tmp_path, man)
    assert [(r.utt_id, r.spk_id, r.text, r.duration) for r in recs] == [
        ("1089-134686-0000", "1089", "Some, words!", 4.5),
        ("1089-134686-0001", "1089", "Ten seconds exactly.", 10.0)]
    assert all(Path(r.wav_path).is_file() for r in recs)
    records_to_kaldi(recs, tmp_path / "pc", text_style="raw")
    assert check_data_dir(tmp_path / "pc").text["1089-134686-0000"] == "Some, words!"
    man.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"test-clean.json:2: bad manifest line"):
        parse_librispeech_pc(tmp_path, man)
    man.write_text(json.dumps({"text": "x", "duration": 5}) + "\n")
    with pytest.raises(DataError, match="bad manifest line"):
        parse_librispeech_pc(tmp_path, man)


def test_records_to_kaldi_rejects_duplicates_and_empty(tmp_path):
    r = UttRecord("1-1-1", "1", "/a.flac", "A")
    with pytest.raises(DataError, match="duplicate utterance id 1-1-1"):
        records_to_kaldi([r, r], tmp_path / "d")
    with pytest.raises(DataError, match="empty after normalisation"):
        records_to_kaldi([UttRecord("1-1-1", "1", "/a.flac", "1984.")], tmp_path / "d")
    with pytest.raises(DataError, match="no utterances"):
        records_to_kaldi([], tmp_path / "d")


def test_prep_libri_cli(tmp_path):
    _libritts(tmp_path)
    _librispeech(tmp_path)
    data = tmp_path / "data"
    assert prep_libri.main(["--corpus", "libritts", "--root", str(tmp_path), "--subsets",
                            "test-clean", "dev-clean", "--data_dir", str(data)]) == 0
    assert prep_libri.main(["--corpus", "librispeech", "--root", str(tmp_path), "--subsets",
                            "test-clean", "--data_dir", str(data)]) == 0
    assert prep_libri.main(["--corpus", "libritts", "--root", str(tmp_path), "--subsets",
                            "test-clean", "dev-clean", "--out_set", "all_tts",
                            "--data_dir", str(data)]) == 0
    assert sorted(p.name for p in data.iterdir()) == [
        "all_tts", "dev_clean", "ls_test_clean", "test_clean"]
    assert len(check_data_dir(data / "all_tts").wav) == 4
    assert len(check_data_dir(data / "ls_test_clean").wav) == 3
    with pytest.raises(ConfigError, match="needs --manifest"):  # a clean error (one line, exit 2)
        prep_libri.main(["--corpus", "librispeech_pc", "--root", str(tmp_path), "--data_dir", str(data)])
