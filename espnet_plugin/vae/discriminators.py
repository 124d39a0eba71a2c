"""GAN discriminators of the speech VAE (ESPnet HiFiGAN convention).

Every discriminator maps a waveform ``(B, C, N)`` (C = 1 here) to ``List[List[Tensor]]``: one inner
list per sub-discriminator holding its feature maps with the final logits **last**, which is what
ESPnet's ``GeneratorAdversarialLoss`` / ``DiscriminatorAdversarialLoss`` / ``FeatureMatchLoss`` expect.

- ``MultiScaleSubbandCQTDiscriminator``: BigVGAN-v2's MS-SB-CQT discriminator (own code, own CQT).
- ``MultiResolutionSTFTDiscriminator``: Vocos' multi-resolution discriminator (paper version: magnitude
  spectrogram -> 2-D conv stack, from UnivNet) or, with ``kind="multiband"``, the DAC-style complex
  multi-band one that the released ``vocos`` 0.1.0 code uses (ESPnet's ``MultiBandDiscriminator``).
- ``MPDCQTDiscriminator`` (the paper's) and ``MPDMRDDiscriminator`` (Vocos'): ESPnet's HiFiGAN
  multi-period discriminator (periods 2, 3, 5, 7, 11) plus one of the above; outputs concatenated.

The task selects them by name through ``espnet_plugin.vae.choices.discriminator_choices``.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from espnet2.gan_codec.shared.discriminator.msmpmb_discriminator import MultiBandDiscriminator
from espnet2.gan_tts.hifigan.hifigan import HiFiGANMultiPeriodDiscriminator

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.abs_parts import AbsDiscriminator
from espnet_plugin.vae.cqt import ConstantQTransform
from espnet_plugin.vae.encoder import check_wav

Outputs = List[List[torch.Tensor]]

#: ESPnet HiFiGAN period-discriminator defaults (the paper-size MPD); ``mpd_conf`` overrides keys.
MPD_DEFAULTS: Dict[str, Any] = {
    "in_channels": 1,
    "out_channels": 1,
    "kernel_sizes": [5, 3],
    "channels": 32,
    "downsample_scales": [3, 3, 3, 3, 1],
    "max_downsample_channels": 1024,
    "bias": True,
    "nonlinear_activation": "LeakyReLU",
    "nonlinear_activation_params": {"negative_slope": 0.1},
    "use_weight_norm": True,
    "use_spectral_norm": False,
}


def _conv_stack(z: torch.Tensor, convs: nn.ModuleList, conv_post: nn.Module, slope: float) -> List[torch.Tensor]:
    """``convs`` each followed by leaky ReLU, then ``conv_post``: ``[fmap_1, ..., fmap_L, logits]``."""
    outs: List[torch.Tensor] = []
    for conv in convs:
        z = F.leaky_relu(conv(z), slope)
        outs.append(z)
    outs.append(conv_post(z))
    return outs


def _peak_normalize(x: torch.Tensor) -> torch.Tensor:
    """Remove DC and scale to peak 0.8 per channel (BigVGAN / DAC ``normalize_volume``). ``(B, C, N)``."""
    x = x - x.mean(dim=-1, keepdim=True)
    return 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)


def _pad2d(kernel: Tuple[int, int], dilation: Tuple[int, int] = (1, 1)) -> Tuple[int, int]:
    return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)


def _per_scale(value: Union[int, Sequence[int]], n: int, name: str) -> List[int]:
    vals = [int(value)] * n if isinstance(value, int) else [int(v) for v in value]
    if len(vals) != n:
        raise ConfigError(f"{name}={value} must be an int or have one entry per scale ({n})")
    return vals


class SubbandCQTDiscriminator(nn.Module):
    """One scale of BigVGAN-v2's sub-band CQT discriminator.

    ``(B, C, N)`` -> CQT ``(B, 2C, T, n_bins)`` (real / imag channels, time, bins) -> per-octave
    ``Conv2d(2C, 2C, kernel)`` (sub-band convs, concatenated back along bins) -> ``Conv2d(2C, filters)``
    -> one conv per dilation ``d`` (stride ``(1, 2)``: bins halved; dilation ``(d, 1)``: over time;
    channels ``min(filters * filters_scale^(i+1), max_filters)``) -> ``Conv2d(3x3)`` -> logits
    ``Conv2d(3x3, out_channels)``. LeakyReLU(0.1) after every conv of the stack; each of those
    activations is a feature map. Weight norm as in BigVGAN (not on the sub-band convs / first conv).

    Sampling rates: BigVGAN upsamples the input x2 and runs its CQT at ``2 fs`` with ``hop_length``.
    Here the CQT runs at ``fs`` with hop ``hop_length // hop_divisor`` (default 2): the same frame
    rate, and the same content (the upsampled signal is empty above ``fs / 2``); with
    ``cqt_norm="librosa"`` (nnAudio's default, used by BigVGAN) values differ from BigVGAN's by a
    constant ``sqrt(hop_divisor)`` (kernels half as long), absorbed by the first conv. Bins above Nyquist
    are dropped by ``ConstantQTransform`` (at 16 kHz, 8 octaves from 32.7 Hz reach 8.37 kHz); the
    last octave's sub-band then has fewer bins. ``hop_divisor=1`` reads ``hop_length`` at ``fs``.
    """

    def __init__(
        self,
        fs: int = 16000,
        hop_length: int = 512,
        n_octaves: int = 8,
        bins_per_octave: int = 24,
        fmin: float = 32.7,
        filters: int = 32,
        max_filters: int = 1024,
        filters_scale: int = 1,
        dilations: Sequence[int] = (1, 2, 4),
        in_channels: int = 1,
        out_channels: int = 1,
        kernel_size: Sequence[int] = (3, 9),
        stride: Sequence[int] = (1, 2),
        hop_divisor: int = 2,
        normalize_volume: bool = False,
        negative_slope: float = 0.1,
        cqt_norm: str = "librosa",
    ) -> None:
        super().__init__()
        if hop_divisor < 1 or hop_length % hop_divisor != 0:
            raise ConfigError(f"hop_length={hop_length} must be divisible by hop_divisor={hop_divisor} >= 1")
        self.normalize_volume = normalize_volume
        self.negative_slope = negative_slope
        self.cqt = ConstantQTransform(
            fs=fs, hop_length=hop_length // hop_divisor, fmin=fmin, n_bins=n_octaves * bins_per_octave,
            bins_per_octave=bins_per_octave, norm=cqt_norm, output_format="real_imag",
        )
        # one sub-band per octave: the CQT's kernel groups, (start, stop) bin ranges (the last one
        # shorter when bins past Nyquist were dropped)
        stops = list(itertools.accumulate(self.cqt.group_sizes))
        self.band_edges = list(zip([0] + stops[:-1], stops))
        k = (int(kernel_size[0]), int(kernel_size[1]))
        ch = 2 * in_channels
        self.conv_pres = nn.ModuleList([nn.Conv2d(ch, ch, k, padding=_pad2d(k)) for _ in self.band_edges])
        self.convs = nn.ModuleList([nn.Conv2d(ch, filters, k, padding=_pad2d(k))])
        in_chs = filters
        for i, d in enumerate(dilations):
            out_chs = min(filters * filters_scale ** (i + 1), max_filters)
            conv = nn.Conv2d(
                in_chs, out_chs, k, stride=tuple(stride), dilation=(d, 1), padding=_pad2d(k, (d, 1))
            )
            self.convs.append(weight_norm(conv))
            in_chs = out_chs
        out_chs = min(filters * filters_scale ** (len(dilations) + 1), max_filters)
        k3 = (k[0], k[0])
        self.convs.append(weight_norm(nn.Conv2d(in_chs, out_chs, k3, padding=_pad2d(k3))))
        self.conv_post = weight_norm(nn.Conv2d(out_chs, out_channels, k3, padding=_pad2d(k3)))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(B, C, N)`` -> ``[fmap_1, ..., fmap_L, logits]``; logits ``(B, out_channels, T', bins')``."""
        check_wav(x, type(self).__name__)
        if self.normalize_volume:
            x = _peak_normalize(x)
        z = self.cqt(x).transpose(2, 3)  # (B, 2C, T, n_bins)
        z = torch.cat([conv(z[..., s:e]) for conv, (s, e) in zip(self.conv_pres, self.band_edges)], dim=-1)
        return _conv_stack(z, self.convs, self.conv_post, self.negative_slope)


class MultiScaleSubbandCQTDiscriminator(AbsDiscriminator):
    """BigVGAN-v2 multi-scale sub-band CQT discriminator: one ``SubbandCQTDiscriminator`` per
    ``(hop_length, n_octaves, bins_per_octave)`` triple. ``(B, C, N)`` -> ``List[List[Tensor]]``.

    Paper setting: hops (512, 256, 256) (at BigVGAN's ``2 fs``, see ``hop_divisor``), 8 octaves,
    bins per octave (24, 36, 48), fmin 32.7 Hz. Other keyword arguments go to every scale.
    """

    def __init__(
        self,
        fs: int = 16000,
        hop_lengths: Sequence[int] = (512, 256, 256),
        n_octaves: Union[int, Sequence[int]] = (8, 8, 8),
        bins_per_octaves: Union[int, Sequence[int]] = (24, 36, 48),
        fmin: float = 32.7,
        filters: int = 32,
        max_filters: int = 1024,
        filters_scale: int = 1,
        dilations: Sequence[int] = (1, 2, 4),
        in_channels: int = 1,
        out_channels: int = 1,
        hop_divisor: int = 2,
        normalize_volume: bool = False,
        cqt_norm: str = "librosa",
    ) -> None:
        super().__init__()
        n = len(hop_lengths)
        octs = _per_scale(n_octaves, n, "n_octaves")
        bpos = _per_scale(bins_per_octaves, n, "bins_per_octaves")
        self.discriminators = nn.ModuleList(
            [
                SubbandCQTDiscriminator(
                    fs=fs, hop_length=h, n_octaves=o, bins_per_octave=b, fmin=fmin, filters=filters,
                    max_filters=max_filters, filters_scale=filters_scale, dilations=dilations,
                    in_channels=in_channels, out_channels=out_channels, hop_divisor=hop_divisor,
                    normalize_volume=normalize_volume, cqt_norm=cqt_norm,
                )
                for h, o, b in zip(hop_lengths, octs, bpos)
            ]
        )

    @classmethod
    def conf_with_fs(cls, conf: Dict[str, Any], fs: int) -> Dict[str, Any]:
        """``conf`` with ``fs`` (the task's) unless set."""
        return {"fs": fs, **conf}

    def forward(self, x: torch.Tensor) -> Outputs:
        """``(B, C, N)`` -> one ``[fmaps..., logits]`` list per scale."""
        return [d(x) for d in self.discriminators]


class STFTMagnitudeDiscriminator(nn.Module):
    """One resolution of Vocos' (paper) / UnivNet's multi-resolution discriminator.

    ``(B, C, N)`` -> ``|STFT|`` ``(B, C, n_fft/2+1, frames)`` (centred, ``window=None`` is
    rectangular as in Vocos) -> 5 weight-normed ``Conv2d`` (``channels``; kernels (7,5), (5,3), (5,3),
    3, 3; strides (2,2), (2,1), (2,2), (2,1), (2,2) over (freq, time)) each + LeakyReLU (feature maps)
    -> logits ``Conv2d(channels, out_channels, 3)``.
    """

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        window: Optional[str] = None,
        channels: int = 64,
        in_channels: int = 1,
        out_channels: int = 1,
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        if window not in (None, "hann"):
            raise ConfigError(f"STFT discriminator window={window!r} not in (None, 'hann')")
        if win_length > n_fft:
            raise ConfigError(f"STFT discriminator win_length={win_length} > n_fft={n_fft}")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        win = torch.hann_window(win_length) if window == "hann" else torch.ones(win_length)
        self.register_buffer("window", win, persistent=False)
        self.negative_slope = negative_slope
        specs = [(7, 5, 2, 2), (5, 3, 2, 1), (5, 3, 2, 2), (3, 3, 2, 1), (3, 3, 2, 2)]
        self.convs = nn.ModuleList()
        c_in = in_channels
        for kf, kt, sf, st in specs:
            conv = nn.Conv2d(c_in, channels, (kf, kt), stride=(sf, st), padding=(kf // 2, kt // 2))
            self.convs.append(weight_norm(conv))
            c_in = channels
        self.conv_post = weight_norm(nn.Conv2d(channels, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(B, C, N)`` -> ``[fmap_1, ..., fmap_5, logits]``, ``N > n_fft // 2`` (reflect padding)."""
        check_wav(x, type(self).__name__)
        b, c, n = x.shape
        if n <= self.n_fft // 2:
            raise DataError(f"waveform of {n} samples is too short for the n_fft={self.n_fft} discriminator")
        spec = torch.stft(
            x.reshape(b * c, n), self.n_fft, self.hop_length, self.win_length,
            window=self.window.to(x.dtype), center=True, return_complex=True,
        ).abs()
        z = spec.reshape(b, c, *spec.shape[-2:])
        return _conv_stack(z, self.convs, self.conv_post, self.negative_slope)


class _MultiBand(nn.Module):
    """ESPnet's DAC-style complex multi-band STFT discriminator (as in vocos 0.1.0), optional peak norm."""

    def __init__(self, n_fft: int, hop_length: int, channels: int, bands: Sequence[Sequence[float]],
                 normalize_volume: bool) -> None:
        super().__init__()
        self.normalize_volume = normalize_volume
        self.disc = MultiBandDiscriminator(
            n_fft, hop_factor=hop_length / n_fft, bands=[tuple(b) for b in bands], channel=channels
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(B, 1, N)`` -> ``[fmaps..., logits]``."""
        check_wav(x, "MultiBandDiscriminator")
        return self.disc(_peak_normalize(x) if self.normalize_volume else x)


class MultiResolutionSTFTDiscriminator(AbsDiscriminator):
    """Multi-resolution STFT discriminator (Vocos' MRD). ``(B, C, N)`` -> ``List[List[Tensor]]``.

    Args:
        fft_sizes: one sub-discriminator per FFT size (Vocos: 1024, 2048, 512).
        hop_sizes / win_lengths: per resolution; default ``n_fft // 4`` / ``n_fft`` (Vocos).
        kind: ``"magnitude"`` (Vocos paper / UnivNet, ``STFTMagnitudeDiscriminator``, channels 64) or
            ``"multiband"`` (DAC / vocos 0.1.0 code: real+imag STFT split into ``bands`` (fractions of
            the spectrum), per band a (3, 9) conv stack, channels 32; C must be 1).
        channels: conv channels (None: 64 for magnitude, 32 for multiband).
        window: magnitude kind only, ``None`` (rectangular, Vocos) or ``"hann"``.
        normalize_volume: multiband kind only: DC removal + peak 0.8 before the STFT (vocos 0.1.0).
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (1024, 2048, 512),
        hop_sizes: Optional[Sequence[int]] = None,
        win_lengths: Optional[Sequence[int]] = None,
        kind: str = "magnitude",
        channels: Optional[int] = None,
        window: Optional[str] = None,
        in_channels: int = 1,
        out_channels: int = 1,
        bands: Sequence[Sequence[float]] = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)),
        normalize_volume: bool = True,
    ) -> None:
        super().__init__()
        hops = list(hop_sizes) if hop_sizes is not None else [n // 4 for n in fft_sizes]
        wins = list(win_lengths) if win_lengths is not None else list(fft_sizes)
        if len(hops) != len(fft_sizes) or len(wins) != len(fft_sizes):
            raise ConfigError(f"hop_sizes={hop_sizes} / win_lengths={win_lengths} must match fft_sizes={fft_sizes}")
        if kind == "magnitude":
            self.discriminators = nn.ModuleList(
                [
                    STFTMagnitudeDiscriminator(n, h, w, window, channels or 64, in_channels, out_channels)
                    for n, h, w in zip(fft_sizes, hops, wins)
                ]
            )
        elif kind == "multiband":
            if in_channels != 1 or out_channels != 1 or wins != list(fft_sizes):
                raise ConfigError("kind='multiband' supports in/out_channels=1 and win_lengths == fft_sizes only")
            self.discriminators = nn.ModuleList(
                [_MultiBand(n, h, channels or 32, bands, normalize_volume) for n, h in zip(fft_sizes, hops)]
            )
        else:
            raise ConfigError(f"MultiResolutionSTFTDiscriminator kind={kind!r} not in ('magnitude', 'multiband')")

    def forward(self, x: torch.Tensor) -> Outputs:
        """``(B, C, N)`` -> one ``[fmaps..., logits]`` list per resolution."""
        return [d(x) for d in self.discriminators]


def _mpd(periods: Sequence[int], mpd_conf: Optional[Dict[str, Any]]) -> HiFiGANMultiPeriodDiscriminator:
    conf = copy.deepcopy(MPD_DEFAULTS)
    conf.update(mpd_conf or {})
    if "period" in conf:
        raise ConfigError("mpd_conf must not set 'period' (use periods=...)")
    return HiFiGANMultiPeriodDiscriminator(periods=list(periods), discriminator_params=conf)


class _MPDPlus(AbsDiscriminator):
    """ESPnet's HiFiGAN MPD followed by one multi-resolution discriminator ``self.<name>``.

    ``(B, 1, N)`` -> ``mpd(x) + <name>(x)`` (``List[List[Tensor]]``, MPD's first).
    """

    def __init__(self, periods: Sequence[int], mpd_conf: Optional[Dict[str, Any]], name: str, other: nn.Module):
        super().__init__()
        self.mpd = _mpd(periods, mpd_conf)
        self._other = name
        self.add_module(name, other)  # "cqt" / "mrd": the state-dict names of the two composites

    def forward(self, x: torch.Tensor) -> Outputs:
        """``(B, 1, N)`` -> ``List[List[Tensor]]`` (MPD's first, then one per scale/resolution)."""
        check_wav(x, type(self).__name__)
        return self.mpd(x) + getattr(self, self._other)(x)


class MPDCQTDiscriminator(_MPDPlus):
    """The paper's discriminator: HiFiGAN MPD + multi-scale sub-band CQT discriminator.

    ``(B, 1, N)`` -> ``mpd(x) + cqt(x)`` (``len(periods) + n_scales`` inner lists, logits last).
    ``mpd_conf`` overrides ``MPD_DEFAULTS`` (ESPnet ``HiFiGANPeriodDiscriminator`` kwargs);
    ``cqt_conf`` is passed to ``MultiScaleSubbandCQTDiscriminator``.
    """

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        mpd_conf: Optional[Dict[str, Any]] = None,
        cqt_conf: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(periods, mpd_conf, "cqt", MultiScaleSubbandCQTDiscriminator(**(cqt_conf or {})))

    @classmethod
    def conf_with_fs(cls, conf: Dict[str, Any], fs: int) -> Dict[str, Any]:
        """``conf`` with ``cqt_conf.fs`` = the task's ``fs`` unless set (the CQT discriminator's)."""
        return {**conf, "cqt_conf": MultiScaleSubbandCQTDiscriminator.conf_with_fs(conf.get("cqt_conf") or {}, fs)}


class MPDMRDDiscriminator(_MPDPlus):
    """Vocos' discriminator: HiFiGAN MPD + multi-resolution STFT discriminator.

    ``(B, 1, N)`` -> ``mpd(x) + mrd(x)``. ``mrd_conf`` goes to ``MultiResolutionSTFTDiscriminator``.
    """

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        mpd_conf: Optional[Dict[str, Any]] = None,
        mrd_conf: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(periods, mpd_conf, "mrd", MultiResolutionSTFTDiscriminator(**(mrd_conf or {})))


__all__ = [
    "MPD_DEFAULTS", "SubbandCQTDiscriminator", "MultiScaleSubbandCQTDiscriminator", "STFTMagnitudeDiscriminator",
    "MultiResolutionSTFTDiscriminator", "MPDCQTDiscriminator", "MPDMRDDiscriminator",
]
