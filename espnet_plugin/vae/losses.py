"""Reconstruction and GAN losses of the speech VAE. Waveforms are ``(B, 1, N)``; losses are 0-dim.

Own code:
- ``MultiResolutionSTFTLoss`` (auraloss-like, the paper's reconstruction loss, perceptual weighting).
- ``MelL1Loss`` (ESPnet ``MelSpectrogramLoss`` with 16 kHz / natural-log defaults) and
  ``MultiScaleMelL1Loss`` (mean of ``MelL1Loss`` over several FFT sizes, DAC-style sizes).

Re-exported from ``espnet2.gan_tts.hifigan.loss`` (formulas checked against the ESPnet 202511 code;
``D_k`` is the LAST tensor (logits) of sub-discriminator ``k``'s list, ``K`` sub-discriminators, means
over all elements of a tensor; with ``average_by_discriminators=True`` (ESPnet default) the sums over
``k`` are divided by ``K``; BigVGAN / the paper's code **sum** over ``k``, i.e. ``False``):

- ``GeneratorAdversarialLoss(average_by_discriminators=True, loss_type="mse"|"hinge")``,
  ``forward(outs_hat) -> Tensor``: mse (LSGAN) ``sum_k mean((1 - D_k(x_hat))^2)``;
  hinge ``sum_k -mean(D_k(x_hat))``.
- ``DiscriminatorAdversarialLoss(average_by_discriminators=True, loss_type="mse"|"hinge")``,
  ``forward(outs_hat, outs) -> (real_loss, fake_loss)``: mse ``real = sum_k mean((1 - D_k(x))^2)``,
  ``fake = sum_k mean(D_k(x_hat)^2)``; hinge ``real = sum_k mean(relu(1 - D_k(x)))``,
  ``fake = sum_k mean(relu(1 + D_k(x_hat)))``. Pass ``x_hat.detach()`` through D for this loss.
- ``FeatureMatchLoss(average_by_layers=True, average_by_discriminators=True,
  include_final_outputs=False)``, ``forward(outs_hat, outs)``:
  ``sum_k [sum_l mean|F_kl(x_hat) - F_kl(x).detach()|] (/ L_k if average_by_layers)`` (``/ K`` if
  average_by_discriminators), over all tensors but the logits unless ``include_final_outputs``.
  BigVGAN's feature loss (weight 2 in the paper) is the plain sum: both averaging flags ``False``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from espnet2.gan_tts.hifigan.loss import (
    DiscriminatorAdversarialLoss,
    FeatureMatchLoss,
    GeneratorAdversarialLoss,
    MelSpectrogramLoss,
)

from espnet_plugin.errors import ConfigError, DataError


def a_weighting(freqs: torch.Tensor) -> torch.Tensor:
    """A-weighting (IEC 61672-1) as a linear amplitude gain, normalised to exactly 1 at 1 kHz.

    ``R(f) = 12194^2 f^4 / ((f^2 + 20.6^2) sqrt((f^2 + 107.7^2)(f^2 + 737.9^2)) (f^2 + 12194^2))``,
    returns ``R(f) / R(1000)`` (in dB: -19.1 at 100 Hz, -2.5 at 10 kHz; gain 0 at DC).
    Shapes: ``(...,)`` Hz -> ``(...,)``.
    """

    def r(f: torch.Tensor) -> torch.Tensor:
        f2 = f.double() ** 2
        num = 12194.217**2 * f2**2
        den = (f2 + 20.598997**2) * (f2 + 12194.217**2)
        den = den * torch.sqrt((f2 + 107.65265**2) * (f2 + 737.86223**2))
        return num / den

    return (r(freqs) / r(torch.tensor(1000.0))).to(freqs.dtype)


def _stft(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """``(B', N)`` -> complex ``(B', n_fft // 2 + 1, frames)``, centred (reflect pad, zeros if too short)."""
    mode = "reflect" if x.shape[-1] > n_fft // 2 else "constant"
    return torch.stft(
        x, n_fft, hop, window.shape[0], window=window, center=True, pad_mode=mode, return_complex=True
    )


class MultiResolutionSTFTLoss(nn.Module):
    """Multi-resolution STFT loss (auraloss ``MultiResolutionSTFTLoss`` formulas), the paper's
    reconstruction loss (FFT sizes 2048 ... 32, hop = FFT / 4, window = FFT, perceptual weighting).

    Per resolution ``r`` (Hann window of ``win_ratio * n_fft``, hop ``hop_ratio * n_fft``, centred):
    ``M = sqrt(max(W^2 |STFT(.)|^2, eps))`` for prediction (``M_hat``) and target (``M``), with
    ``W(f)`` the per-bin A-weighting gain (``a_weighting``, 1 at 1 kHz) if ``perceptual_weighting``
    else 1. We weight the bins of the spectrum; auraloss instead filters the waveforms with an
    A-weighting FIR before the STFT (same intent, no filter-design error, but DC gets weight 0)::

        sc_r      = ||M - M_hat||_F / ||M||_F          (Frobenius norms over the whole batch)
        log_mag_r = mean |log M - log M_hat|
        lin_mag_r = mean |M - M_hat|
        L = (1 / R) sum_r (w_sc * sc_r + w_log_mag * log_mag_r + w_lin_mag * lin_mag_r)

    The weights cancel inside ``log_mag`` (except where ``eps`` clips), so perceptual weighting acts
    through ``sc`` (and ``lin_mag``). Computed in float32. ``forward(x_hat, x)``: ``(B, C, N)`` x 2 -> 0-dim.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64, 32),
        hop_ratio: float = 0.25,
        win_ratio: float = 1.0,
        perceptual_weighting: bool = True,
        fs: int = 16000,
        w_sc: float = 1.0,
        w_log_mag: float = 1.0,
        w_lin_mag: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if not fft_sizes:
            raise ConfigError("MultiResolutionSTFTLoss: fft_sizes is empty")
        self.fft_sizes = [int(n) for n in fft_sizes]
        self.hops: List[int] = []
        self.perceptual_weighting = perceptual_weighting
        self.w_sc, self.w_log_mag, self.w_lin_mag, self.eps = w_sc, w_log_mag, w_lin_mag, eps
        for i, n in enumerate(self.fft_sizes):
            win, hop = int(n * win_ratio), max(1, int(n * hop_ratio))
            if not 1 < win <= n:
                raise ConfigError(
                    f"MultiResolutionSTFTLoss: win_ratio={win_ratio} gives window {win} for n_fft={n}"
                )
            self.hops.append(hop)
            self.register_buffer(f"window_{i}", torch.hann_window(win), persistent=False)
            freqs = torch.arange(n // 2 + 1, dtype=torch.float64) * fs / n
            gain = a_weighting(freqs).float() if perceptual_weighting else torch.ones(n // 2 + 1)
            self.register_buffer(f"weight_{i}", gain[:, None] ** 2, persistent=False)

    def magnitudes(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Weighted magnitude ``M`` of resolution ``i``: ``(B, C, N)`` -> ``(B * C, F, frames)``."""
        window = getattr(self, f"window_{i}")
        s = _stft(x.reshape(-1, x.shape[-1]).float(), self.fft_sizes[i], self.hops[i], window)
        power = (s.real.square() + s.imag.square()) * getattr(self, f"weight_{i}")
        return torch.clamp(power, min=self.eps).sqrt()

    def terms(self, x_hat: torch.Tensor, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Unweighted ``sc``, ``log_mag``, ``lin_mag`` averaged over resolutions (for logging), 0-dim each."""
        if x_hat.shape != x.shape:
            raise DataError(
                f"MultiResolutionSTFTLoss: prediction {tuple(x_hat.shape)} != target {tuple(x.shape)}"
            )
        sc = log_mag = lin_mag = x.new_zeros((), dtype=torch.float32)
        for i in range(len(self.fft_sizes)):
            m_hat, m = self.magnitudes(x_hat, i), self.magnitudes(x, i)
            sc = sc + torch.linalg.norm(m - m_hat) / torch.linalg.norm(m)
            log_mag = log_mag + (m.log() - m_hat.log()).abs().mean()
            lin_mag = lin_mag + (m - m_hat).abs().mean()
        r = len(self.fft_sizes)
        return {"sc": sc / r, "log_mag": log_mag / r, "lin_mag": lin_mag / r}

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, N)`` prediction and target -> 0-dim loss (formula in the class docstring)."""
        t = self.terms(x_hat, x)
        return self.w_sc * t["sc"] + self.w_log_mag * t["log_mag"] + self.w_lin_mag * t["lin_mag"]


class MelL1Loss(MelSpectrogramLoss):
    """L1 between log-mel spectrograms (ESPnet ``MelSpectrogramLoss``, 16 kHz defaults).

    ``L = mean |log(max(Mel(|STFT(x_hat)|), 1e-10)) - log(max(Mel(|STFT(x)|), 1e-10))|`` with
    ``|STFT| = sqrt(max(re^2 + im^2, 1e-10))``, librosa (Slaney) mel filters, Hann window, centred
    frames; ``log`` is natural for ``log_base=None`` (else base 2 or 10).
    ``forward(y_hat (B, 1, N), y (B, 1, N)) -> 0-dim`` (``use_mse=True`` gives the squared version).
    """

    def __init__(
        self,
        fs: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: Optional[int] = None,
        n_mels: int = 80,
        fmin: int = 0,
        fmax: Optional[int] = None,
        log_base: Optional[float] = None,
    ) -> None:
        super().__init__(
            fs=int(fs), n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels,
            fmin=int(fmin), fmax=None if fmax is None else int(fmax), log_base=log_base,
        )


class MultiScaleMelL1Loss(nn.Module):
    """Mean of ``MelL1Loss`` over scales: ``L = (1 / S) sum_s MelL1Loss_s(x_hat, x)``, scale ``s`` with
    ``n_fft = win = n_ffts[s]``, hop ``n_fft * hop_ratio``, ``n_mels[s]`` bands (DAC's sizes by default).
    ``forward(x_hat (B, 1, N), x (B, 1, N)) -> 0-dim``.
    """

    def __init__(
        self,
        fs: int = 16000,
        n_ffts: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048),
        n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
        hop_ratio: float = 0.25,
        fmin: int = 0,
        fmax: Optional[int] = None,
        log_base: Optional[float] = None,
    ) -> None:
        super().__init__()
        if len(n_ffts) != len(n_mels) or not n_ffts:
            raise ConfigError(
                f"MultiScaleMelL1Loss: n_ffts={n_ffts} and n_mels={n_mels} must be non-empty, same length"
            )
        self.losses = nn.ModuleList(
            [
                MelL1Loss(fs, n, max(1, int(n * hop_ratio)), None, m, fmin, fmax, log_base)
                for n, m in zip(n_ffts, n_mels)
            ]
        )

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, N)`` x 2 -> 0-dim mean over scales."""
        return sum(loss(x_hat, x) for loss in self.losses) / len(self.losses)


__all__ = [
    "a_weighting",
    "MultiResolutionSTFTLoss",
    "MelL1Loss",
    "MultiScaleMelL1Loss",
    "GeneratorAdversarialLoss",
    "DiscriminatorAdversarialLoss",
    "FeatureMatchLoss",
]
