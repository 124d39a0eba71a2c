"""The TTS pair list (espnet_plugin.tts.pairs): the format synthesis and scoring both read."""
import pytest

from espnet_plugin.errors import DataError
from espnet_plugin.tts.pairs import read_pair_list


def test_read_pair_list_header_blank_lines_and_order(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("utt\tprompt_wav\tprompt_text\ttarget_text\n"
                 "b\tw/b.wav\t hello \tworld\r\n\n"
                 "a\tw/a.wav\thi\tthere\n", encoding="utf-8")
    pairs = read_pair_list(str(p))
    assert list(pairs) == ["b", "a"]
    assert pairs["b"] == ("w/b.wav", "hello", "world")


@pytest.mark.parametrize("text, match", [
    ("a\tw.wav\tonly three\n", r"pairs.tsv:1: expected 4 tab-separated fields"),
    ("a\tw.wav\tx\ty\na\tv.wav\tx\ty\n", r"pairs.tsv:2: duplicate utterance 'a'"),
    ("\n", r"empty TTS test list"),
])
def test_read_pair_list_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "pairs.tsv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_pair_list(str(p))
