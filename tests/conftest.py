"""Shared fixtures: a tiny real speech corpus, a cached spectral teacher, a tiny trained VAE.

Everything is made once per test session under pytest's tmp dir and is small enough for 2 CPU cores:
- ``speech_corpus``: 8 espeak-ng utterances (2 speakers, 16 kHz mono) as a Kaldi dir;
- ``fbank_cache``: s3prl ``fbank`` teacher features dumped by ``espnet_plugin.bin.dump_teacher``
  (spectral upstreams are for unit tests only; the recipe uses a learned teacher);
- ``trained_vae``: a tiny vanilla VAE trained for two iterations through ESPnet's trainer;
- ``hubert_teacher``: a checkpoint of the tiny HuBERT of ``conf/teacher/hubert_tiny_cpu.yaml``
  (3 layers, 96-d, hop 320), built by ESPnet's HuBERT task with random weights (no pretraining:
  the tests check alignment and plumbing, not feature quality), loaded by s3prl as
  ``espnet_hubert_local``; ``hubert_cache``: its features dumped with layer -1 (= 2) in
  ``feats.scp`` and layer 1 in ``feats_l1.scp``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Shared 2-core machines: one thread per process (ESPnet's path.sh does the same); oversubscribed
# BLAS/OpenMP threads made probe and training tests up to 10x slower. Subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


def _full_configs() -> dict[str, Path]:
    """{scale: the folder of every loss of that scale as the full config ESPnet gets}: conf/<scale>/
    base.yaml merged with each loss override by the recipe's merge tool, <folder>/train_svae_<loss>.yaml."""
    from espnet_plugin.config_merge import materialize_scale, scales

    out = Path(tempfile.mkdtemp(prefix="svae_confs_"))
    atexit.register(shutil.rmtree, out, True)
    for scale in scales(ROOT / "conf"):
        materialize_scale(scale, out, ROOT / "conf")
    return {scale: out / scale for scale in scales(ROOT / "conf")}


FULL_CONF = _full_configs()
CPU_CONF = FULL_CONF["cpu"]

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "seven small birds sang in the green garden",
    "please open the window before the rain starts",
    "she found an old map under the wooden table",
]
VOICES = {"spka": "en-us+m3", "spkb": "en+f2"}


def _synth(text: str, voice: str, path: Path, seed: int) -> np.ndarray:
    from espnet_plugin.io.audio import load_audio, write_audio

    raw = path.with_suffix(".raw.wav")
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
        wav = load_audio(raw, 16000)
        raw.unlink()
    else:  # harmonic fallback with a syllable-rate envelope
        rng = np.random.default_rng(seed)
        t = np.arange(int(16000 * 1.8)) / 16000
        f0 = 110 + 40 * rng.random()
        wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
        wav = (0.3 * wav * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    write_audio(path, wav, 16000)
    return wav


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory) -> Path:
    """A Kaldi dir (wav.scp, text, utt2spk, spk2utt, utt2num_samples) of 8 short utterances."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "wav").mkdir()
    wav_scp, text, utt2spk, nsamp = [], [], [], []
    i = 0
    for spk, voice in VOICES.items():
        for j, sent in enumerate(SENTENCES):
            utt = f"{spk}-{j:03d}"
            p = d / "wav" / f"{utt}.wav"
            w = _synth(sent, voice, p, i)
            i += 1
            wav_scp.append(f"{utt} {p}\n")
            text.append(f"{utt} {sent.upper()}\n")
            utt2spk.append(f"{utt} {spk}\n")
            nsamp.append(f"{utt} {len(w)}\n")
    for name, lines in (("wav.scp", wav_scp), ("text", text), ("utt2spk", utt2spk), ("utt2num_samples", nsamp)):
        (d / name).write_text("".join(lines))
    (d / "spk2utt").write_text(
        "".join(f"{s} {' '.join(f'{s}-{j:03d}' for j in range(len(SENTENCES)))}\n" for s in VOICES)
    )
    return d


@pytest.fixture(scope="session")
def fbank_cache(speech_corpus, tmp_path_factory) -> Path:
    """Teacher cache (feats.scp + teacher_info.json) of the s3prl fbank upstream (240-d, hop 160)."""
    from espnet_plugin.bin import dump_teacher

    out = tmp_path_factory.mktemp("teacher") / "fbank"
    dump_teacher.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--output_dir", str(out),
                       "--upstream", "fbank", "--layer", "0", "--device", "cpu"])
    return out


@pytest.fixture(scope="session")
def hubert_teacher(tmp_path_factory) -> Path:
    """``model.pth`` (+ ``config.yaml`` beside it) of the tiny HuBERT teacher, random weights."""
    import torch
    import yaml

    from espnet2.tasks.hubert import HubertTask

    d = tmp_path_factory.mktemp("hubert_tiny")
    conf = yaml.safe_load((ROOT / "conf" / "teacher" / "hubert_tiny_cpu.yaml").read_text())
    (d / "tokens").write_text("".join(f"{i}\n" for i in range(conf["num_classes"])))
    args = HubertTask.get_parser().parse_args([
        "--config", str(ROOT / "conf" / "teacher" / "hubert_tiny_cpu.yaml"), "--output_dir", str(d),
        "--token_list", str(d / "tokens")])
    torch.manual_seed(0)
    model = HubertTask.build_model(args)
    (d / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), d / "model.pth")
    return d / "model.pth"


HUBERT_CONF = ["--upstream", "espnet_hubert_local", "--layer", "-1", "--device", "cpu"]


@pytest.fixture(scope="session")
def hubert_cache(speech_corpus, hubert_teacher, tmp_path_factory) -> Path:
    """Two-layer teacher cache of ``hubert_teacher``: layer 2 (``feats.scp``) and layer 1 (``feats_l1.scp``)."""
    from espnet_plugin.bin import dump_teacher

    out = tmp_path_factory.mktemp("teacher") / "hubert"
    dump_teacher.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--output_dir", str(out),
                       *HUBERT_CONF, "--path", str(hubert_teacher), "--extra_layers", "1"])
    return out


TINY_OVERRIDES = [
    "--segment_size", "4000", "--batch_size", "2", "--max_epoch", "1", "--num_iters_per_epoch", "2",
    "--num_workers", "0", "--decoder_conf", "dim=32",
    "--decoder_conf", "intermediate_dim=64", "--decoder_conf", "num_layers=1",
    "--discriminator_conf", "periods=[2,3]", "--discriminator_conf", "mrd_conf={fft_sizes: [256], channels: 4}",
    "--model_conf", "stft_loss_conf={fft_sizes: [512, 128, 32], perceptual_weighting: true}",
    "--keep_nbest_models", "1", "--log_interval", "1",
]


def svae_train_cmd(config: Path, corpus: Path, out: Path, cache: Path | None = None, extra=(),
                   teacher=("upstream=fbank", "layer=0")) -> list[str]:
    """Command-line arguments of ``espnet_plugin.bin.svae_train`` for a tiny CPU run on ``corpus``
    (``teacher``: its ``--teacher_conf`` items, matching ``cache``)."""
    cmd = [
        "--config", str(config), "--output_dir", str(out), "--ngpu", "0",
        "--train_data_path_and_name_and_type", f"{corpus}/wav.scp,audio,sound",
        "--valid_data_path_and_name_and_type", f"{corpus}/wav.scp,audio,sound",
        "--train_shape_file", f"{corpus}/utt2num_samples", "--valid_shape_file", f"{corpus}/utt2num_samples",
        *TINY_OVERRIDES,
    ]
    if "encoder: dac" in Path(config).read_text():
        cmd += ["--encoder_conf", "d_model=4"]
    if cache is not None:
        cmd += [
            "--train_data_path_and_name_and_type", f"{cache}/feats.scp,teacher_feats,kaldi_ark",
            "--valid_data_path_and_name_and_type", f"{cache}/feats.scp,teacher_feats,kaldi_ark",
        ]
        for item in teacher:
            cmd += ["--teacher_conf", item]
    return cmd + list(extra)


@pytest.fixture(scope="session")
def trained_vae(speech_corpus, tmp_path_factory) -> Path:
    """Experiment dir of a tiny vanilla VAE trained 2 iterations with ESPnet (config.yaml + *.pth)."""
    from espnet_plugin.bin import svae_train

    out = tmp_path_factory.mktemp("svae") / "svae_vanilla"
    svae_train.main(svae_train_cmd(CPU_CONF / "train_svae_vanilla.yaml", speech_corpus, out))
    assert (out / "config.yaml").is_file()
    return out


# test files whose recipe run starts with the session (see tests/background.py): file -> module
BACKGROUND_RECIPES = {"test_recipe_micro.py": "test_recipe_micro", "test_recipe_libritts.py": "test_recipe_libritts"}


def pytest_collection_modifyitems(session, config, items):
    """The tests of background recipe runs go last: the rest of the suite runs while they train."""
    items.sort(key=lambda item: item.path.name in BACKGROUND_RECIPES)   # stable: keeps each group's order


@pytest.fixture(autouse=True, scope="session")
def _recipe_runs_in_background(request):
    """Start the recipe micro-runs of the selected recipe tests before the first test (niced, on the
    second core); their module fixtures wait for them. Killed at the end if still running."""
    import importlib

    import background

    selected = {item.path.name for item in request.session.items}
    for fname, module in BACKGROUND_RECIPES.items():
        if fname in selected:
            importlib.import_module(module).start_in_background(request)
    yield
    background.stop_all()


@pytest.fixture(autouse=True, scope="session")
def _quiet_threads():
    """Shared 2-core machines: one intra-op thread keeps the suite predictable."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(min(n, int(os.environ.get("ESPNET_PLUGIN_TEST_THREADS", "1"))))
    yield
    torch.set_num_threads(n)
