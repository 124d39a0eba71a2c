"""Load a trained speech VAE (generator only) for inference, probing, TTS and the demo.

Accepts an ESPnet training checkpoint (``exp/.../valid.*.pth``, keys ``generator.*``; the
discriminator and projection heads are ignored) or a packed ``model.pth`` (generator keys only,
with ``model.pth.sha256`` beside it, verified on load). Always ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Optional, Union

import torch
import yaml

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.generator import SpeechVAE

PathLike = Union[str, Path]


def sha256_file(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(model_path: PathLike) -> None:
    """Raise :class:`DataError` when ``<model>.sha256`` exists and does not match."""
    side = Path(str(model_path) + ".sha256")
    if side.is_file():
        want = side.read_text().split()[0]
        got = sha256_file(model_path)
        if want != got:
            raise DataError(f"checksum mismatch for {model_path}: expected {want}, got {got} (corrupt or tampered)")


def resolve_model_file(exp_dir: PathLike) -> Path:
    """Pick the weights of an experiment dir: packed model.pth, else valid.*best.pth, else latest.pth."""
    d = Path(exp_dir)
    for pattern in ("model.pth", "valid.mrstft_loss.ave.pth", "valid.mrstft_loss.best.pth", "*.ave*.pth", "*best.pth", "latest.pth"):
        hits = sorted(d.glob(pattern))
        if hits:
            return hits[0]
    raise ConfigError(f"no model weights (*.pth) in {exp_dir}")


def load_svae(config_path: PathLike, model_path: Optional[PathLike] = None, device: str = "cpu") -> SpeechVAE:
    """Build the generator from an ESPnet ``config.yaml`` and load its weights (eval mode).

    Returns a :class:`SpeechVAE` with ``encode(wav (B,N)) -> (z (B,T,D), lengths)``,
    ``decode(z (B,T,D)) -> (B, T*hop)``, ``fs``, ``hop_length``, ``latent_dim``.
    """
    from espnet_plugin.vae.choices import build_generator

    config_path = Path(config_path)
    if not config_path.is_file():
        raise ConfigError(f"VAE config not found: {config_path}")
    with open(config_path, encoding="utf-8") as f:
        args = argparse.Namespace(**yaml.safe_load(f))
    gen = build_generator(args)
    if model_path is None:
        model_path = resolve_model_file(config_path.parent)
    verify_checksum(model_path)
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    if any(k.startswith("generator.") for k in state):
        state = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    missing, unexpected = gen.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(("window", "mel_fb", "fb"))]
    if missing:
        raise ConfigError(f"{model_path} does not match {config_path}: missing {missing[:5]} (+{max(len(missing) - 5, 0)})")
    return gen.to(device).eval()
