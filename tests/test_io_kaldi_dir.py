"""Tests of espnet_plugin.io.kaldi_dir: scp readers/writers and data-dir checks."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import (
    check_data_dir,
    read_scp,
    read_text,
    utt2spk_to_spk2utt,
    write_data_dir,
    write_scp,
)


def test_read_scp_keeps_order_and_value_spaces(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_bytes(b"b /x/b.wav\n\na  /x/a b.wav\r\nc\t/x/c.wav\n")
    d = read_scp(p)
    assert list(d) == ["b", "a", "c"]
    assert d == {"b": "/x/b.wav", "a": "/x/a b.wav", "c": "/x/c.wav"}


def test_duplicate_key_names_file_and_lines(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_text("a 1\nb 2\na 3\n")
    with pytest.raises(DataError, match=r"wav.scp:3: duplicate key 'a' \(first seen on line 1\)"):
        read_scp(p)
    with pytest.raises(DataError, match="duplicate"):
        read_scp(p, problems=[])  # duplicates are fatal even when lenient


def test_line_without_value(tmp_path):
    p = tmp_path / "text"
    p.write_text("a hello\nb\n")
    with pytest.raises(DataError, match=r"text:2: key 'b' has no value"):
        read_text(p)
    assert read_text(p, allow_empty=True) == {"a": "hello", "b": ""}
    problems: list = []
    assert read_text(p, problems=problems) == {"a": "hello"}
    assert problems[0][0] == "b"


def test_non_utf8_names_line(tmp_path):
    p = tmp_path / "text"
    p.write_bytes(b"a ok\nb caf\xe9\n")
    with pytest.raises(DataError, match=r"text:2: bytes that are not UTF-8"):
        read_text(p)
    problems: list = []
    assert read_text(p, problems=problems) == {"a": "ok"}
    assert [k for k, _ in problems] == ["b"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_scp(tmp_path / "none.scp")


def test_write_scp_sorted_atomic_and_validated(tmp_path):
    p = tmp_path / "out.scp"
    write_scp(p, {"b": "2", "a": "1 one", "c": ""})
    assert p.read_text() == "a 1 one\nb 2\nc\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.scp"]
    with pytest.raises(DataError, match="white space"):
        write_scp(p, {"a b": "1"})
    with pytest.raises(DataError, match="line break"):
        write_scp(p, {"a": "1\n2"})
    assert p.read_text() == "a 1 one\nb 2\nc\n"  # untouched by failed writes


def test_utt2spk_to_spk2utt():
    got = utt2spk_to_spk2utt({"s2-1": "s2", "s1-2": "s1", "s1-1": "s1"})
    assert got == {"s1": ["s1-1", "s1-2"], "s2": ["s2-1"]}
    assert list(got) == ["s1", "s2"]


def _make_dir(d, n=3, **drop):
    wav = {f"s{i % 2}-u{i}": f"/w/{i}.wav" for i in range(n)}
    text = {u: f"WORDS {i}" for i, u in enumerate(wav)}
    utt2spk = {u: u.split("-")[0] for u in wav}
    write_data_dir(d, wav, text, utt2spk)
    return wav, text, utt2spk


def test_write_and_check_roundtrip(tmp_path):
    wav, text, utt2spk = _make_dir(tmp_path / "d")
    kd = check_data_dir(tmp_path / "d")
    assert kd.wav == wav and kd.text == text and kd.utt2spk == utt2spk
    assert kd.spk2utt == {"s0": ["s0-u0", "s0-u2"], "s1": ["s1-u1"]}
    assert (tmp_path / "d" / "spk2utt").read_text() == "s0 s0-u0 s0-u2\ns1 s1-u1\n"
    assert kd.utts == sorted(wav)


def test_mismatched_keys_listed_with_count(tmp_path):
    d = tmp_path / "d"
    _make_dir(d, n=12)
    lines = (d / "text").read_text().splitlines()
    (d / "text").write_text("\n".join(lines[:4]) + "\n")  # 8 keys lost
    with pytest.raises(DataError) as e:
        check_data_dir(d)
    msg = str(e.value)
    assert "missing from text" in msg and "(8 in all)" in msg and ", ..." in msg
    problems: list = []
    kd = check_data_dir(d, problems=problems)
    assert len(kd.wav) == 4 and len(problems) == 8
    assert set(kd.wav) == set(kd.text) == set(kd.utt2spk)


def test_missing_files_and_text_optional(tmp_path):
    d = tmp_path / "d"
    _make_dir(d)
    (d / "text").unlink()
    with pytest.raises(DataError, match="missing file text"):
        check_data_dir(d)
    assert check_data_dir(d, require_text=False).text is None
    (d / "utt2spk").unlink()
    with pytest.raises(DataError, match="missing file utt2spk"):
        check_data_dir(d, require_text=False)
    with pytest.raises(DataError, match="not found"):
        check_data_dir(tmp_path / "absent")


def test_spk2utt_disagreement(tmp_path):
    d = tmp_path / "d"
    _make_dir(d)
    (d / "spk2utt").write_text("s0 s0-u0\ns1 s1-u1\n")
    with pytest.raises(DataError, match="spk2utt disagrees.*s0"):
        check_data_dir(d)


def test_write_data_dir_rejects_key_mismatch(tmp_path):
    with pytest.raises(DataError, match="keys of text differ"):
        write_data_dir(tmp_path / "d", {"a": "x"}, {"b": "y"}, {"a": "s"})


_LINE = st.lists(
    st.one_of(st.binary(max_size=20),
              st.sampled_from([b"a b", b"a", b"", b" ", b"\xff\xfe x", b"k\tv", b"\r", b"a c"])),
    max_size=8,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wav=_LINE, text=_LINE, utt2spk=_LINE, lenient=st.booleans())
def test_fuzz_readers_only_dataerror(tmp_path, wav, text, utt2spk, lenient):
    d = tmp_path / "fz"
    d.mkdir(exist_ok=True)
    for name, lines in (("wav.scp", wav), ("text", text), ("utt2spk", utt2spk)):
        (d / name).write_bytes(b"\n".join(lines))
    try:
        kd = check_data_dir(d, problems=[] if lenient else None)
    except DataError:
        return
    assert set(kd.wav) == set(kd.utt2spk) == set(kd.text)
