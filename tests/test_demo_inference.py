"""Demo back end: input conversion (odd formats), limits, allowed models, cached models, resynthesis, TTS.

The helpers ``make_tiny_exp`` and ``speech_clip`` are also used by test_demo_server.py and
test_demo_browser.py: a tiny VAE built by ``SpeechVAETask`` from the cpu scale's vanilla config
(random weights, saved like a packed model) and a 2 s espeak-ng clip.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import CPU_CONF
from espnet_plugin.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
FS = 16000


def make_tiny_exp(d: Path, seed: int = 0) -> Path:
    """A packed-style VAE dir: config.yaml (the task's full config dump) + model.pth + sha256."""
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    from espnet_plugin.tasks.speech_vae import SpeechVAETask
    from espnet_plugin.vae.loading import sha256_file

    d.mkdir(parents=True, exist_ok=True)
    args = SpeechVAETask.get_parser().parse_args(
        ["--config", str(CPU_CONF / "train_svae_vanilla.yaml"), "--distill_conf", "{terms: []}",
         "--output_dir", str(d)])
    (d / "config.yaml").write_text(yaml_no_alias_safe_dump(vars(args), indent=4, sort_keys=False))
    torch.manual_seed(seed)
    gen = SpeechVAETask.build_generator(args)
    torch.save(gen.state_dict(), d / "model.pth")
    (d / "model.pth.sha256").write_text(f"{sha256_file(d / 'model.pth')}  model.pth\n")
    return d


def speech_clip(path: Path, text: str = "Please call Stella and ask her to bring these things.") -> Path:
    """A 16 kHz mono wav of about 2 s of speech (espeak-ng, else a pulse train through formants)."""
    if shutil.which("espeak-ng"):
        raw = path.with_suffix(".raw.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), text], check=True)
        x, sr = sf.read(raw, dtype="float32")
        from espnet_plugin.io.audio import resample

        x = resample(x, sr, FS)[: 2 * FS]
    else:
        from scipy.signal import lfilter

        src = np.zeros(2 * FS)
        src[:: FS // 120] = 1.0
        x = lfilter([1.0], [1, -1.9, 0.95], src).astype(np.float32)
    sf.write(path, 0.8 * x / np.abs(x).max(), FS, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    return make_tiny_exp(tmp_path_factory.mktemp("demo") / "svae_tiny")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return speech_clip(tmp_path_factory.mktemp("clip") / "speech.wav")


# ---------------------------------------------------------------- conversion of odd inputs
def test_pcm_to_float_hand_values():
    from espnet_plugin.demo.inference import pcm_to_float

    np.testing.assert_array_equal(pcm_to_float(np.array([-32768, 0, 16384], np.int16)), [-1.0, 0.0, 0.5])
    np.testing.assert_array_equal(pcm_to_float(np.array([0, 128, 192], np.uint8)), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(pcm_to_float(np.array([2**30], np.int32)), [0.5])
    assert pcm_to_float(np.array([0.25], np.float64)).dtype == np.float32
    with pytest.raises(DataError):
        pcm_to_float(np.array(["a"]))


def _stereo_44k(seconds=1.0):
    """(N, 2) int16 at 44.1 kHz: 440 Hz sine at 0.5 on the left, 0.25 on the right."""
    t = np.arange(int(44100 * seconds)) / 44100
    s = np.sin(2 * np.pi * 440 * t)
    return (np.stack([0.5 * s, 0.25 * s], 1) * 32767).astype(np.int16)


def test_stereo_44k_int16_tuple_and_file(tmp_path):
    from espnet_plugin.demo.inference import to_mono_16k

    x = _stereo_44k()
    y = to_mono_16k((44100, x))
    assert y.dtype == np.float32 and y.shape == (round(44100 * 16000 / 44100),)
    # channel mean = 0.375 * sine, resampled: amplitude and frequency survive
    assert np.max(np.abs(y[1000:-1000])) == pytest.approx(0.375, abs=0.01)
    spec = np.abs(np.fft.rfft(y))
    assert np.argmax(spec) * FS / len(y) == pytest.approx(440, abs=2)
    np.testing.assert_allclose(to_mono_16k((44100, x.T.copy())), y, atol=1e-6)  # channels-first
    p = tmp_path / "stereo.wav"
    sf.write(p, x, 44100, subtype="PCM_16")
    np.testing.assert_allclose(to_mono_16k(str(p)), y, atol=1e-4)
    np.testing.assert_allclose(to_mono_16k({"path": str(p)}), y, atol=1e-4)
    flac = tmp_path / "stereo.flac"
    sf.write(flac, x, 44100)
    np.testing.assert_allclose(to_mono_16k(flac), y, atol=1e-4)


def test_mp3_reads_without_ffmpeg():
    import importlib.util

    from espnet_plugin.demo.inference import to_mono_16k

    spec = importlib.util.find_spec("gradio")  # gradio ships real speech clips; locate without importing
    mp3 = Path(list(spec.submodule_search_locations)[0]) / "media_assets/audio/cate_blanch.mp3" if spec else None
    if mp3 is None or not mp3.is_file():
        pytest.skip("no mp3 clip available")
    x, sr = sf.read(mp3, dtype="float32")  # (the mp3 header's frame count is only an estimate)
    y = to_mono_16k(mp3, max_seconds=60)
    assert y.shape[0] == round(x.shape[0] * FS / sr) and np.abs(y).max() > 0.01


def test_float_input_above_full_scale_is_rescaled():
    from espnet_plugin.demo.inference import to_mono_16k

    y = to_mono_16k((FS, np.array([0.0, 4.0, -2.0] * 2000, np.float32)))
    assert np.max(np.abs(y)) == pytest.approx(1.0)


def test_silent_short_long_and_non_audio_give_clear_errors(tmp_path):
    from espnet_plugin.demo.inference import to_mono_16k

    with pytest.raises(DataError, match="silent"):
        to_mono_16k((FS, np.zeros(FS, np.int16)))
    with pytest.raises(DataError, match="limit is 2 s"):
        to_mono_16k((FS, np.ones(3 * FS, np.float32) * 0.1), max_seconds=2)
    long_file = tmp_path / "long.wav"
    sf.write(long_file, np.full(5 * 8000, 0.1, np.float32), 8000)
    with pytest.raises(DataError, match="limit is 2 s"):
        to_mono_16k(long_file, max_seconds=2)  # refused from the header
    with pytest.raises(DataError, match="too short"):
        to_mono_16k((FS, np.ones(100, np.float32)))
    with pytest.raises(DataError, match=r"too short \(0\.1 s\): give at least 0\.25 s"):
        to_mono_16k((FS, np.full(FS // 10, 0.1, np.float32)))  # PESQ needs 0.25 s; nothing to hear either
    txt = tmp_path / "notes.wav"
    txt.write_text("this is not audio\n" * 50)
    with pytest.raises(DataError, match="'notes.wav' is not audio"):
        to_mono_16k(str(txt))
    with pytest.raises(DataError, match="no audio"):
        to_mono_16k(None)
    with pytest.raises(DataError, match="NaN"):
        to_mono_16k((FS, np.full(FS, np.nan, np.float32)))


# ---------------------------------------------------------------- models
def test_bank_allows_only_named_models_and_caches(exp_dir, tmp_path):
    from espnet_plugin.demo.inference import ModelBank

    bank = ModelBank([f"a={exp_dir}", str(exp_dir)])
    assert bank.names == ["a", "svae_tiny"]
    assert bank.get("a") is bank.get("svae_tiny")  # same files: loaded once
    assert ModelBank([str(exp_dir)]).get("svae_tiny") is bank.get("a")
    assert bank.check_selection(["svae_tiny", "a", "a"]) == ["a", "svae_tiny"]
    assert bank.describe("a") == "dac → gaussian → vocos · no SSL alignment (vanilla)"
    for bad in (["svae_other"], ["../../etc/passwd"], [], None, [3]):
        with pytest.raises(ConfigError):
            bank.check_selection(bad)
    with pytest.raises(ConfigError, match="share the name"):
        ModelBank([str(exp_dir), str(exp_dir)])
    with pytest.raises(ConfigError, match="not a directory"):
        ModelBank([str(tmp_path / "missing")])


def test_resolve_exp_packed_subdir_and_checksum(exp_dir, tmp_path):
    from espnet_plugin.demo.inference import ModelBank, resolve_exp

    train = tmp_path / "svae_x"
    shutil.copytree(exp_dir, train / "packed")
    spec = resolve_exp(str(train))
    assert spec.name == "svae_x" and spec.model_file == (train / "packed" / "model.pth").resolve()
    bad = tmp_path / "svae_bad"
    shutil.copytree(exp_dir, bad)
    (bad / "model.pth.sha256").write_text("0" * 64 + "  model.pth\n")
    with pytest.raises(DataError, match="checksum"):
        ModelBank([str(bad)])


def test_resynthesis_matches_direct_encode_decode(exp_dir, clip):
    from espnet_plugin.demo.inference import ModelBank, run_resynthesis, to_mono_16k
    from espnet_plugin.vae.loading import load_svae

    bank = ModelBank([str(exp_dir)])
    wav, res = run_resynthesis(bank, str(clip), ["svae_tiny"], metrics=("pesq", "stoi"))
    n = sf.info(clip).frames
    assert wav.shape == (n,) and len(res) == 1
    r = res[0]
    assert r.wav.shape == (n,) and r.latent.shape == (math.ceil(n / 400), 64)
    vae = load_svae(exp_dir / "config.yaml", exp_dir / "model.pth")
    with torch.no_grad():
        z, _ = vae.encode(torch.from_numpy(to_mono_16k(str(clip)))[None])
        y = vae.decode(z)[0, :n].numpy()
    np.testing.assert_allclose(r.latent, z[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(r.wav, y, atol=1e-4)
    assert set(r.metrics) == {"pesq", "stoi"} and r.seconds > 0
    with pytest.raises(ConfigError, match="not offered"):
        run_resynthesis(bank, str(clip), ["svae_tiny", "evil"])


def test_clip_metrics_failing_or_unavailable_judge_is_nan(monkeypatch):
    from espnet_plugin.demo.inference import clip_metrics
    from espnet_plugin.metrics.registry import get_metric

    def crash(ref, hyp):
        raise RuntimeError("judge crashed")

    monkeypatch.setattr(get_metric("stoi", axis="reconstruction"), "fn", crash)
    monkeypatch.setattr(get_metric("pesq", axis="reconstruction"), "fn", lambda ref, hyp: 2.5)
    x = np.sin(np.arange(FS) / 7).astype(np.float32)
    out = clip_metrics(x, x, ("pesq", "stoi"))
    assert out["pesq"] == 2.5 and math.isnan(out["stoi"]) and list(out) == ["pesq", "stoi"]
    with pytest.raises(ConfigError, match="unknown metric"):
        clip_metrics(x, x, ("bogus",))


def test_read_examples_wav_scp_and_dir(tmp_path, clip):
    from espnet_plugin.demo.app import read_examples

    (tmp_path / "a.wav").write_bytes(clip.read_bytes())
    scp = tmp_path / "wav.scp"
    scp.write_text(f"u0 sox x.wav -t wav - |\nu1 {tmp_path / 'missing.wav'}\nu2 a.wav\nu3 {clip}\nu4 {clip}\n")
    assert read_examples(scp, n=2) == [("u2", tmp_path / "a.wav"), ("u3", clip)]
    assert read_examples(tmp_path) == [("a", tmp_path / "a.wav")]
    assert read_examples(None) == []
    with pytest.raises(ConfigError):
        read_examples(tmp_path / "nope.scp")


# ---------------------------------------------------------------- latent TTS tab back end
def make_tiny_tts(d: Path, vae_dir: Path) -> Path:
    """A TTS exp dir (config.yaml + model.pth) whose data paths point at ``vae_dir``/latents."""
    import argparse

    import yaml

    from espnet_plugin.tasks.latent_tts import LatentTTSTask
    from espnet_plugin.tts.text import token_list_from_text

    d.mkdir(parents=True, exist_ok=True)
    (d / "chars.txt").write_text("u0 abcdefghijklmnopqrstuvwxyz .\n")
    tokens = token_list_from_text(d / "chars.txt", d / "tokens.txt").read_text().split()
    conf = dict(
        token_list=tokens, token_type="char",
        dit_conf=dict(dim=32, depth=1, heads=2, dim_head=16, text_dim=16, conv_layers=1, latent_dim=64),
        cfm_conf={}, model_conf=dict(ema_decay=None),
        train_data_path_and_name_and_type=[[f"{vae_dir}/latents/train/latents.scp", "feats", "kaldi_ark"]],
    )
    torch.manual_seed(0)
    model = LatentTTSTask.build_model(argparse.Namespace(**conf))
    (d / "config.yaml").write_text(yaml.safe_dump(conf))
    torch.save(model.state_dict(), d / "valid.loss.best.pth")
    return d


def test_tts_demo_length_rule_and_errors(exp_dir, clip, tmp_path):
    from espnet_plugin.demo.inference import TTSDemo

    tts = TTSDemo(make_tiny_tts(tmp_path / "tts", exp_dir))  # VAE found from the config's latents path
    assert tts.vae_name == "svae_tiny"
    prompt = sf.read(clip, dtype="float32")[0][:FS]  # 1 s -> 40 prompt frames
    wav = tts.synthesize((FS, prompt), "hello there", "hi", nfe=2, cfg_strength=2.0, seed=0)
    assert wav.shape == (int(40 / 11 * 2) * 400,)  # F5 rule: 40 / len("hello there") * len("hi") frames
    with pytest.raises(DataError, match="transcript"):
        tts.synthesize((FS, prompt), "", "hi")
    with pytest.raises(DataError, match="NFE"):
        tts.synthesize((FS, prompt), "a", "b", nfe=1000)
    with pytest.raises(DataError, match="silent"):
        tts.synthesize((FS, np.zeros(FS, np.float32)), "a", "b")
