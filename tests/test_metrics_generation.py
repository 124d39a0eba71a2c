"""Generation and understanding metrics: text normalisation, WER/CER by hand, SIM, the ASR
judge, and the score_tts bin."""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.metrics import generation as G
from espnet_plugin.metrics import judges
from espnet_plugin.metrics import understanding as U
from espnet_plugin.metrics.registry import JudgeUnavailable, get_metric

SR = 16000
TEXT = "Please call Stella and ask her to bring these things."


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two espeak-ng voices saying TEXT, 16 kHz (skipped when espeak-ng is missing)."""
    from espnet_plugin.io.audio import load_audio

    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed")
    d = tmp_path_factory.mktemp("tts")
    out = {}
    for v in ("en-us", "en-us+f3"):
        p = str(d / f"{v}.wav")
        subprocess.run(["espeak-ng", "-v", v, "-w", p, TEXT], check=True)
        out[v] = load_audio(p, SR)
    return out


@pytest.mark.parametrize("raw,norm", [
    ("Hello, world!  It's 'fine'.", "HELLO WORLD IT'S FINE"),
    ("well-known\tfact;  don\u2019t", "WELL KNOWN FACT DON'T"),
    ("  ", ""),
    ("Mr. Smith's 2nd car", "MR SMITH'S 2ND CAR"),
])
def test_normalize_text(raw, norm):
    assert G.normalize_text(raw) == norm


def test_wer_cer_by_hand():
    refs, hyps = ["a b c", "d e"], ["A x C!", "d e f"]
    # 1 substitution + 1 insertion over 5 reference words
    assert G.word_error_rate(refs, hyps) == pytest.approx(100 * 2 / 5)
    # characters "A B C" / "A X C": 1 sub; "D E" vs "D E F": 2 insertions (" F"); 8 ref chars
    assert G.char_error_rate(refs, hyps) == pytest.approx(100 * 3 / 8)
    assert G.word_error_rate(["x y"], ["x y"]) == 0.0
    # an empty reference is dropped, not counted as 0 or infinity
    assert G.word_error_rate(["...", "a b"], ["z", "a"]) == pytest.approx(50.0)
    assert math.isnan(G.word_error_rate([""], ["a"]))
    with pytest.raises(ValueError):
        G.word_error_rate(["a"], [])


def test_understanding_metrics():
    assert U.speaker_id_accuracy(["s1", "s2", "s3", "s1"], ["s1", "s2", "s1", "s2"]) == 50.0
    assert math.isnan(U.accuracy([], []))
    assert U.probe_wer(["a b c d"], ["a b"]) == 50.0
    fn = get_metric("understanding/sid_acc").fn
    assert fn(labels=[1, 2], preds=[1, 2]) == 100.0


def test_generation_sim_and_mos(clips):
    a, b = clips["en-us"], clips["en-us+f3"]
    assert G.tts_spk_sim(a, a) == pytest.approx(1.0, abs=1e-5)
    assert G.tts_spk_sim(a, b) < G.tts_spk_sim(a, a)
    assert 1.0 <= G.tts_mos(a) <= 5.0
    assert math.isnan(G.tts_spk_sim(a, np.zeros(SR, np.float32)))


def test_pocketsphinx_judge(clips):
    text = judges.asr_pocketsphinx(clips["en-us"])
    assert isinstance(text, str)
    # weak on robotic voices: only check that it hears words, and that WER is finite
    assert len(text.split()) >= 3
    assert 0.0 <= G.word_error_rate([TEXT], [text]) <= 200.0


def test_unknown_and_offline_asr_judge(monkeypatch):
    from espnet_plugin.metrics.registry import JudgeUnavailable

    with pytest.raises(KeyError):
        judges.get_asr_judge("no_such_judge")
    monkeypatch.setenv("ESPNET_PLUGIN_WHISPER", "/nonexistent/whisper")
    judges.get_asr_judge.cache_clear()
    with pytest.raises(JudgeUnavailable):
        judges.get_asr_judge("whisper_large_v3")


def test_score_tts_bin(tmp_path, clips, monkeypatch):
    from espnet_plugin.bin import score_tts

    hyp_dir = tmp_path / "gen"
    hyp_dir.mkdir()
    sf.write(tmp_path / "prompt.wav", clips["en-us"], SR)
    sf.write(hyp_dir / "u1.wav", clips["en-us"], SR)
    sf.write(hyp_dir / "u2.wav", clips["en-us+f3"], SR)
    (tmp_path / "list.tsv").write_text(
        "utt\tprompt_wav\tprompt_text\ttarget_text\n"
        f"u1\tprompt.wav\tsome prompt\t{TEXT}\n"
        f"u2\t{tmp_path / 'prompt.wav'}\tsome prompt\twrong words here\n")
    (tmp_path / "text").write_text(f"u1 {TEXT}\nu2 {TEXT}\n")
    out = tmp_path / "exp" / "tts_demo" / "score"
    rec = score_tts.main(["--list", str(tmp_path / "list.tsv"), "--hyp_dir", str(hyp_dir),
                          "--out_dir", str(out), "--ref_text", str(tmp_path / "text"),
                          "--metrics", "wer,cer,spk_sim"])
    assert rec["axis"] == "generation" and rec["tag"] == "demo" and rec["n"] == 2
    assert rec["asr_judge"] == "pocketsphinx"
    hyps = dict(line.split(" ", 1) for line in (out / "asr_hyp.txt").read_text().splitlines())
    assert rec["metrics"]["wer"] == pytest.approx(G.word_error_rate([TEXT, TEXT], [hyps["u1"], hyps["u2"]]))
    assert rec["metrics"]["spk_sim"] < 1.0
    assert json.loads((out / "metrics.json").read_text())["directions"]["wer"] == "lower"
    # every column names its judge (the embedded ones by default)
    assert rec["judges"] == {"wer": "pocketsphinx", "cer": "pocketsphinx", "spk_sim": "resemblyzer"}
    # a chosen ASR judge that cannot load is an error naming it, what it tried and the option to set
    judges.get_asr_judge.cache_clear()
    with pytest.raises(JudgeUnavailable, match=r"judge whisper_large_v3 .*/nonexistent/whisper.*--whisper_model"):
        score_tts.main(["--list", str(tmp_path / "list.tsv"), "--hyp_dir", str(hyp_dir),
                        "--out_dir", str(tmp_path / "w"), "--asr_judge", "whisper_large_v3",
                        "--whisper_model", "/nonexistent/whisper", "--metrics", "wer,spk_sim", "--tag", "w"])
    assert not (tmp_path / "w" / "metrics.json").exists()  # never a table without its WER column
    (tmp_path / "bad.tsv").write_text("u1\tprompt.wav\tonly three\n")
    with pytest.raises(DataError, match="4 tab-separated"):
        score_tts.main(["--list", str(tmp_path / "bad.tsv"), "--hyp_dir", str(hyp_dir),
                        "--out_dir", str(out)])


def _tts_inputs(tmp_path):
    """A pair list of u1, u2 (sine "outputs" in gen/) and a Kaldi text; returns (list, hyp_dir)."""
    hyp_dir = tmp_path / "gen"
    hyp_dir.mkdir()
    x = (0.3 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32)
    sf.write(tmp_path / "prompt.wav", x, SR)
    for u in ("u1", "u2"):
        sf.write(hyp_dir / f"{u}.wav", x, SR)
    (tmp_path / "list.tsv").write_text("".join(f"{u}\tprompt.wav\tp\tone two three\n" for u in ("u1", "u2")))
    return tmp_path / "list.tsv", hyp_dir


def test_score_tts_probe_metrics_skipped_or_partial_with_a_warning(tmp_path, caplog):
    from espnet_plugin.bin import score_tts

    lst, hyp_dir = _tts_inputs(tmp_path)
    out = tmp_path / "exp" / "tts_x" / "score"
    with caplog.at_level(logging.WARNING):
        rec = score_tts.main(["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(out),
                              "--metrics", "wer_probe"])
    assert rec["metrics"] == {} and rec["n"] == 2
    assert "wer_probe" in caplog.text and "SKIPPED" in caplog.text and "--probe_hyp_text" in caplog.text
    caplog.clear()
    (tmp_path / "probe.txt").write_text("u1 one two four\n")
    with caplog.at_level(logging.WARNING):
        rec = score_tts.main(["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(out),
                              "--metrics", "wer_probe", "--probe_hyp_text", str(tmp_path / "probe.txt")])
    # u1: 1 error in 3 words; u2 has no probe hypothesis: scored as empty (3 deletions)
    assert rec["metrics"]["wer_probe"] == pytest.approx(100 * 4 / 6)
    assert "1 of 2 scored utterances have no probe hypothesis" in caplog.text


def test_score_tts_probe_as_the_asr_judge_with_per_utterance_counts(tmp_path, monkeypatch):
    from espnet_plugin.bin import score_tts
    from espnet_plugin.report.uncertainty import read_per_utt

    def no_judge(*a, **k):
        raise AssertionError("--asr_judge probe must not load another ASR judge")

    monkeypatch.setattr(judges, "get_asr_judge", no_judge)
    lst, hyp_dir = _tts_inputs(tmp_path)
    (tmp_path / "probe.txt").write_text("u1 one two four\nu2 one two three\n")
    out = tmp_path / "exp" / "tts_x" / "score"
    rec = score_tts.main(["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(out),
                          "--metrics", "wer,cer", "--asr_judge", "probe",
                          "--probe_hyp_text", str(tmp_path / "probe.txt")])
    assert rec["metrics"]["wer"] == pytest.approx(100 / 6) and rec["asr_judge"] == "probe"
    assert rec["per_utt"] == ["per_utt.tsv"]
    cols = read_per_utt(out / "per_utt.tsv")
    assert list(cols["wer"].num) == [1, 0] and list(cols["wer"].den) == [3, 3]
    assert float(cols["cer"].value()) == pytest.approx(rec["metrics"]["cer"])
    with pytest.raises(ConfigError, match="--probe_hyp_text"):
        score_tts.main(["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(out),
                        "--asr_judge", "probe"])


def test_score_tts_checks_inputs_before_loading_judges(tmp_path, monkeypatch, caplog):
    from espnet_plugin.bin import score_tts

    def no_judge(*a, **k):
        raise AssertionError("judge loaded before the inputs were checked")

    monkeypatch.setattr(judges, "get_asr_judge", no_judge)
    lst, hyp_dir = _tts_inputs(tmp_path)
    os.remove(hyp_dir / "u2.wav")
    args = ["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(tmp_path / "o"),
            "--metrics", "wer"]
    with pytest.raises(DataError, match=r"no <utt>.wav for 1 of 2 utterances .*'u2'"):
        score_tts.main(args)
    with pytest.raises(DataError, match="no hypothesis for any scored utterance"):
        (tmp_path / "probe.txt").write_text("u9 x\n")
        score_tts.main(args + ["--allow_missing", "--probe_hyp_text", str(tmp_path / "probe.txt")])
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        rec = score_tts.main(["--list", str(lst), "--hyp_dir", str(hyp_dir), "--out_dir", str(tmp_path / "o"),
                              "--metrics", "", "--allow_missing"])
    assert rec["n"] == 1 and rec["n_missing"] == 1
    assert "1 utterances have no hypothesis and are skipped" in caplog.text
