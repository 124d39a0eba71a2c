"""Vocos-like decoder: ConvNeXt stack at the latent frame rate + ISTFT head (the iSTFT upsamples).

``z (B, D, T)`` -> Conv1d k7 -> LayerNorm -> N x ConvNeXt -> LayerNorm -> Linear(dim, 2 * (n_fft // 2 + 1))
-> ``mag = clip(exp(a), max=1e2)``, phase ``p`` -> ``S = mag * (cos p + i sin p)`` -> inverse STFT with
"same" padding -> ``wav (B, 1, T * hop_length)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from espnet_plugin.errors import ConfigError


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (1-D): ``x + gamma * pw2(gelu(pw1(LN(dwconv7(x)))))``.

    Shapes: ``(B, C, T) -> (B, C, T)``. ``gamma`` is a per-channel layer scale (absent if None).
    """

    def __init__(self, dim: int, intermediate_dim: int, layer_scale_init: float | None) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = (
            nn.Parameter(torch.full((dim,), float(layer_scale_init)))
            if layer_scale_init is not None and layer_scale_init > 0
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        y = self.dwconv(x).transpose(1, 2)  # (B, T, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        if self.gamma is not None:
            y = self.gamma * y
        return x + y.transpose(1, 2)


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


class VocosDecoder(nn.Module):
    """Vocos-style latent decoder (all layers at frame rate; the ISTFT does the upsampling).

    Args:
        latent_dim: D, input channels.
        hop_length: samples per latent frame (400 at 16 kHz / 40 Hz).
        dim: ConvNeXt width.
        intermediate_dim: ConvNeXt MLP width.
        num_layers: number of ConvNeXt blocks.
        n_fft: ISTFT size (= window length, Hann); default ``4 * hop_length``.
        layer_scale_init: ConvNeXt layer-scale init; default ``1 / num_layers``; ``<= 0`` disables it.

    Shapes: ``z (B, D, T) -> wav (B, 1, T * hop_length)``. The ISTFT head runs in float32
    (autocast disabled), so half-precision training does not hit non-power-of-two FFTs in fp16.
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
        if layer_scale_init is None:
            layer_scale_init = 1.0 / num_layers
        self.embed = nn.Conv1d(latent_dim, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            [ConvNeXtBlock(dim, intermediate_dim, layer_scale_init) for _ in range(num_layers)]
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, 2 * (n_fft // 2 + 1))  # n_fft + 2 for even n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z (B, D, T)`` to float32 ``wav (B, 1, T * hop_length)`` (also under autocast)."""
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"VocosDecoder expects (B, {self.latent_dim}, T) latents, got {tuple(z.shape)}")
        x = self.embed(z)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.out(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, 2 * (n_fft // 2 + 1), T)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            log_mag, phase = x.chunk(2, dim=1)
            mag = torch.clip(torch.exp(log_mag), max=1e2)
            spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
            wav = istft_same(spec, self.hop_length, self.window.float())
        return wav.unsqueeze(1)
