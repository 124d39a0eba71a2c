"""A frozen speech VAE as an ESPnet ASR frontend (SUPERB-style probing of the latent).

``SVAELatentFrontend`` loads a trained VAE (its ``config.yaml`` + weights, via
:func:`espnet_plugin.vae.loading.load_svae`), keeps only its encoder and bottleneck, freezes them
(no parameter requires grad, always in eval mode, run under ``torch.no_grad``) and emits, per
40 Hz frame (hop 400 at 16 kHz)::

    feature="latent":          the posterior mean  mu  (B, T, D),  T = ceil(N / hop)
                               (for the ``mel`` encoder of the Mel+vocoder baseline: the log-mel frames)
    feature="weighted_layers": sum_l softmax(w)_l * P_l(LN(pool_l(h_l)))   (B, T, layer_dim)

where ``h_l`` are the encoder's intermediate outputs (each DAC encoder block, the k3 conv before the
last layer) plus the posterior mean, ``pool_l`` averages non-overlapping windows of
``T_l / T`` frames down to the latent rate, ``LN`` is a parameter-free layer norm over channels (as
s3prl's SUPERB featurizer normalises each layer), ``P_l`` a learnable ``Linear(C_l, layer_dim)`` and
``w`` learnable layer weights (initialised to zero = uniform). Only ``P_l`` and ``w`` are trained.

Configured in ESPnet as ``--frontend svae_latent --frontend_conf vae_config=... --frontend_conf
vae_model_file=... --frontend_conf feature=latent|weighted_layers`` once the name is registered
(:mod:`espnet_plugin.probe.register`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Tuple, Union

import humanfriendly
import torch
import torch.nn.functional as F
import yaml
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from torch import nn

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.nn.masking import fill_padding, lengths_to_mask

FEATURES = ("latent", "weighted_layers")


def pool_to_rate(h: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Average-pool ``h (B, C, T_l)`` to ``(B, C, num_frames)``.

    ``T_l`` must be an integer multiple ``k`` of ``num_frames`` (true for the DAC encoder's blocks on
    hop-padded input): ``out[..., t] = mean(h[..., t*k:(t+1)*k])``. ``T_l == num_frames`` is a no-op.
    """
    t_l = h.size(-1)
    if t_l == num_frames:
        return h
    if num_frames <= 0 or t_l % num_frames:
        raise ConfigError(f"cannot pool {t_l} frames to {num_frames}: not an integer multiple")
    k = t_l // num_frames
    return F.avg_pool1d(h, kernel_size=k, stride=k)


class SVAELatentFrontend(AbsFrontend):
    """Frozen VAE encoder -> 40 Hz features for ESPnet's ASR task.

    Args:
        vae_config: the VAE's ``config.yaml`` (as written by ESPnet when it was trained).
        vae_model_file: its weights (ESPnet checkpoint or packed ``model.pth``); default: picked in
            the config's folder by :func:`espnet_plugin.vae.loading.resolve_model_file`.
        feature: ``latent`` (posterior mean, ``output_size() = D``) or ``weighted_layers``
            (learnable weighted sum of projected intermediate layers, ``output_size() = layer_dim``).
        layer_dim: common projection size of the layers for ``weighted_layers``.
        fs: sampling rate of the input (int or ``16k``); must equal the VAE's.

    Forward: ``input (B, N)`` float waveform, ``input_lengths (B,)`` ->
    ``feats (B, T, output_size())``, ``feats_lengths (B,) = ceil(input_lengths / hop)``;
    frames past a sequence's length are zero.
    """

    def __init__(
        self,
        vae_config: Optional[str] = None,
        vae_model_file: Optional[str] = None,
        feature: str = "latent",
        layer_dim: int = 256,
        fs: Union[int, str] = 16000,
    ) -> None:
        super().__init__()
        from espnet_plugin.vae.loading import load_svae

        if vae_config is None:
            raise ConfigError("svae_latent frontend: frontend_conf.vae_config (the VAE's config.yaml) is required")
        if feature not in FEATURES:
            raise ConfigError(f"svae_latent frontend: feature={feature!r}, expected one of {FEATURES}")
        if isinstance(fs, str):
            fs = humanfriendly.parse_size(fs)
        vae = load_svae(vae_config, vae_model_file, device="cpu")
        if int(fs) != int(vae.fs):
            raise ConfigError(f"svae_latent frontend: fs={fs} but the VAE {vae_config} runs at {vae.fs} Hz")
        self.fs = int(vae.fs)
        self.hop_length = int(vae.hop_length)
        self.latent_dim = int(vae.latent_dim)
        self.feature = feature
        # The decoder is not needed: keep (and checkpoint) only the encoder and bottleneck.
        self.encoder = vae.encoder
        self.bottleneck = vae.bottleneck
        for p in list(self.encoder.parameters()) + list(self.bottleneck.parameters()):
            p.requires_grad_(False)
        self.encoder.eval()
        self.bottleneck.eval()
        self.layer_dim = int(layer_dim)
        self.proj: Optional[nn.ModuleList] = None
        self.layer_weights: Optional[nn.Parameter] = None
        if feature == "weighted_layers":
            if self.layer_dim <= 0:
                raise ConfigError(f"svae_latent frontend: layer_dim must be positive, got {layer_dim}")
            channels = self._layer_channels()
            self.proj = nn.ModuleList(nn.Linear(c, self.layer_dim) for c in channels)
            self.layer_weights = nn.Parameter(torch.zeros(len(channels)))

    @classmethod
    def output_size_from_conf(
        cls,
        vae_config: Optional[str] = None,
        vae_model_file: Optional[str] = None,
        feature: str = "latent",
        layer_dim: int = 256,
        fs: Union[int, str] = 16000,
    ) -> int:
        """``output_size()`` of the frontend these arguments build, from the configs alone.

        Takes the constructor's arguments and loads no weights: ``layer_dim`` for
        ``weighted_layers``; for ``latent`` the VAE's ``D`` as
        :func:`espnet_plugin.vae.choices.build_generator` sets it from the VAE's ``config.yaml``
        (the ``mel`` encoder's ``encoder_conf.out_channels`` = mel bins, else ``latent_dim``).

        Raises:
            ConfigError: as the constructor for a missing ``vae_config`` file, an unknown
                ``feature`` or a non-positive ``layer_dim``; a VAE config that names no latent size.
        """
        if vae_config is None:
            raise ConfigError("svae_latent frontend: frontend_conf.vae_config (the VAE's config.yaml) is required")
        if feature not in FEATURES:
            raise ConfigError(f"svae_latent frontend: feature={feature!r}, expected one of {FEATURES}")
        if not Path(vae_config).is_file():
            raise ConfigError(f"VAE config not found: {vae_config}")
        if feature == "weighted_layers":
            if int(layer_dim) <= 0:
                raise ConfigError(f"svae_latent frontend: layer_dim must be positive, got {layer_dim}")
            return int(layer_dim)
        from espnet_plugin.vae.choices import latent_dim_of

        with open(vae_config, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
        if not isinstance(conf, dict):
            raise ConfigError(f"{vae_config}: not a VAE config (a YAML mapping expected)")
        args = argparse.Namespace(**{"encoder_conf": None, "fs": 16000, **conf})
        try:
            return latent_dim_of(args)
        except (AttributeError, TypeError, ValueError) as e:  # a config without encoder / latent_dim
            raise ConfigError(f"{vae_config}: cannot tell the latent size: {e}") from e

    @torch.no_grad()
    def _layer_channels(self) -> List[int]:
        """Channels of each layer used by ``weighted_layers`` (one dry run on a short input)."""
        wav = torch.zeros(1, 1, 2 * self.hop_length)
        hidden, mu = self._encode(wav, torch.tensor([wav.size(-1)]), with_hidden=True)
        return [h.size(1) for h in hidden] + [mu.size(1)]

    def train(self, mode: bool = True) -> "SVAELatentFrontend":
        """Set train/eval mode for the learnable parts only: the VAE always stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        self.bottleneck.eval()
        return self

    def _dtype(self) -> torch.dtype:
        """Floating dtype of the frozen encoder (float32 for the parameter-free mel encoder)."""
        for t in list(self.encoder.parameters()) + list(self.encoder.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    def output_size(self) -> int:
        """Feature dimension: ``D`` (latent) or ``layer_dim`` (weighted_layers)."""
        return self.latent_dim if self.feature == "latent" else self.layer_dim

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """``ceil(lengths / hop)`` (B,) long."""
        return torch.div(lengths + self.hop_length - 1, self.hop_length, rounding_mode="floor")

    @torch.no_grad()
    def _encode(
        self, wav: torch.Tensor, lengths: torch.Tensor, with_hidden: bool
    ) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Frozen encoder + posterior mean: ``wav (B, 1, N)`` -> (hidden list of (B, C_l, T_l), mu (B, D, T))."""
        if with_hidden:
            h, hidden = self.encoder(wav, return_hidden=True)
        else:
            h, hidden = self.encoder(wav), []
        mask = lengths_to_mask(self.num_frames(lengths), h.size(-1))  # (B, T)
        mu, _, _ = self.bottleneck(h, mask=mask, sample=False)
        return list(hidden), mu

    def forward(self, input: torch.Tensor, input_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(B, N)`` waveform, ``(B,)`` lengths -> ``(B, T, output_size())``, ``(B,)`` frame lengths."""
        if input.dim() == 3 and input.size(-1) == 1:  # (B, N, 1) from a multi-channel loader
            input = input.squeeze(-1)
        if input.dim() != 2:
            raise DataError(f"svae_latent frontend expects a (B, N) waveform, got {tuple(input.shape)}")
        if input.size(-1) == 0:
            raise DataError("svae_latent frontend got an empty waveform")
        wav = input.to(self._dtype()).unsqueeze(1)
        lengths = input_lengths.to(device=input.device, dtype=torch.long)
        use_hidden = self.feature == "weighted_layers"
        hidden, mu = self._encode(wav, lengths, with_hidden=use_hidden)
        t = mu.size(-1)
        if use_hidden:
            layers = hidden + [mu]
            w = torch.softmax(self.layer_weights, dim=0)
            feats = None
            for i, (h, proj) in enumerate(zip(layers, self.proj)):
                x = pool_to_rate(h, t).transpose(1, 2)  # (B, T, C_l)
                x = proj(F.layer_norm(x, x.shape[-1:]))
                feats = w[i] * x if feats is None else feats + w[i] * x
        else:
            feats = mu.transpose(1, 2)  # (B, T, D)
        out_lens = self.num_frames(lengths).clamp(max=t)
        feats = fill_padding(feats, out_lens)  # (B, T, F), zero past out_lens
        return feats, out_lens

