"""VAE encoders: waveform ``(B, 1, N)`` -> frame features ``(B, C, T)``, ``T = ceil(N / hop)``.

- ``DACEncoder``: learned DAC-style strided conv encoder with Snake activations; its final plain 1x1
  conv (``last_layer``) outputs the bottleneck's input (e.g. mean and scale, ``2 * D`` channels).
- ``MelEncoder``: fixed log-mel frontend (no parameters), for a Mel + vocoder baseline.

Both right-pad the waveform with zeros to a multiple of ``hop_length`` internally, and tell their
``hop_length`` for a config without being built (``hop_length_from_conf(**conf)``).
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.abs_parts import AbsEncoder
from espnet_plugin.vae.activations import Snake


def check_wav(wav: torch.Tensor, who: str, channels: Optional[int] = None) -> None:
    """Raise :class:`DataError` unless ``wav`` is ``(B, C, N)`` (with ``C == channels`` when given).

    Shared by the encoders (``(B, 1, N)``) and the discriminators (``(B, C, N)``); ``who`` names the
    module in the message.
    """
    if wav.dim() != 3 or (channels is not None and wav.shape[1] != channels):
        want = f"(B, {channels}, N)" if channels is not None else "(B, C, N)"
        raise DataError(f"{who} expects a waveform of shape {want}, got {tuple(wav.shape)}")


def _conf_with_defaults(cls: type, conf: Dict[str, Any]) -> Dict[str, Any]:
    """``conf`` completed with the defaults of ``cls.__init__`` (unknown keys raise :class:`ConfigError`)."""
    try:
        bound = inspect.signature(cls).bind(**conf)
    except TypeError as e:
        raise ConfigError(f"{cls.__name__}: bad encoder_conf {conf}: {e}") from e
    bound.apply_defaults()
    return dict(bound.arguments)


def _pad_to_hop(wav: torch.Tensor, hop: int) -> torch.Tensor:
    """Right-pad ``(B, 1, N)`` with zeros to ``(B, 1, ceil(N / hop) * hop)``."""
    rest = (-wav.shape[-1]) % hop
    return F.pad(wav, (0, rest)) if rest else wav


def _wn_conv(*args, **kwargs) -> nn.Module:
    return weight_norm(nn.Conv1d(*args, **kwargs))


class ResidualUnit(nn.Module):
    """DAC residual unit: ``x + conv1x1(snake(conv7_dil(snake(x))))``. Shapes: ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, dilation: int = 1, kernel_size: int = 7) -> None:
        super().__init__()
        pad = (kernel_size - 1) * dilation // 2
        self.block = nn.Sequential(
            Snake(channels),
            _wn_conv(channels, channels, kernel_size, dilation=dilation, padding=pad),
            Snake(channels),
            _wn_conv(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Residual units (dilations e.g. 1, 3, 9) at ``C/2`` channels, Snake, strided conv ``k = 2 * stride``.

    Shapes: ``(B, C/2, T) -> (B, C, T / stride)`` (T a multiple of stride).
    """

    def __init__(self, out_channels: int, stride: int, dilations: Sequence[int] = (1, 3, 9)) -> None:
        super().__init__()
        in_ch = out_channels // 2
        self.block = nn.Sequential(
            *[ResidualUnit(in_ch, d) for d in dilations],
            Snake(in_ch),
            _wn_conv(in_ch, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C/2, T) -> (B, C, T / stride)``."""
        return self.block(x)


class DACEncoder(AbsEncoder):
    """DAC-style convolutional waveform encoder.

    ``Conv1d(1, d_model, 7)`` -> per stride an ``EncoderBlock`` (channels doubling) -> Snake ->
    ``Conv1d(C, d_latent, 3)`` -> plain ``Conv1d(d_latent, out_channels, 1)`` (``last_layer``, no weight
    norm so that ``last_layer.weight`` / ``last_layer.bias`` can be differentiated against).

    Args:
        out_channels: output channels (``2 * D`` for a Gaussian bottleneck; paper: 128).
        d_model: channels after the input conv (doubles per block; paper: 128).
        strides: downsampling factors; ``hop_length = prod(strides)`` (400 -> 40 Hz at 16 kHz).
        dilations: dilations of the residual units in each block.
        d_latent: channels of the k3 conv before ``last_layer`` (default: ``out_channels``).

    Shapes: ``wav (B, 1, N) -> h (B, out_channels, ceil(N / hop_length))``.
    """

    def __init__(
        self,
        out_channels: int = 128,
        d_model: int = 64,
        strides: Sequence[int] = (4, 4, 5, 5),
        dilations: Sequence[int] = (1, 3, 9),
        d_latent: int | None = None,
    ) -> None:
        super().__init__()
        if out_channels <= 0 or d_model <= 0 or not strides or any(int(s) < 1 for s in strides):
            raise ConfigError(
                f"DACEncoder: bad sizes out_channels={out_channels} d_model={d_model} strides={strides}"
            )
        self.out_channels = int(out_channels)
        self.hop_length = int(math.prod(strides))
        d_latent = self.out_channels if d_latent is None else int(d_latent)
        self.conv_in = _wn_conv(1, d_model, 7, padding=3)
        blocks = []
        ch = d_model
        for s in strides:
            ch *= 2
            blocks.append(EncoderBlock(ch, int(s), dilations))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Sequential(Snake(ch), _wn_conv(ch, d_latent, 3, padding=1))
        self.last_layer = nn.Conv1d(d_latent, self.out_channels, 1)

    @classmethod
    def hop_length_from_conf(cls, **conf: Any) -> int:
        """``hop_length`` of ``DACEncoder(**conf)`` without building it: ``prod(strides)``."""
        return int(math.prod(int(s) for s in _conf_with_defaults(cls, conf)["strides"]))

    def forward(
        self, wav: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode a waveform.

        Args:
            wav: ``(B, 1, N)`` waveform.
            return_hidden: also return intermediate outputs.

        Returns:
            ``h (B, out_channels, T)``, ``T = ceil(N / hop_length)``; with ``return_hidden`` the tuple
            ``(h, hidden)`` where ``hidden`` holds each EncoderBlock's output ``(B, C_i, T_i)``
            (``T_i = N' / prod(strides[:i+1])``) followed by the k3 conv's output ``(B, d_latent, T)``.
        """
        check_wav(wav, type(self).__name__, channels=1)
        x = self.conv_in(_pad_to_hop(wav, self.hop_length))
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        x = self.conv_out(x)
        hidden.append(x)
        h = self.last_layer(x)
        return (h, hidden) if return_hidden else h


class MelEncoder(AbsEncoder):
    """Fixed log-mel frontend: ``log(clamp(mel(wav), min=log_floor))``; nothing learned.

    Uses ``torchaudio.transforms.MelSpectrogram`` (``center=True``, reflect padding, magnitude
    ``power``, htk mel scale) on the waveform right-padded with zeros to a multiple of the hop
    (and to more than ``n_fft // 2`` samples so the reflect padding is defined), then keeps exactly
    ``T = ceil(N / hop_length)`` frames (drops the STFT's extra last frame). The transform runs in
    float32 with autocast disabled (the output has the waveform's dtype).

    Args:
        out_channels: number of mel bins.
        fs: sampling rate (Hz).
        n_fft / hop_length / win_length: STFT settings (``win_length`` default ``n_fft``).
        fmin / fmax: mel filterbank range (Hz; ``fmax`` default ``fs / 2``).
        log_floor: lower clamp before the log.
        power: 1.0 magnitude (Vocos convention), 2.0 power.

    Shapes: ``wav (B, 1, N) -> h (B, out_channels, ceil(N / hop_length))``.
    A fixed latent (``fixed_latent``): the log-mel bins are the latent; ``fs`` defaults to the task's.
    """

    fixed_latent = True

    def __init__(
        self,
        out_channels: int = 100,
        fs: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 400,
        win_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        log_floor: float = 1e-5,
        power: float = 1.0,
    ) -> None:
        super().__init__()
        win = n_fft if win_length is None else int(win_length)
        if win > n_fft or hop_length <= 0 or out_channels <= 0:
            raise ConfigError(
                f"MelEncoder: bad settings n_fft={n_fft} win_length={win_length} "
                f"hop_length={hop_length} out_channels={out_channels}"
            )
        self.out_channels = int(out_channels)
        self.hop_length = int(hop_length)
        self.n_fft = int(n_fft)
        self.log_floor = float(log_floor)
        self.last_layer = None
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=fs,
            n_fft=n_fft,
            win_length=win,
            hop_length=hop_length,
            f_min=fmin,
            f_max=fmax,
            n_mels=out_channels,
            power=power,
            center=True,
        )

    @classmethod
    def hop_length_from_conf(cls, **conf: Any) -> int:
        """``hop_length`` of ``MelEncoder(**conf)`` without building it."""
        return int(_conf_with_defaults(cls, conf)["hop_length"])

    @classmethod
    def out_channels_from_conf(cls, **conf: Any) -> int:
        """Mel bins of ``MelEncoder(**conf)`` (its latent size) without building it."""
        return int(_conf_with_defaults(cls, conf)["out_channels"])

    @classmethod
    def conf_with_fs(cls, conf: Dict[str, Any], fs: int) -> Dict[str, Any]:
        """``conf`` with ``fs`` (the task's) unless set."""
        return {"fs": fs, **conf}

    def forward(
        self, wav: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Compute log-mel frames.

        Args:
            wav: ``(B, 1, N)`` waveform.
            return_hidden: also return ``[h]`` (there are no intermediate layers).

        Returns:
            ``h (B, out_channels, T)``, ``T = ceil(N / hop_length)`` (or ``(h, [h])``).
        """
        check_wav(wav, type(self).__name__, channels=1)
        n_frames = -(-wav.shape[-1] // self.hop_length)
        x = _pad_to_hop(wav, self.hop_length)
        if x.shape[-1] <= self.n_fft // 2:
            x = F.pad(x, (0, self.n_fft // 2 + 1 - x.shape[-1]))
        # float32 and no autocast: the mel filterbank matmul would otherwise run in fp16/bf16
        with torch.autocast(device_type=x.device.type, enabled=False):
            mel = self.mel(x[:, 0].float())[..., :n_frames]
            h = torch.log(torch.clamp(mel, min=self.log_floor)).to(wav.dtype)
        return (h, [h]) if return_hidden else h
