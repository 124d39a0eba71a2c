"""Load a trained speech VAE (generator only) for inference, probing, TTS and the demo.

Accepts an ESPnet training checkpoint (``exp/.../valid.*.pth``, keys ``generator.*``; the
discriminator and projection heads are ignored) or a packed ``model.pth`` (generator keys only,
with ``model.pth.sha256`` beside it, verified on load). Always ``torch.load(weights_only=True)``.
A checkpoint trained with a generator EMA gives its EMA weights (``generator_ema.module.*``, see
:mod:`espnet_plugin.vae.ema`) unless ``use_ema=False``; packing stores the weights loaded.

Weights are loaded with :func:`load_state_checked`: a checkpoint whose keys differ from the model
built from the config (missing *or* unexpected keys, e.g. a bigger model's checkpoint for a smaller
config) is refused with a :class:`ConfigError` naming the checkpoint file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch
import yaml
from torch import nn

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.pack import Packed, resolve_model_file, sha256_file  # noqa: F401 (re-exported)
from espnet_plugin.vae.generator import SpeechVAE

PathLike = Union[str, Path]


def verify_checksum(model_path: PathLike) -> None:
    """Raise :class:`DataError` when ``<model>.sha256`` exists and does not match."""
    side = Path(str(model_path) + ".sha256")
    if side.is_file():
        want = side.read_text().split()[0]
        got = sha256_file(model_path)
        if want != got:
            raise DataError(f"checksum mismatch for {model_path}: expected {want}, got {got} (corrupt or tampered)")


#: State-dict key suffixes of persistent buffers that are fixed functions of the config (the
#: ``mel`` encoder's torchaudio STFT window and mel filterbank): a checkpoint may lack them, the
#: values built from the config are used. Everything else must match exactly.
DERIVED_BUFFER_SUFFIXES = (".spectrogram.window", ".mel_scale.fb")


def _key_list(keys: List[str], n: int = 5) -> str:
    """``[a, b, ...] (+k more)``: the first ``n`` keys of a mismatch."""
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return f"{keys[:n]}{more}"


def read_state_dict(model_file: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, torch.Tensor]:
    """``torch.load(model_file, weights_only=True)`` of a state dict (name -> tensor).

    Raises:
        ConfigError: ``model_file`` does not exist.
        DataError: it cannot be read as a state dict (corrupt, truncated, pickled objects, not a dict).
    """
    if not Path(model_file).is_file():
        raise ConfigError(f"model file not found: {model_file}")
    try:
        state = torch.load(model_file, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated file, pickled objects in a training checkpoint.pth
        raise DataError(
            f"cannot read {model_file} as a state dict (use <N>epoch.pth / *.best.pth / model.pth): {e}"
        ) from e
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise DataError(f"{model_file} is not a state dict (a mapping of parameter names to tensors)")
    return dict(state)


def load_state_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    model_file: PathLike,
    config_file: Optional[PathLike] = None,
    tolerate_missing: Iterable[str] = DERIVED_BUFFER_SUFFIXES,
) -> None:
    """Load ``state`` into ``module``, refusing any key mismatch.

    Args:
        module: the model built from the config.
        state: its weights, as read from ``model_file``.
        model_file / config_file: named in the error.
        tolerate_missing: key suffixes that may be missing from ``state`` (see
            :data:`DERIVED_BUFFER_SUFFIXES`); unexpected keys are never tolerated.

    Raises:
        ConfigError: ``state`` lacks keys of ``module``, holds keys ``module`` does not have (naming
            ``model_file`` and ``config_file`` and listing a few of each) or a tensor of another shape.
    """
    suffixes = tuple(tolerate_missing)
    against = f" (built from {config_file})" if config_file is not None else ""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a key whose tensor has another shape
        raise ConfigError(f"{model_file} does not match the model{against}: {e}") from e
    missing = [k for k in missing if not (suffixes and k.endswith(suffixes))]
    if missing or unexpected:
        raise ConfigError(
            f"{model_file} does not match the model{against}: missing {_key_list(missing)}, "
            f"unexpected {_key_list(unexpected)}"
        )


def load_svae(
    config_path: PathLike, model_path: Optional[PathLike] = None, device: str = "cpu", use_ema: bool = True
) -> SpeechVAE:
    """Build the generator from an ESPnet ``config.yaml`` and load its weights (eval mode).

    Returns a :class:`SpeechVAE` with ``encode(wav (B,N)) -> (z (B,T,D), lengths)``,
    ``decode(z (B,T,D)) -> (B, T*hop)``, ``fs``, ``hop_length``, ``latent_dim``.

    ``model_path`` defaults to the weights :func:`resolve_model_file` picks beside the config.
    ``config_path`` may also be a pack (without ``model_path``): a packed ``.zip``, an unpacked
    dir with ``meta.yaml`` or a packed dir (:func:`espnet_plugin.pack.resolve_pretrained`).
    ``use_ema``: take the generator's EMA weights when the checkpoint has them (else the trained ones).

    Raises:
        ConfigError: missing or unparsable config, missing weights, or weights that do not match the config.
        DataError: checksum mismatch or unreadable weights.
    """
    return load_svae_with_config(config_path, model_path, device, use_ema)[0]


def load_svae_with_config(
    config_path: PathLike, model_path: Optional[PathLike] = None, device: str = "cpu", use_ema: bool = True
) -> Tuple[SpeechVAE, Dict[str, Any]]:
    """:func:`load_svae`, also returning the parsed ``config.yaml`` (a dict)."""
    from espnet_plugin.vae.choices import build_generator
    from espnet_plugin.vae.ema import generator_state

    from espnet_plugin.pack import is_pack_ref, resolve_pretrained

    config_path = Path(config_path)
    if model_path is None and is_pack_ref(config_path):  # a packed .zip, or a (un)packed dir
        files = resolve_pretrained(config_path, kind="svae").files
        config_path, model_path = files["train_config"], files["model_file"]
    if not config_path.is_file():
        raise ConfigError(f"VAE config not found: {config_path}")
    with open(config_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise ConfigError(f"VAE config {config_path} is not a YAML mapping")
    gen = build_generator(argparse.Namespace(**cfg))
    if model_path is None:
        model_path = resolve_model_file(config_path.parent)
    if not Path(model_path).is_file():
        raise ConfigError(f"VAE model file not found: {model_path}")
    verify_checksum(model_path)
    # an ESPnet training checkpoint: the generator's (EMA) weights; the discriminator, ... are not needed
    state, source = generator_state(read_state_dict(model_path), use_ema=use_ema)
    logging.info(f"{model_path}: generator weights from {source}")
    load_state_checked(gen, state, model_path, config_path)
    return gen.to(device).eval(), cfg


def load_pretrained_svae(ref: PathLike, device: str = "cpu", cache_dir: Optional[PathLike] = None):
    """The speech VAE of a pack (or a legacy packed dir): a :class:`SpeechVAE` in eval mode,
    ``encode(wav (B, N)) -> (z (B, T, D), lengths)``, ``decode(z) -> (B, T * hop)``."""
    from espnet_plugin.pack import resolve_pretrained

    p = resolve_pretrained(ref, cache_dir, kind="svae")
    return load_svae(p.files["train_config"], p.files["model_file"], device=device)


def vae_of_pack(p: Packed, vae: Any, device: str, cache_dir: Optional[PathLike]):
    """The VAE a TTS / probe pack ``p`` needs: ``vae`` (an object, or a reference to load), else the
    pack's own; None when neither."""
    if vae is not None:
        return load_pretrained_svae(vae, device, cache_dir) if isinstance(vae, (str, Path)) else vae
    if "vae_train_config" in p.files:
        return load_svae(p.files["vae_train_config"], p.files.get("vae_model_file"), device=device)
    return None
