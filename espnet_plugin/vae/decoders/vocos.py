"""Vocos-like decoder: the ``vocos`` package's ConvNeXt backbone at the latent frame rate + its ISTFT head.

``z (B, D, T)`` -> :class:`vocos.models.VocosBackbone` (Conv1d k7 -> LayerNorm -> N x ConvNeXt ->
LayerNorm) -> :class:`vocos.heads.ISTFTHead` (Linear(dim, 2 * (n_fft // 2 + 1)) -> ``mag =
clip(exp(a), max=1e2)``, phase ``p`` -> ``S = mag * (cos p + i sin p)``) -> inverse STFT with "same"
padding (:func:`istft_same`) -> ``wav (B, 1, T * hop_length)``.

Checkpoints written before the decoder used the ``vocos`` modules (keys ``embed``, ``norm``,
``blocks.<i>``, ``final_norm``, ``out``) load: a ``load_state_dict`` pre-hook renames them
(:data:`LEGACY_KEYS`); the network computes the same function of the same weights.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone
from vocos.spectral_ops import ISTFT

from espnet_plugin.errors import ConfigError
from espnet_plugin.vae.abs_parts import AbsDecoder

#: first key component of the pre-``vocos`` layout -> the new one (relative to the decoder)
LEGACY_KEYS = {
    "embed.": "backbone.embed.",
    "norm.": "backbone.norm.",
    "blocks.": "backbone.convnext.",
    "final_norm.": "backbone.final_layer_norm.",
    "out.": "head.out.",
}


def istft_same(spec: torch.Tensor, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """Inverse STFT by overlap-add with "same" padding (output exactly ``T * hop_length`` samples).

    ``y[n] = sum_t w[n - t hop] * irfft(S_t)[n - t hop] / sum_t w^2[n - t hop]``, then
    ``(win - hop) // 2`` samples are trimmed on the left and the rest of ``win - hop`` on the right.

    Args:
        spec: complex ``(B, n_fft // 2 + 1, T)`` spectrogram.
        hop_length: frame hop.
        window: ``(n_fft,)`` synthesis window (also used for the envelope normalisation).

    Returns:
        ``(B, T * hop_length)`` waveform.
    """
    win = window.shape[0]
    n_frames = spec.shape[-1]
    frames = torch.fft.irfft(spec, n=win, dim=1, norm="backward") * window[None, :, None]  # (B, W, T)
    out_len = (n_frames - 1) * hop_length + win
    fold = dict(output_size=(1, out_len), kernel_size=(1, win), stride=(1, hop_length))
    y = F.fold(frames, **fold)[:, 0, 0, :]  # (B, out_len)
    env = F.fold(window.square()[None, :, None].expand(1, win, n_frames), **fold)[0, 0, 0, :]
    left = (win - hop_length) // 2
    right = out_len - (win - hop_length - left)
    return y[:, left:right] / env[left:right].clamp(min=1e-11)


class SameISTFT(ISTFT):
    """vocos's ``ISTFT(padding="same")`` computed by :func:`istft_same`.

    Kept because vocos 0.1.0's "same" branch trims ``y[pad:-pad]`` with ``pad = (win - hop) // 2``:
    an empty signal when ``win == hop`` and one sample too many when ``win - hop`` is odd (e.g.
    ``n_fft=25, hop=10``), and its ``assert (envelope > 1e-11).all()`` is a host-device sync per
    call. The "center" branch (``torch.istft``) gives ``(T - 1) * hop`` samples, not ``T * hop``.
    The Hann window is a function of ``n_fft``: not saved in checkpoints (as before).
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__(n_fft=n_fft, hop_length=hop_length, win_length=n_fft, padding="same")
        self.register_buffer("window", self.window, persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex ``(B, n_fft // 2 + 1, T)`` -> ``(B, T * hop_length)``."""
        return istft_same(spec, self.hop_length, self.window.to(spec.real.dtype))


class SameISTFTHead(ISTFTHead):
    """vocos's ``ISTFTHead`` with :class:`SameISTFT`; ``out`` has ``2 * (n_fft // 2 + 1)`` outputs.

    (vocos sizes ``out`` ``n_fft + 2``, one too many for an odd ``n_fft``.) Shapes:
    ``(B, T, dim) -> (B, T * hop_length)``.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__(dim=dim, n_fft=n_fft, hop_length=hop_length, padding="same")
        self.out = nn.Linear(dim, 2 * (n_fft // 2 + 1))
        self.istft = SameISTFT(n_fft, hop_length)


class VocosDecoder(AbsDecoder):
    """Vocos-style latent decoder (all layers at frame rate; the ISTFT does the upsampling).

    Args:
        latent_dim: D, input channels.
        hop_length: samples per latent frame (400 at 16 kHz / 40 Hz).
        dim: ConvNeXt width.
        intermediate_dim: ConvNeXt MLP width.
        num_layers: number of ConvNeXt blocks.
        n_fft: ISTFT size (= window length, Hann); default ``4 * hop_length``.
        layer_scale_init: ConvNeXt layer-scale init; default ``1 / num_layers``; ``<= 0`` disables it.

    Shapes: ``z (B, D, T) -> wav (B, 1, T * hop_length)``. The head (output Linear + ISTFT) runs in
    float32 (autocast disabled), so half-precision training does not hit non-power-of-two FFTs in
    fp16 and the log-magnitudes are not rounded to bf16 before ``exp``.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        hop_length: int = 400,
        dim: int = 512,
        intermediate_dim: int = 1536,
        num_layers: int = 8,
        n_fft: int | None = None,
        layer_scale_init: float | None = None,
    ) -> None:
        super().__init__()
        n_fft = 4 * hop_length if n_fft is None else int(n_fft)
        if hop_length <= 0 or n_fft < hop_length:
            raise ConfigError(
                f"VocosDecoder: need 0 < hop_length <= n_fft, got hop={hop_length} n_fft={n_fft}"
            )
        self.latent_dim = int(latent_dim)
        self.hop_length = int(hop_length)
        self.n_fft = n_fft
        if layer_scale_init is not None and layer_scale_init <= 0:
            # VocosBackbone reads ``value or 1 / num_layers`` (0 would mean the default) and its
            # ConvNeXt blocks drop gamma for a value <= 0: -1 is "no layer scale"
            layer_scale_init = -1.0
        self.backbone = VocosBackbone(latent_dim, dim, intermediate_dim, num_layers, layer_scale_init)
        self.head = SameISTFTHead(dim, n_fft, self.hop_length)
        self.head.apply(self.backbone._init_weights)  # truncated-normal output layer, as before
        self._register_load_state_dict_pre_hook(self._rename_legacy_keys)

    @staticmethod
    def _rename_legacy_keys(state_dict, prefix, *args) -> None:
        """``load_state_dict`` pre-hook: keys of the pre-``vocos`` layout -> :data:`LEGACY_KEYS`."""
        renamed = 0
        for key in [k for k in state_dict if k.startswith(prefix)]:
            rel = key[len(prefix):]
            old = next((o for o in LEGACY_KEYS if rel.startswith(o)), None)
            if old is not None:
                new = prefix + LEGACY_KEYS[old] + rel[len(old):]
                if new not in state_dict:
                    state_dict[new] = state_dict.pop(key)
                    renamed += 1
        if renamed:
            logging.info(f"VocosDecoder: {renamed} weights under {prefix!r} renamed from the pre-vocos layout")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z (B, D, T)`` to float32 ``wav (B, 1, T * hop_length)`` (also under autocast)."""
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"VocosDecoder expects (B, {self.latent_dim}, T) latents, got {tuple(z.shape)}")
        x = self.backbone(z)  # (B, T, dim)
        with torch.autocast(device_type=x.device.type, enabled=False):
            wav = self.head(x.float())  # (B, T * hop_length)
        return wav.unsqueeze(1)
