"""BigVGAN generator as a VAE decoder: ``z (B, D, T) -> wav (B, 1, T * prod(upsample_rates))``.

conv_pre (k7) -> per stage: ConvTranspose1d (x rate) -> mean of multi-receptive-field AMP resblocks
(anti-aliased Snake/SnakeBeta) -> anti-aliased activation -> conv_post (k7) -> tanh or clamp[-1, 1].

ESPnet 202511 has no BigVGAN and its ``Snake1d`` shares one alpha over all channels, so the
per-channel activations live in ``espnet_plugin.vae.activations``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from espnet_plugin.errors import ConfigError
from espnet_plugin.vae.abs_parts import AbsDecoder
from espnet_plugin.vae.activations import Activation1d, build_activation


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        nn.init.normal_(m.weight, 0.0, 0.01)


class AMPBlock1(nn.Module):
    """AMP resblock type 1: per dilation ``x += conv1(act(conv_d(act(x))))``. ``(B, C, T) -> (B, C, T)``."""

    def __init__(
        self, channels: int, kernel_size: int, dilations: Sequence[int], activation: str, logscale: bool
    ) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList()
        self.convs2 = nn.ModuleList()
        for d in dilations:
            c1 = nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            c2 = nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))
            _init(c1)
            _init(c2)
            self.convs1.append(weight_norm(c1))
            self.convs2.append(weight_norm(c2))
        self.acts = nn.ModuleList(
            [
                Activation1d(build_activation(activation, channels, logscale))
                for _ in range(2 * len(dilations))
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            xt = c2(self.acts[2 * i + 1](c1(self.acts[2 * i](x))))
            x = x + xt
        return x


class AMPBlock2(nn.Module):
    """AMP resblock type 2: per dilation ``x += conv_d(act(x))``. ``(B, C, T) -> (B, C, T)``."""

    def __init__(
        self, channels: int, kernel_size: int, dilations: Sequence[int], activation: str, logscale: bool
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for d in dilations:
            c = nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            _init(c)
            self.convs.append(weight_norm(c))
        self.acts = nn.ModuleList(
            [Activation1d(build_activation(activation, channels, logscale)) for _ in dilations]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        for conv, act in zip(self.convs, self.acts):
            x = x + conv(act(x))
        return x


class BigVGANDecoder(AbsDecoder):
    """BigVGAN generator (anti-aliased multi-periodicity composition).

    Args:
        latent_dim: D, input channels.
        upsample_rates: per-stage upsampling; ``hop_length = prod(upsample_rates)``.
        upsample_kernel_sizes: ConvTranspose1d kernels (``>= rate``); an odd ``k - rate`` is handled
            with ``output_padding`` so every stage outputs exactly ``rate * T`` samples.
        upsample_initial_channel: channels after conv_pre (halved at each stage).
        resblock: "1" (two convs per dilation) or "2" (one conv per dilation).
        resblock_kernel_sizes / resblock_dilation_sizes: the multi-receptive-field resblocks.
        activation: "snakebeta" or "snake".
        snake_logscale: store log of the activation parameters.
        use_tanh_at_final: tanh output, else hard clamp to [-1, 1].
        use_bias_at_final: bias in conv_post.

    Shapes: ``z (B, D, T) -> wav (B, 1, T * hop_length)``, float32 also under autocast (conv_post and
    the final tanh / clamp run with autocast disabled).
    """

    def __init__(
        self,
        latent_dim: int = 64,
        upsample_rates: Sequence[int] = (5, 5, 4, 4),
        upsample_kernel_sizes: Sequence[int] = (10, 10, 8, 8),
        upsample_initial_channel: int = 512,
        resblock: str = "1",
        resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
        resblock_dilation_sizes: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        activation: str = "snakebeta",
        snake_logscale: bool = True,
        use_tanh_at_final: bool = False,
        use_bias_at_final: bool = True,
    ) -> None:
        super().__init__()
        resblock = str(resblock)
        if resblock not in ("1", "2"):
            raise ConfigError(f"BigVGANDecoder: resblock must be '1' or '2', got {resblock!r}")
        if len(upsample_rates) != len(upsample_kernel_sizes) or any(
            k < u for u, k in zip(upsample_rates, upsample_kernel_sizes)
        ):
            raise ConfigError(
                f"BigVGANDecoder: upsample_kernel_sizes {list(upsample_kernel_sizes)} must pair with "
                f"upsample_rates {list(upsample_rates)} and each kernel must be >= its rate"
            )
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ConfigError(
                f"BigVGANDecoder: resblock_kernel_sizes {list(resblock_kernel_sizes)} and "
                f"resblock_dilation_sizes {list(resblock_dilation_sizes)} differ in length"
            )
        if upsample_initial_channel % (2 ** len(upsample_rates)) != 0:
            raise ConfigError(
                f"BigVGANDecoder: upsample_initial_channel={upsample_initial_channel} must be divisible "
                f"by 2**{len(upsample_rates)}"
            )
        self.latent_dim = int(latent_dim)
        self.hop_length = int(math.prod(upsample_rates))
        self.num_kernels = len(resblock_kernel_sizes)
        self.use_tanh_at_final = use_tanh_at_final
        block_cls = AMPBlock1 if resblock == "1" else AMPBlock2

        self.conv_pre = weight_norm(nn.Conv1d(latent_dim, upsample_initial_channel, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for u, k in zip(upsample_rates, upsample_kernel_sizes):
            pad = (k - u + 1) // 2
            up = nn.ConvTranspose1d(ch, ch // 2, k, stride=u, padding=pad, output_padding=2 * pad - (k - u))
            _init(up)
            self.ups.append(weight_norm(up))
            ch //= 2
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block_cls(ch, rk, rd, activation, snake_logscale))
        self.activation_post = Activation1d(build_activation(activation, ch, snake_logscale))
        conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=use_bias_at_final)
        _init(conv_post)
        self.conv_post = weight_norm(conv_post)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z (B, D, T)`` to float32 ``wav (B, 1, T * hop_length)`` in [-1, 1]."""
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"BigVGANDecoder expects (B, {self.latent_dim}, T) latents, got {tuple(z.shape)}"
            )
        x = self.conv_pre(z)
        for i, up in enumerate(self.ups):
            x = up(x)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs = xs + block(x)
            x = xs / self.num_kernels
        x = self.activation_post(x)
        # the output layer in float32 (float64 if given), autocast off: under AMP the waveform would
        # otherwise be fp16/bf16 while the real audio the discriminators compare it with is float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = self.conv_post(x.to(torch.float64 if x.dtype == torch.float64 else torch.float32))
            return torch.tanh(x) if self.use_tanh_at_final else torch.clamp(x, min=-1.0, max=1.0)
