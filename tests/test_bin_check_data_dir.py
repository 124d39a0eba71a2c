"""check_data_dir: every utterance missing from wav.scp/text/utt2spk and every unknown character, at once."""
from __future__ import annotations

import pytest

from espnet_plugin.bin import check_data_dir
from espnet_plugin.errors import DataError


def _write(d, name, entries):
    (d / name).write_text("".join(f"{k} {v}\n" for k, v in entries.items()), encoding="utf-8")


def _data_dir(tmp_path, n=10, drop_wav=(), drop_text=(), drop_spk=(), texts=None):
    d = tmp_path / "data"
    d.mkdir()
    utts = [f"u{i:02d}" for i in range(n)]
    _write(d, "wav.scp", {u: f"/x/{u}.wav" for u in utts if u not in drop_wav})
    _write(d, "text", {u: (texts or {}).get(u, "HELLO WORLD") for u in utts if u not in drop_text})
    _write(d, "utt2spk", {u: "s1" for u in utts if u not in drop_spk})
    return d


def test_names_every_missing_utterance_and_every_bad_character(tmp_path):
    d = _data_dir(tmp_path, drop_wav=("u01", "u02"), drop_text=("u03",), drop_spk=("u04", "u05", "u06", "u07"),
                  texts={"u08": "HELLO WÖRLD", "u09": "HI! WORLD"})
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("<blank>\n<unk>\n<space>\nH\nE\nL\nO\nW\nR\nD\nI\n<sos/eos>\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        check_data_dir.main(["--data_dir", str(d), "--token_list", str(tokens)])
    msg = str(err.value)
    for u in ("u01", "u02", "u03", "u04", "u05", "u06", "u07"):  # all of them, not just the first few
        assert f"{u}: " in msg
    assert "u01: " in msg and "wav.scp" in msg.split("u01: ")[1].splitlines()[0]
    assert "'Ö'" in msg.split("u08: ")[1].splitlines()[0]
    assert "'!'" in msg.split("u09: ")[1].splitlines()[0]
    assert "u00" not in msg and "9 bad utterances" in msg


def test_clean_dir_passes_and_sentencepiece_lists_cover_their_pieces(tmp_path):
    d = _data_dir(tmp_path, n=3, texts={"u00": "HE LL"})
    check_data_dir.main(["--data_dir", str(d)])
    spm = tmp_path / "bpe.txt"
    spm.write_text("<blank>\n<unk>\n\u2581HE\nLL\nO\n\u2581W\nR\nD\n", encoding="utf-8")
    check_data_dir.main(["--data_dir", str(d), "--token_list", str(spm)])


def test_long_listing_is_capped_with_a_count(tmp_path):
    d = _data_dir(tmp_path, n=30, drop_spk=tuple(f"u{i:02d}" for i in range(25)))
    with pytest.raises(DataError, match=r"25 bad utterances") as err:
        check_data_dir.main(["--data_dir", str(d)])
    msg = str(err.value)
    assert "u19: " in msg and "u20: " not in msg and "and 5 more" in msg


def test_unknown_chars_warn_still_fails_on_missing_utterances(tmp_path, caplog):
    d = _data_dir(tmp_path, n=3, texts={"u01": "HELLO WÖRLD"})
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("<unk>\n<space>\nH\nE\nL\nO\nW\nR\nD\n", encoding="utf-8")
    args = ["--data_dir", str(d), "--token_list", str(tokens), "--unknown_chars", "warn"]
    check_data_dir.main(args)
    assert "u01" in caplog.text and "'Ö'" in caplog.text
    (d / "utt2spk").write_text("u00 s1\nu01 s1\n")
    with pytest.raises(DataError, match="u02: ") as err:
        check_data_dir.main(args)
    assert "u01" not in str(err.value)
