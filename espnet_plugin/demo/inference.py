"""Demo back end: cached models, input conversion, resynthesis, per-clip metrics, latent TTS.

Nothing here imports gradio, so every rule the demo enforces (format, length, silence, allowed
models) is a plain function that raises :class:`DataError` / :class:`ConfigError` with a
message meant for the person at the browser; ``app.py`` turns those into ``gr.Error``.

Shapes: waveforms are (N,) float32 at 16 kHz; latents are (T, D) with T = ceil(N / hop).
"""
from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import soundfile as sf
import torch
import yaml

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.audio import downmix, is_silent, pcm_to_float, resample
from espnet_plugin.pack import resolve_tts_model_file  # noqa: F401 (re-exported: used to live here)

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
FS = 16000
MIN_SECONDS = 0.25  # shortest clip accepted: PESQ's minimum; a 0.1 s clip can be neither judged nor heard
MAX_TEXT_CHARS = 400
DEMO_METRICS = ("pesq", "stoi", "spk_sim", "mos")


# ---------------------------------------------------------------- experiments and models
@dataclass(frozen=True)
class ExpSpec:
    """One model offered by the demo: display ``name``, its dir, config and weights."""

    name: str
    path: Path
    config: Path
    model_file: Path


def _default_name(d: Path) -> str:
    return d.parent.name if d.name == "packed" and d.parent.name else d.name


def resolve_exp(spec: str) -> ExpSpec:
    """``[NAME=]DIR`` -> :class:`ExpSpec`.

    ``DIR`` is a trained VAE dir (``config.yaml`` + ESPnet ``*.pth``, picked by
    :func:`resolve_model_file`), a packed dir (``config.yaml`` + ``model.pth`` [+ ``.sha256``]),
    a trained dir without weights whose ``packed/`` subdir holds them, or an ESPnet-style pack
    (a ``.zip`` written by ``espnet_plugin.bin.pack`` or its unpacked dir with ``meta.yaml``;
    default name: the zip's stem).

    Raises:
        ConfigError: missing dir, config or weights.
    """
    from espnet_plugin.vae.loading import resolve_model_file

    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    d = Path(path).expanduser()
    if (d.is_file() and zipfile.is_zipfile(d)) or (d / "meta.yaml").is_file():  # an ESPnet-style pack
        from espnet_plugin.pack import resolve_pretrained

        files = resolve_pretrained(d, kind="svae").files
        stem = d.name[: -len(".zip")] if d.name.endswith(".zip") else d.name
        return ExpSpec(name or stem, d.resolve(), files["train_config"].resolve(), files["model_file"].resolve())
    if not d.is_dir():
        raise ConfigError(f"--exp {spec!r}: not a directory")
    if not (d / "config.yaml").is_file() and (d / "packed" / "config.yaml").is_file():
        d = d / "packed"
    if not (d / "config.yaml").is_file():
        raise ConfigError(f"--exp {spec!r}: no config.yaml in {d}")
    try:
        model_file = resolve_model_file(d)
    except ConfigError:
        if not (d / "packed" / "model.pth").is_file():
            raise
        d, model_file = d / "packed", d / "packed" / "model.pth"
    return ExpSpec(name or _default_name(d.resolve()), d.resolve(), (d / "config.yaml").resolve(), model_file.resolve())


@functools.lru_cache(maxsize=32)
def load_vae_cached(config: str, model_file: str, device: str = "cpu") -> torch.nn.Module:
    """``load_svae`` (``torch.load(weights_only=True)``, checksum verified), once per (paths, device)."""
    from espnet_plugin.vae.loading import load_svae

    t0 = time.perf_counter()
    vae = load_svae(config, model_file, device=device)
    logger.info("loaded %s (%s) in %.1f s", model_file, device, time.perf_counter() - t0)
    return vae


class ModelBank:
    """The models named on the command line; the only ones a request may use.

    Args:
        exps: ``[NAME=]DIR`` strings (see :func:`resolve_exp`).
        device: torch device of every model.
        preload: load all models now (fails early on a bad checkpoint).
    """

    def __init__(self, exps: Sequence[str], device: str = "cpu", preload: bool = True):
        if not exps:
            raise ConfigError("give at least one --exp <trained VAE dir>")
        self.specs: dict[str, ExpSpec] = {}
        for s in exps:
            spec = resolve_exp(s)
            if spec.name in self.specs:
                raise ConfigError(f"two --exp share the name {spec.name!r}: use NAME=DIR to tell them apart")
            self.specs[spec.name] = spec
        self.device = device
        if preload:
            for n in self.specs:
                self.get(n)

    def describe(self, name: str) -> str:
        """One line about a model: its networks and alignment (distillation) terms."""
        try:
            with open(self.specs[name].config, encoding="utf-8") as f:
                cfg = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            return ""
        terms = (cfg.get("distill_conf") or {}).get("terms") or []
        terms = [t.get("name", "?") for t in terms if isinstance(t, dict)]
        teacher = (cfg.get("teacher_conf") or {}).get("upstream")
        align = f"aligned to {teacher} with {' + '.join(terms)}" if terms else "no SSL alignment (vanilla)"
        if cfg.get("encoder") == "mel":
            return f"fixed log-mel frames + {cfg.get('decoder', '?')} vocoder (mel baseline)"
        return f"{cfg.get('encoder', '?')} → {cfg.get('bottleneck', '?')} → {cfg.get('decoder', '?')} · {align}"

    @property
    def names(self) -> list[str]:
        """Model names in command-line order."""
        return list(self.specs)

    def get(self, name: str) -> torch.nn.Module:
        """The (cached) model called ``name``; ConfigError for any other name."""
        self.check_selection([name])
        s = self.specs[name]
        return load_vae_cached(str(s.config), str(s.model_file), self.device)

    def check_selection(self, selected: Any) -> list[str]:
        """Validate a request's model list (server side): non-empty, only known names.

        Returns:
            The selected names in command-line order, without duplicates.
        """
        if isinstance(selected, str):
            selected = [selected]
        if not selected:
            raise ConfigError("select at least one model")
        bad = [s for s in selected if not isinstance(s, str) or s not in self.specs]
        if bad:
            raise ConfigError(f"model(s) {bad} not offered by this demo; choose from {self.names}")
        return [n for n in self.specs if n in set(selected)]


# ---------------------------------------------------------------- input conversion
def _decode_file(path: Path, max_seconds: float) -> tuple[int, np.ndarray]:
    """Read ``path`` with libsndfile (wav/flac/mp3/ogg/...), else ffmpeg when installed."""
    shown = path.name
    if not path.is_file():
        raise DataError(f"uploaded file {shown!r} not found on the server")
    try:
        info = sf.info(str(path))
        if info.samplerate > 0 and info.frames / info.samplerate > max_seconds + 0.5:
            raise DataError(f"{shown!r} is {info.frames / info.samplerate:.1f} s long: the limit is {max_seconds:g} s")
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return int(sr), data
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types on non-audio input
        if shutil.which("ffmpeg") is None:
            raise DataError(f"{shown!r} is not audio this server can read (wav, flac, mp3, ogg)") from exc
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-t", str(max_seconds + 1),
           "-f", "f32le", "-ac", "1", "-ar", str(FS), "pipe:1"]
    res = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if res.returncode != 0 or not res.stdout:
        raise DataError(f"{shown!r} is not audio (ffmpeg could not decode it)")
    return FS, np.frombuffer(res.stdout, dtype=np.float32)[:, None]


def to_mono_16k(audio: Any, max_seconds: float = 30.0, fs: int = FS) -> np.ndarray:
    """Any input the UI or an API client sends -> validated (N,) float32 mono at ``fs``.

    Args:
        audio: ``(sample_rate, array)`` (gradio numpy: int16 or float, (N,) or (N, C)),
            a file path, or a dict / object with a ``path`` (gradio ``FileData``).
        max_seconds: longest accepted clip.
    Raises:
        DataError: no input, not audio, NaN/Inf, shorter than ``MIN_SECONDS``, longer than
            ``max_seconds``, or silent (peak below -80 dBFS).
    """
    if audio is None:
        raise DataError("no audio: upload or record a clip first")
    if isinstance(audio, Mapping):
        audio = audio.get("path")
    elif hasattr(audio, "path") and not isinstance(audio, (str, Path)):
        audio = audio.path
    if isinstance(audio, (tuple, list)) and len(audio) == 2:
        sr, data = int(audio[0]), np.asarray(audio[1])
    elif isinstance(audio, (str, Path)):
        sr, data = _decode_file(Path(audio), max_seconds)
    else:
        raise DataError(f"cannot read audio from a {type(audio).__name__}")
    if sr <= 0:
        raise DataError(f"invalid sample rate {sr}")
    x = downmix(pcm_to_float(data))
    if x.size / sr > max_seconds + 1e-6:
        raise DataError(f"clip is {x.size / sr:.1f} s long: the limit is {max_seconds:g} s (trim it and retry)")
    if x.size / sr < MIN_SECONDS:
        raise DataError(f"clip is too short ({x.size / sr:.3g} s): give at least {MIN_SECONDS:g} s of speech")
    if not np.all(np.isfinite(x)):
        raise DataError("audio contains NaN or Inf samples")
    if is_silent(x):
        raise DataError("the clip is silent (peak below -80 dBFS): check the microphone or the file")
    peak = float(np.max(np.abs(x)))
    if peak > 1.0:
        x = x / peak  # float input outside [-1, 1]: scale instead of clipping
    return np.ascontiguousarray(resample(x, sr, fs), dtype=np.float32)


# ---------------------------------------------------------------- resynthesis and metrics
@torch.inference_mode()
def resynthesize(vae: torch.nn.Module, wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode (posterior mean) and decode one clip.

    Args:
        vae: a :class:`SpeechVAE` (``encode (B, N) -> (B, T, D)``, ``decode (B, T, D) -> (B, T*hop)``).
        wav: (N,) float32 at ``vae.fs``.
    Returns:
        (N,) resynthesis (trimmed / zero-padded to N) and latents (T, D), T = ceil(N / hop).
    """
    dev = next(vae.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(dev)[None]
    z, _ = vae.encode(x)
    y = vae.decode(z)[0].float().cpu().numpy()[: wav.shape[0]]
    if y.shape[0] < wav.shape[0]:
        y = np.pad(y, (0, wav.shape[0] - y.shape[0]))
    return y.astype(np.float32), z[0].float().cpu().numpy()


def clip_metrics(ref: np.ndarray, hyp: np.ndarray, names: Sequence[str] = DEMO_METRICS) -> dict[str, float]:
    """Reconstruction metrics of one clip (registry names); NaN where undefined, unavailable or failing.

    Raises:
        ConfigError: an unknown metric name.
    """
    from espnet_plugin.metrics.registry import get_metric, score_utterance

    metrics = [get_metric(n, axis="reconstruction") for n in names]
    # one judge failing must not break the page: it is logged and shown as n/a
    scores = score_utterance(metrics, on_error="nan", ref=ref, hyp=hyp)
    return {n: scores.get(n, float("nan")) for n in names}


@dataclass
class Resynthesis:
    """One model's output: ``wav`` (N,), ``latent`` (T, D), ``metrics``, wall ``seconds``."""

    name: str
    wav: np.ndarray
    latent: np.ndarray
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)


def run_resynthesis(
    bank: ModelBank,
    audio: Any,
    selected: Any,
    max_seconds: float = 30.0,
    metrics: Sequence[str] = DEMO_METRICS,
) -> tuple[np.ndarray, list[Resynthesis]]:
    """Validate the request, convert the input, resynthesise with each selected model.

    Returns:
        The (N,) 16 kHz input and one :class:`Resynthesis` per selected model (bank order).
    Raises:
        ConfigError: no model / a model not on the command line. DataError: bad audio.
    """
    names = bank.check_selection(selected)
    wav = to_mono_16k(audio, max_seconds, FS)
    results = []
    for n in names:
        vae = bank.get(n)
        if int(vae.fs) != FS:
            raise ConfigError(f"model {n!r} runs at {vae.fs} Hz; the demo expects {FS} Hz models")
        t0 = time.perf_counter()
        y, z = resynthesize(vae, wav)
        results.append(Resynthesis(n, y, z, time.perf_counter() - t0))
    for r in results:
        r.metrics = clip_metrics(wav, r.wav, metrics) if metrics else {}
    return wav, results


# ---------------------------------------------------------------- latent TTS
def _latent_exp_of(cfg: Mapping[str, Any]) -> Optional[Path]:
    """The VAE dir a TTS was trained on: ``<vae>/latents/<set>/...scp`` in its data paths."""
    for key in ("train_data_path_and_name_and_type", "valid_data_path_and_name_and_type"):
        for entry in cfg.get(key) or []:
            p = Path(str(entry[0] if isinstance(entry, (list, tuple)) else entry).split(",")[0])
            if "latents" in p.parts:
                d = Path(*p.parts[: len(p.parts) - 1 - p.parts[::-1].index("latents")])
                if (d / "config.yaml").is_file() or (d / "packed" / "config.yaml").is_file():
                    return d
    return None


class TTSDemo:
    """A latent TTS (:class:`espnet_plugin.tts.synthesizer.LatentTTS`) + the VAE it was trained on.

    Args:
        tts_exp: TTS exp dir (``config.yaml`` + weights), or a TTS pack (.zip / unpacked dir;
            its packed VAE is used unless ``vae_exp`` is given).
        vae_exp: ``[NAME=]DIR`` of its VAE; default: the dir whose ``latents/`` the TTS was
            trained on (read from its config), else the only ``--exp`` given.
        fallback_exps: the demo's ``--exp`` list (used for that last rule).
        device: torch device.
    """

    def __init__(
        self, tts_exp: PathLike, vae_exp: Optional[str] = None, fallback_exps: Sequence[str] = (), device: str = "cpu"
    ):
        from espnet_plugin.tts.synthesizer import LatentTTS

        d = Path(tts_exp)
        if (d.is_file() and zipfile.is_zipfile(d)) or (d / "meta.yaml").is_file():  # a TTS pack: its own VAE
            from espnet_plugin.pack import resolve_pretrained

            files = resolve_pretrained(d, kind="tts").files
            vae_name, vae = d.name, None
            if vae_exp is not None or "vae_train_config" not in files:
                if vae_exp is None and len(fallback_exps) != 1:
                    raise ConfigError(f"--tts_exp {tts_exp}: the pack holds no VAE: give --tts_vae_exp")
                spec = resolve_exp(vae_exp if vae_exp is not None else fallback_exps[0])
                vae_name, vae = spec.name, load_vae_cached(str(spec.config), str(spec.model_file), device)
            else:
                vae = load_vae_cached(str(files["vae_train_config"]), str(files["vae_model_file"]), device)
            self.vae_name = vae_name
            self.tts = LatentTTS(files["train_config"], files["model_file"], vae=vae, device=device)
            self.fs = int(vae.fs)
            return
        if not (d / "config.yaml").is_file():
            raise ConfigError(f"--tts_exp {tts_exp}: no config.yaml")
        if vae_exp is None:
            with open(d / "config.yaml", encoding="utf-8") as f:
                found = _latent_exp_of(yaml.safe_load(f) or {})
            if found is not None:
                vae_exp = str(found)
            elif len(fallback_exps) == 1:
                vae_exp = fallback_exps[0]
            else:
                raise ConfigError(f"cannot tell which VAE {tts_exp} was trained on: give --tts_vae_exp")
        spec = resolve_exp(vae_exp)
        vae = load_vae_cached(str(spec.config), str(spec.model_file), device)
        self.vae_name = spec.name
        self.tts = LatentTTS(d / "config.yaml", resolve_tts_model_file(d), vae=vae, device=device)
        self.fs = int(vae.fs)

    def synthesize(self, prompt_audio: Any, prompt_text: str, target_text: str, nfe: int = 16,
                   cfg_strength: float = 2.0, seed: int = 0, max_seconds: float = 30.0) -> np.ndarray:
        """Prompt clip + its transcript + the text to say -> (N_gen,) float32 waveform at ``fs``."""
        prompt_text, target_text = (prompt_text or "").strip(), (target_text or "").strip()
        if not prompt_text or not target_text:
            raise DataError("give both the prompt's transcript and the text to synthesise")
        if len(prompt_text) + len(target_text) > MAX_TEXT_CHARS:
            raise DataError(f"texts too long ({len(prompt_text) + len(target_text)} characters > {MAX_TEXT_CHARS})")
        if not (1 <= int(nfe) <= 64) or not (0.0 <= float(cfg_strength) <= 10.0):
            raise DataError(f"NFE must be in 1..64 and CFG in 0..10 (got {nfe}, {cfg_strength})")
        wav = to_mono_16k(prompt_audio, max_seconds, self.fs)
        out = self.tts.synthesize([wav], [prompt_text], [target_text], nfe=int(nfe),
                                  cfg_strength=float(cfg_strength), seed=int(seed))
        return out[0][0]
