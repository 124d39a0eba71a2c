"""Tests of espnet_plugin.data.voices and espnet_plugin.data.synth_corpus."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.data.synth_corpus import MIN_PROMPTS, make_corpus, plan_corpus, trim_silence
from espnet_plugin.data.voices import Voice, list_voices, synthesize
from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.kaldi_dir import check_data_dir

needs_engines = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng and flite are needed (apt-get install espeak-ng flite)",
)


def test_list_voices_distinct_and_reproducible():
    v = list_voices(24, seed=0)
    assert v == list_voices(24, seed=0)
    assert v != list_voices(24, seed=1)
    assert len({x.combo for x in v}) == 24  # distinct engine/voice/variant, not just rate
    ids = [x.speaker_id for x in v]
    assert len(set(ids)) == 24 and ids == sorted(ids)
    assert all(re.fullmatch(r"(espk_[a-z0-9]+_[a-z0-9]+_p\d+_s\d+|flite_[a-z0-9]+_r\d+)", i)
               for i in ids)
    engines = {x.engine for x in v}
    assert engines == {"espeak", "flite"}
    assert {x.gender for x in v} == {"m", "f"}
    assert len({x.name for x in v if x.engine == "espeak"}) >= 6  # several accents
    big = list_voices(100, seed=0)
    assert len({x.combo for x in big}) == 100
    with pytest.raises(ConfigError):
        list_voices(0, seed=0)


def test_speaker_id_format():
    assert Voice("espeak", "en", "m3", 60, 170).speaker_id == "espk_engb_m3_p60_s170"
    assert Voice("espeak", "en-gb-x-rp", "Annie", 40, 150).speaker_id == "espk_engbxrp_annie_p40_s150"
    assert Voice("flite", "slt", rate=110).speaker_id == "flite_slt_r110"


def test_plan_splits_zero_shot():
    voices, splits = plan_corpus(num_utts=640, num_voices=24, num_test_speakers=4,
                                 dev_utts_per_speaker=2, seed=0)
    spk = {name: {s for s, _ in split.values()} for name, split in splits.items()}
    assert len(spk["test"]) == 4 and not spk["test"] & (spk["train"] | spk["dev"])
    assert spk["dev"] == spk["train"] and len(spk["train"]) == 20
    assert len(splits["dev"]) == 40
    assert sum(len(s) for s in splits.values()) == 640
    for s in spk["test"]:
        assert sum(1 for x, _ in splits["test"].values() if x == s) >= MIN_PROMPTS
    texts = [t for split in splits.values() for _, t in split.values()]
    assert len(set(texts)) == 640
    for split in splits.values():  # utterance ids sort by speaker
        for utt, (s, _) in split.items():
            assert utt.startswith(s + "-")
    assert plan_corpus(seed=0)[1] == splits


def test_plan_rejects_too_few_utts():
    with pytest.raises(ConfigError, match="per speaker"):
        plan_corpus(num_utts=40, num_voices=24)
    with pytest.raises(ConfigError, match="num_test_speakers"):
        plan_corpus(num_utts=100, num_voices=4, num_test_speakers=4)


def test_trim_silence_hand_case():
    fs = 16000
    x = np.zeros(fs, np.float32)
    x[4000:8000] = 0.5  # speech from 0.25 s to 0.5 s
    y = trim_silence(x, fs, top_db=40, margin_s=0.1)
    assert y.shape[0] == 4000 + 2 * 1600  # margins of 0.1 s on both sides
    assert np.array_equal(trim_silence(np.zeros(100, np.float32), fs), np.zeros(100, np.float32))


@needs_engines
def test_synthesize_each_engine(tmp_path):
    for v in (Voice("espeak", "en-us", "f2", 50, 170), Voice("flite", "kal", rate=100)):
        out = tmp_path / f"{v.speaker_id}.wav"
        synthesize(v, "hello there my friend", out)
        info = sf.info(str(out))
        assert info.frames > 0 and info.samplerate in (8000, 16000, 22050)
    with pytest.raises(DataError, match="empty"):
        synthesize(Voice("flite", "slt"), "   ", tmp_path / "x.wav")
    # variants really change the voice (espeak-ng ignores "+variant" after the alias "en-gb")
    sounds = set()
    for variant in ("m3", "f3", "linda"):
        out = tmp_path / f"{variant}.wav"
        synthesize(Voice("espeak", "en", variant, 50, 170), "hello there", out)
        sounds.add(out.read_bytes())
    assert len(sounds) == 3


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.wav"))}


@needs_engines
def test_make_corpus_small_reproducible_idempotent(tmp_path):
    kw = dict(num_utts=25, num_voices=5, num_test_speakers=1, dev_utts_per_speaker=1, seed=7,
              show_progress=False)
    info = make_corpus(tmp_path / "db", tmp_path / "data", nj=1, **kw)
    assert info["splits"]["test"]["speakers"] == 1 and info["splits"]["dev"]["utts"] == 4
    dirs = {n: check_data_dir(tmp_path / "data" / n) for n in ("train", "dev", "test")}
    assert sum(len(d.wav) for d in dirs.values()) == 25
    assert not set(dirs["test"].spk2utt) & set(dirs["train"].spk2utt)
    for d in dirs.values():
        for utt, path in d.wav.items():
            i = sf.info(path)
            assert (i.samplerate, i.channels, i.subtype) == (16000, 1, "PCM_16")
            assert 0.5 <= i.duration <= 8.0
            assert re.fullmatch(r"[A-Z' ]+", d.text[utt])
    assert 1.0 <= info["mean_utt_seconds"] <= 4.0
    rows = (tmp_path / "db" / "speakers.tsv").read_text().splitlines()
    assert len(rows) == 6
    first = _digest(tmp_path / "db")
    stamp = (tmp_path / "data" / ".synth_done").read_text()
    again = make_corpus(tmp_path / "db", tmp_path / "data", nj=1, **kw)
    assert again["skipped"] is True and json.loads(stamp)["hash"] == again["hash"]
    # a second directory with 2 processes: the same texts, splits and bytes
    make_corpus(tmp_path / "db2", tmp_path / "data2", nj=2, **kw)
    assert _digest(tmp_path / "db2") == first
    for n in ("train", "dev", "test"):
        for f in ("text", "utt2spk", "spk2utt"):
            assert (tmp_path / "data" / n / f).read_text() == (tmp_path / "data2" / n / f).read_text()


def test_synth_job_validates_in_memory_before_writing(tmp_path, monkeypatch):
    from espnet_plugin.data import synth_corpus

    seconds = {"good": 1.3, "short": 0.2}

    def fake_synthesize(voice, text, path):  # a tone of the asked length at 22.05 kHz
        t = np.arange(int(seconds[text.split()[0].lower()] * 22050)) / 22050
        sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), 22050, subtype="PCM_16")

    monkeypatch.setattr(synth_corpus, "synthesize", fake_synthesize)
    monkeypatch.setattr(synth_corpus, "to_synth_text", lambda t: t)
    good = tmp_path / "wav" / "spk" / "spk-0000.wav"
    utt, n = synth_corpus._synth_job((None, "GOOD WORDS", "spk-0000", str(good)))
    assert utt == "spk-0000" and n == sf.info(good).frames and abs(n - int(1.3 * 16000)) <= 1
    bad = tmp_path / "wav" / "spk" / "spk-0001.wav"
    with pytest.raises(DataError, match=r"'spk-0001'.*too short"):
        synth_corpus._synth_job((None, "SHORT WORDS", "spk-0001", str(bad)))
    assert not bad.exists()  # a failing clip leaves no file
