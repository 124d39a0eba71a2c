"""Reconstruction metrics on known cases (identity, added noise, silence) + the score_recon bin."""
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

from espnet_plugin.metrics import reconstruction as R
from espnet_plugin.metrics.registry import get_metric

SR = 16000


def _speech(tmp_dir, text="Please call Stella and ask her to bring these things.", voice="en-us"):
    """About 2-3 s of 16 kHz speech: espeak-ng if installed, else a formant-filtered pulse train."""
    from espnet_plugin.io.audio import load_audio

    if shutil.which("espeak-ng"):
        p = os.path.join(tmp_dir, f"{voice}.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-w", p, text], check=True)
        return load_audio(p, SR)[: 3 * SR]
    from scipy.signal import lfilter

    rng = np.random.default_rng(1)
    out = []
    for f0, (f1, f2) in zip(rng.uniform(100, 160, 8), [(700, 1200), (300, 2300), (500, 900)] * 3):
        n = int(0.3 * SR)
        src = np.zeros(n)
        src[:: int(SR / f0)] = 1.0
        for f in (f1, f2):
            r, th = 0.97, 2 * np.pi * f / SR
            src = lfilter([1.0], [1, -2 * r * np.cos(th), r * r], src)
        out += [src * np.hanning(n), np.zeros(int(0.05 * SR))]
    x = np.concatenate(out)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _speech(str(tmp_path_factory.mktemp("audio")))


@pytest.fixture(scope="module")
def noisy(clip):
    rng = np.random.default_rng(0)
    p = np.sqrt(np.mean(clip ** 2))
    return (clip + rng.standard_normal(clip.size).astype(np.float32) * p * 10 ** (-5 / 20)).astype(np.float32)


def test_identity(clip):
    assert R.pesq_wb(clip, clip) > 4.4
    assert R.stoi(clip, clip) == pytest.approx(1.0, abs=1e-6)
    assert R.mel_distance(clip, clip) == 0.0
    assert R.spk_sim(clip, clip) == pytest.approx(1.0, abs=1e-5)


def test_noise_is_worse(clip, noisy):
    assert R.pesq_wb(clip, noisy) < R.pesq_wb(clip, clip) - 1.0
    assert R.stoi(clip, noisy) < 0.95
    assert R.mel_distance(clip, noisy) > 0.5
    assert R.spk_sim(clip, noisy) < 0.95


def test_mel_distance_formula():
    """Doubling a loud white noise shifts every log-mel value by ln 2 exactly."""
    wn = np.random.default_rng(2).standard_normal(SR).astype(np.float32) * 0.3
    m = R.log_mel(wn)
    assert m.shape == (R.MEL_N_MELS, 1 + SR // R.MEL_HOP)
    assert m.min() > math.log(R.MEL_FLOOR)  # no bin at the floor, so the identity is exact
    assert R.mel_distance(wn, 2 * wn) == pytest.approx(math.log(2.0), abs=1e-5)


def test_length_mismatch_trimmed(clip, caplog):
    longer = np.concatenate([clip, np.zeros(200, np.float32)])
    assert R.mel_distance(clip, longer) == 0.0
    assert R.pesq_wb(clip, longer) == pytest.approx(R.pesq_wb(clip, clip))
    with caplog.at_level(logging.WARNING):
        r, h = R.align_pair(clip, clip[: clip.size // 2])
    assert r.size == h.size == clip.size // 2
    assert any("length mismatch" in x.getMessage() for x in caplog.records)
    with pytest.raises(ValueError, match="NaN"):
        R.align_pair(clip, np.full(10, np.nan))


def test_silence_gives_nan_with_reason(clip, caplog):
    z = np.zeros_like(clip)
    with caplog.at_level(logging.WARNING):
        assert math.isnan(R.pesq_wb(z, clip))
        assert math.isnan(R.pesq_wb(clip, z))
        assert math.isnan(R.stoi(z, clip))
        assert math.isnan(R.stoi(clip, z))
        assert math.isnan(R.spk_sim(clip, z))
        assert math.isnan(R.mos(z))
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "PESQ undefined: reference is silent" in msgs
    assert "STOI undefined: hypothesis is silent" in msgs
    assert R.mel_distance(z, z) == 0.0  # defined: both at the log floor


def test_mos_range_and_noise():
    x = _speech_or_skip_real()
    clean = R.mos(x)
    assert 1.0 <= clean <= 5.0
    p = np.sqrt(np.mean(x ** 2))
    noisy = x + np.random.default_rng(3).standard_normal(x.size).astype(np.float32) * p
    assert R.mos(noisy) < clean - 0.5  # 0 dB white noise


def _speech_or_skip_real():
    """Real read speech shipped with gradio (DistillMOS is not monotone on espeak voices)."""
    import importlib.util

    from espnet_plugin.io.audio import load_audio

    spec = importlib.util.find_spec("gradio")  # locate without importing (slow)
    p = os.path.join(list(spec.submodule_search_locations)[0], "media_assets", "audio",
                     "cate_blanch.mp3") if spec else ""
    if not os.path.exists(p):
        pytest.skip("no real speech clip available")
    return load_audio(p, SR)[: 3 * SR]


def test_online_speaker_metric_skipped(monkeypatch):
    monkeypatch.setenv("ESPNET_PLUGIN_WAVLM_SV", "/nonexistent/wavlm-sv")
    from espnet_plugin.metrics.registry import Metric

    loader = get_metric("spk_sim_wavlm", "reconstruction").loader
    m = Metric("tmp", "higher", None, "reconstruction", ("ref", "hyp"), loader=loader)
    assert m.resolve() is None


def test_online_speaker_metric_aligns_its_inputs(monkeypatch):
    # the loaded judge gets (ref, hyp) trimmed to a common length, in that order
    from espnet_plugin.metrics import judges

    seen = []
    monkeypatch.setattr(judges, "load_wavlm_sv", lambda: lambda a, b: seen.append((len(a), len(b), a[0])) or 0.5)
    fn = get_metric("spk_sim_wavlm", "reconstruction").loader()
    assert fn(ref=np.ones(1000), hyp=np.zeros(900)) == 0.5
    assert seen == [(900, 900, 1.0)]


def test_score_recon_bin(tmp_path, clip, noisy):
    from espnet_plugin.bin import score_recon
    from espnet_plugin.errors import DataError

    hyp_dir = tmp_path / "exp" / "svae_demo" / "wav"
    hyp_dir.mkdir(parents=True)
    lines = []
    for utt, ref, hyp in [("u1", clip, clip), ("u2", clip, noisy), ("u3", clip, np.zeros_like(clip))]:
        sf.write(tmp_path / f"{utt}_ref.wav", ref, SR)
        sf.write(hyp_dir / f"{utt}.wav", hyp, SR)
        lines.append(f"{utt} {tmp_path / f'{utt}_ref.wav'}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    out = tmp_path / "exp" / "svae_demo" / "score"
    rec = score_recon.main(["--ref_scp", str(tmp_path / "wav.scp"), "--hyp_dir", str(hyp_dir),
                            "--out_dir", str(out), "--metrics", "pesq,stoi,mel_distance"])
    assert rec["tag"] == "demo" and rec["n"] == 3 and rec["axis"] == "reconstruction"
    pesqs = [R.pesq_wb(clip, clip), R.pesq_wb(clip, noisy)]
    # u3 (silent output) counts at PESQ's worst value 1.0, not left out; 16-bit file rounding
    assert rec["metrics"]["pesq"] == pytest.approx(np.mean(pesqs + [1.0]), abs=0.02)
    assert rec["n_nan"] == {"pesq": 1, "stoi": 1, "mel_distance": 0}
    assert rec["directions"]["mel_distance"] == "lower"
    assert json.loads((out / "metrics.json").read_text()) == rec
    tsv = (out / "per_utt.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["utt", "pesq", "stoi", "mel_distance"]
    assert tsv[3].split("\t")[1] == "nan"
    os.remove(hyp_dir / "u2.wav")
    with pytest.raises(DataError, match="u2"):
        score_recon.main(["--ref_scp", str(tmp_path / "wav.scp"), "--hyp_dir", str(hyp_dir),
                          "--out_dir", str(out), "--metrics", "mel_distance"])
    rec = score_recon.main(["--ref_scp", str(tmp_path / "wav.scp"), "--hyp_dir", str(hyp_dir),
                            "--out_dir", str(out), "--metrics", "mel_distance", "--allow_missing",
                            "--tag", "x", "--margins", "0.5,0.25"])
    assert rec["n"] == 2 and rec["n_missing"] == 1 and rec["margins"] == {"m1": 0.5, "m2": 0.25}


def test_score_recon_checks_inputs_before_loading_judges(tmp_path, monkeypatch):
    from espnet_plugin.bin import score_recon
    from espnet_plugin.errors import DataError
    from espnet_plugin.metrics import registry

    def no_judges(*a, **k):
        raise AssertionError("judges loaded before the inputs were checked")

    monkeypatch.setattr(registry, "resolve_metrics", no_judges)
    (tmp_path / "hyp").mkdir()
    (tmp_path / "wav.scp").write_text(f"u1 {tmp_path / 'u1.wav'}\n")
    with pytest.raises(DataError, match=r"no <utt>.wav for 1 of 1 utterances .*'u1'"):
        score_recon.main(["--ref_scp", str(tmp_path / "wav.scp"), "--hyp_dir", str(tmp_path / "hyp"),
                          "--out_dir", str(tmp_path / "out"), "--allow_missing"])
    with pytest.raises(DataError, match="nothing.scp"):
        score_recon.main(["--ref_scp", str(tmp_path / "nothing.scp"), "--hyp_dir", str(tmp_path / "hyp"),
                          "--out_dir", str(tmp_path / "out")])
