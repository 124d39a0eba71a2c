"""Zero-shot TTS pair list: a prompt from another utterance of the same speaker; checked data dir."""
from pathlib import Path

import pytest

from espnet_plugin.bin import make_tts_pairs
from espnet_plugin.errors import DataError


def _data_dir(d: Path, utts, skip_utt2spk=()) -> Path:
    """``utts``: (utt, spk) pairs -> wav.scp / text / utt2spk (``skip_utt2spk`` left out of utt2spk)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{u} /audio/{u}.wav\n" for u, _ in utts))
    (d / "text").write_text("".join(f"{u} words of {u}\n" for u, _ in utts))
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in utts if u not in skip_utt2spk))
    return d


UTTS = [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("b2", "B"), ("c1", "C")]


def test_pairs_prompt_from_another_utterance_of_the_speaker(tmp_path):
    d = _data_dir(tmp_path / "data", UTTS)
    pairs = make_tts_pairs.make_pairs(d, seed=0)
    spk = dict(UTTS)
    assert [p[0] for p in pairs] == ["a1", "a2", "a3", "b1", "b2"]  # C has one utterance: no pair
    for utt, prompt_wav, prompt_text, target_text in pairs:
        prompt = prompt_wav.split("/")[-1][: -len(".wav")]
        assert prompt != utt and spk[prompt] == spk[utt]
        assert prompt_text == f"words of {prompt}" and target_text == f"words of {utt}"
    assert make_tts_pairs.make_pairs(d, seed=0) == pairs  # deterministic for a seed
    out = tmp_path / "out" / "pairs.tsv"
    make_tts_pairs.main(["--data_dir", str(d), "--output", str(out)])
    assert out.read_text() == "".join("\t".join(p) + "\n" for p in pairs)
    assert sorted(x.name for x in out.parent.iterdir()) == ["pairs.tsv"]  # no temporary file left


def test_utterance_missing_from_utt2spk_is_named(tmp_path):
    d = _data_dir(tmp_path / "data", UTTS, skip_utt2spk=("b2",))
    with pytest.raises(DataError, match=r"missing from utt2spk: b2"):
        make_tts_pairs.make_pairs(d)
    (d / "utt2spk").unlink()
    with pytest.raises(DataError, match="missing file utt2spk"):
        make_tts_pairs.make_pairs(d)
