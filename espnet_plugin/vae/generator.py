"""The speech VAE generator: encoder -> bottleneck -> decoder, composed from config.

Shapes (hop = encoder.hop_length = decoder.hop_length, 400 at 16 kHz -> 40 Hz)::

    wav (B, 1, N) --encoder--> h (B, C, T)  T = ceil(N / hop)
                  --bottleneck--> z (B, D, T), kl
                  --decoder--> wav_hat (B, 1, T * hop)

``encode``/``decode`` are the public latent API (time-major ``(B, T, D)``), used by
latent extraction, the TTS, the ASR probe frontend and the demo.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from espnet_plugin.errors import ConfigError
from espnet_plugin.nn.masking import lengths_to_mask


def _full_precision(wav: torch.Tensor) -> torch.Tensor:
    """A decoder's fp16 / bf16 output (e.g. a third-party decoder under autocast) as float32."""
    return wav.float() if wav.dtype in (torch.float16, torch.bfloat16) else wav


class SpeechVAE(nn.Module):
    """Encoder + bottleneck + decoder of a speech VAE (or a mel vocoder with encoder ``mel``).

    Args:
        encoder: module with ``hop_length``, ``out_channels``, ``forward(wav (B,1,N)) -> (B,C,T)``.
        bottleneck: module ``forward(h, mask, sample) -> (z (B,D,T), kl, stats)``.
        decoder: module with ``hop_length``, ``forward(z (B,D,T)) -> (B,1,T*hop)``.
        fs: sampling rate of the waveform.
        latent_dim: D.
    """

    def __init__(self, encoder: nn.Module, bottleneck: nn.Module, decoder: nn.Module, fs: int = 16000, latent_dim: int = 64):
        super().__init__()
        if encoder.hop_length != decoder.hop_length:
            raise ConfigError(
                f"encoder hop ({encoder.hop_length}) differs from decoder hop ({decoder.hop_length}): "
                "check encoder strides vs decoder upsample rates / hop_length"
            )
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder
        self.fs = fs
        self.latent_dim = latent_dim
        self.hop_length = int(encoder.hop_length)

    @property
    def frame_rate(self) -> float:
        return self.fs / self.hop_length

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of latent frames for waveform lengths: ceil(N / hop)."""
        return torch.div(lengths + self.hop_length - 1, self.hop_length, rounding_mode="floor")

    def forward(
        self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None, sample: Optional[bool] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """Reconstruct.

        Args:
            wav: (B, 1, N) or (B, N).
            lengths: (B,) valid samples (None = all).
            sample: reparameterise (default: in training mode).
        Returns:
            wav_hat (B, 1, N) (cropped/padded to N; float32 also under autocast, as the real audio),
            z (B, D, T), mask (B, T) bool, kl (scalar), stats.
        """
        if wav.dim() == 2:
            wav = wav.unsqueeze(1)
        n = wav.size(-1)
        h = self.encoder(wav)
        t = h.size(-1)
        if lengths is None:
            mask = torch.ones(wav.size(0), t, dtype=torch.bool, device=wav.device)
        else:
            mask = lengths_to_mask(self.num_frames(lengths), t)
        z, kl, stats = self.bottleneck(h, mask=mask, sample=sample)
        wav_hat = _full_precision(self.decoder(z))
        if wav_hat.size(-1) >= n:
            wav_hat = wav_hat[..., :n]
        else:
            wav_hat = nn.functional.pad(wav_hat, (0, n - wav_hat.size(-1)))
        return wav_hat, z, mask, kl, stats

    @torch.no_grad()
    def encode(
        self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None, sample: bool = False
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, N) waveform -> latent (B, T, D) (posterior mean unless ``sample``), lengths (B,)."""
        if wav.dim() == 2:
            wav = wav.unsqueeze(1)
        if lengths is None:
            lengths = torch.full((wav.size(0),), wav.size(-1), dtype=torch.long, device=wav.device)
        h = self.encoder(wav)
        mask = lengths_to_mask(self.num_frames(lengths), h.size(-1))
        z, _, _ = self.bottleneck(h, mask=mask, sample=sample)
        return z.transpose(1, 2), self.num_frames(lengths)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B, T, D) -> waveform (B, T * hop), float32 (float64 if the model runs in it)."""
        return _full_precision(self.decoder(z.transpose(1, 2))).squeeze(1)
