"""Periodic activations (Snake, SnakeBeta) and BigVGAN-style anti-aliased activation.

All modules work on conv layout ``(B, C, T)``.

Formulas (``a``, ``b`` are per-channel parameters of shape ``(1, C, 1)``):

- Snake:      ``y = x + 1 / a * sin^2(a * x)``
- SnakeBeta:  ``y = x + 1 / b * sin^2(a * x)``

With ``logscale=True`` the stored parameters are logs: ``a = exp(alpha)``, ``b = exp(beta)``
(initialised at 0, i.e. a = b = 1). A tiny epsilon (1e-9) guards the division.

``Activation1d`` applies an activation at twice the sampling rate to limit aliasing:
upsample x2 (zero-stuffing + kaiser-windowed sinc low-pass), activation, low-pass + decimate x2.
The output has the input's length.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from espnet_plugin.errors import ConfigError

_EPS = 1e-9


class Snake(nn.Module):
    """Snake activation ``y = x + 1/a * sin^2(a x)`` with a learnable per-channel ``a``.

    Args:
        channels: number of channels C.
        alpha: initial value of ``a`` (stored as ``log(alpha)`` when ``logscale``).
        alpha_trainable: whether ``a`` is learned.
        logscale: store ``log a`` instead of ``a``.

    Shapes: ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(
        self,
        channels: int,
        alpha: float = 1.0,
        alpha_trainable: bool = True,
        logscale: bool = False,
    ) -> None:
        super().__init__()
        self.logscale = logscale
        init = math.log(alpha) if logscale else alpha
        self.alpha = nn.Parameter(torch.full((1, channels, 1), float(init)))
        self.alpha.requires_grad = alpha_trainable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the activation: ``(B, C, T) -> (B, C, T)``."""
        a = self.alpha.exp() if self.logscale else self.alpha
        return x + (a + _EPS).reciprocal() * torch.sin(a * x).pow(2)


class SnakeBeta(nn.Module):
    """SnakeBeta activation ``y = x + 1/b * sin^2(a x)`` (separate frequency and magnitude).

    Args:
        channels: number of channels C.
        alpha: initial value of ``a`` and ``b`` (stored as its log when ``logscale``).
        alpha_trainable: whether ``a`` and ``b`` are learned.
        logscale: store ``log a`` / ``log b`` (BigVGAN default).

    Shapes: ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(
        self,
        channels: int,
        alpha: float = 1.0,
        alpha_trainable: bool = True,
        logscale: bool = True,
    ) -> None:
        super().__init__()
        self.logscale = logscale
        init = math.log(alpha) if logscale else alpha
        self.alpha = nn.Parameter(torch.full((1, channels, 1), float(init)))
        self.beta = nn.Parameter(torch.full((1, channels, 1), float(init)))
        self.alpha.requires_grad = alpha_trainable
        self.beta.requires_grad = alpha_trainable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the activation: ``(B, C, T) -> (B, C, T)``."""
        if self.logscale:
            a, b = self.alpha.exp(), self.beta.exp()
        else:
            a, b = self.alpha, self.beta
        return x + (b + _EPS).reciprocal() * torch.sin(a * x).pow(2)


def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass filter, normalised to unit DC gain.

    Args:
        cutoff: cutoff frequency as a fraction of the sampling rate (0 < cutoff <= 0.5).
        half_width: half of the transition band width (same unit).
        kernel_size: number of taps K.

    Returns:
        ``(1, 1, K)`` filter taps. The Kaiser ``beta`` follows Kaiser's attenuation formula
        ``A = 2.285 (K/2 - 1) pi (4 half_width) + 7.95``.
    """
    even = kernel_size % 2 == 0
    half_size = kernel_size // 2
    delta_f = 4 * half_width
    att = 2.285 * (half_size - 1) * math.pi * delta_f + 7.95
    if att > 50.0:
        beta = 0.1102 * (att - 8.7)
    elif att >= 21.0:
        beta = 0.5842 * (att - 21) ** 0.4 + 0.07886 * (att - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, dtype=torch.float64)
    if even:
        time = torch.arange(-half_size, half_size, dtype=torch.float64) + 0.5
    else:
        time = torch.arange(kernel_size, dtype=torch.float64) - half_size
    if cutoff == 0:
        taps = torch.zeros_like(time)
    else:
        taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
        taps = taps / taps.sum()
    return taps.float().view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """Band-limited upsampling by an integer ratio (transposed conv with a sinc filter).

    Shapes: ``(B, C, T) -> (B, C, ratio * T)``.
    """

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.pad = self.kernel_size // ratio - 1
        self.pad_left = self.pad * ratio + (self.kernel_size - ratio) // 2
        self.pad_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
        taps = kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, self.kernel_size)
        self.register_buffer("filter", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample ``(B, C, T) -> (B, C, ratio * T)``."""
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        weight = self.filter.to(x.dtype).expand(channels, -1, -1)
        x = self.ratio * F.conv_transpose1d(x, weight, stride=self.ratio, groups=channels)
        return x[..., self.pad_left : x.shape[-1] - self.pad_right]


class DownSample1d(nn.Module):
    """Low-pass (kaiser sinc) then decimate by an integer ratio.

    Shapes: ``(B, C, T) -> (B, C, T // ratio)`` (T a multiple of ratio in Activation1d).
    """

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        even = self.kernel_size % 2 == 0
        self.pad_left = self.kernel_size // 2 - int(even)
        self.pad_right = self.kernel_size // 2
        taps = kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, self.kernel_size)
        self.register_buffer("filter", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Filter and decimate ``(B, C, T) -> (B, C, T // ratio)``."""
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        weight = self.filter.to(x.dtype).expand(channels, -1, -1)
        return F.conv1d(x, weight, stride=self.ratio, groups=channels)


class Activation1d(nn.Module):
    """Anti-aliased activation: ``down(act(up(x)))`` (BigVGAN's alias-free AMP activation).

    Args:
        activation: a pointwise activation module working on ``(B, C, T)``.
        up_ratio / down_ratio: resampling ratios (2 in BigVGAN).
        up_kernel_size / down_kernel_size: filter taps (12 for ratio 2).

    Shapes: ``(B, C, T) -> (B, C, T)`` when ``up_ratio == down_ratio``.
    """

    def __init__(
        self,
        activation: nn.Module,
        up_ratio: int = 2,
        down_ratio: int = 2,
        up_kernel_size: int = 12,
        down_kernel_size: int = 12,
    ) -> None:
        super().__init__()
        self.act = activation
        self.upsample = UpSample1d(up_ratio, up_kernel_size)
        self.downsample = DownSample1d(down_ratio, down_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        return self.downsample(self.act(self.upsample(x)))


def build_activation(name: str, channels: int, logscale: bool = True) -> nn.Module:
    """Build a periodic activation by name ("snake" or "snakebeta") for ``channels`` channels."""
    if name == "snake":
        return Snake(channels, logscale=logscale)
    if name == "snakebeta":
        return SnakeBeta(channels, logscale=logscale)
    raise ConfigError(f"unknown activation {name!r}: expected 'snake' or 'snakebeta'")
