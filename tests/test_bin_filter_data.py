"""Tests of the duration filter stage (espnet_plugin.bin.filter_data)."""
from __future__ import annotations

from pathlib import Path

import pytest

from espnet_plugin.bin import filter_data
from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import read_scp, write_scp

FS = 16000


def _make(tmp: Path, num_samples: dict[str, str]) -> Path:
    """An input dump dir with the given ``utt2num_samples``; speaker = part before '-'."""
    src = tmp / "org"
    src.mkdir()
    write_scp(src / "wav.scp", {u: f"/audio/{u}.wav" for u in num_samples})
    write_scp(src / "text", {u: f"WORDS OF {u}" for u in num_samples})
    write_scp(src / "utt2spk", {u: u.split("-")[0] for u in num_samples})
    write_scp(src / "utt2num_samples", num_samples)
    return src


def _run(src: Path, dst: Path) -> None:
    filter_data.main(["--in_dir", str(src), "--out_dir", str(dst), "--min_seconds", "0.5",
                      "--max_seconds", "2", "--fs", str(FS)])


def test_keeps_and_drops_by_duration(tmp_path):
    src = _make(tmp_path, {"a-1": str(FS), "a-2": str(FS // 4), "b-1": str(3 * FS), "b-2": str(2 * FS)})
    dst = tmp_path / "out"
    _run(src, dst)
    for name in ("wav.scp", "text", "utt2spk", "utt2num_samples"):
        assert sorted(read_scp(dst / name)) == ["a-1", "b-2"], name
    assert read_scp(dst / "spk2utt") == {"a": "a-1", "b": "b-2"}
    assert (dst / "filtered.tsv").read_text().splitlines() == [
        "a-2\t0.25s\ttoo short", "b-1\t3.00s\ttoo long"]


def test_bad_count_names_file_and_utterance(tmp_path):
    src = _make(tmp_path, {"a-1": str(FS), "a-2": "12x"})
    dst = tmp_path / "out"
    with pytest.raises(DataError, match="utt2num_samples") as e:
        _run(src, dst)
    assert "'a-2'" in str(e.value) and "12x" in str(e.value)
    assert not dst.exists()


def test_nothing_written_when_nothing_is_kept(tmp_path):
    src = _make(tmp_path, {"a-1": "10", "b-1": str(10 * FS)})
    dst = tmp_path / "out"
    with pytest.raises(DataError, match="no utterance"):
        _run(src, dst)
    assert not dst.exists()


def test_missing_utt2spk_is_reported_against_the_input(tmp_path):
    src = _make(tmp_path, {"a-1": str(FS)})
    (src / "utt2spk").unlink()
    dst = tmp_path / "out"
    with pytest.raises(DataError, match="utt2spk") as e:
        _run(src, dst)
    assert str(src) in str(e.value)
    assert not dst.exists()
