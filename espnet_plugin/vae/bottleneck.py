"""VAE bottlenecks: encoder output ``h (B, C, T)`` -> latent ``z (B, D, T)``, KL term and stats.

``GaussianBottleneck`` (the paper's):
    ``mu, s = split(h)``, ``sigma = softplus(s) + 1e-4``, ``z = mu + sigma * eps`` (eps ~ N(0, I)) when
    sampling, else ``z = mu``;
    ``KL = mean_{b, valid t} sum_d (mu^2 + sigma^2 - log sigma^2 - 1)``
    (no 0.5 factor: exactly the formula of the paper's code, i.e. twice the analytic KL to N(0, I)).

``DeterministicBottleneck``: ``z = h``, ``KL = 0`` (plain autoencoder / fixed features such as mel).

``mask`` is ``(B, T)`` bool with True on valid (unpadded) frames; ``None`` means all valid.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.nn.masking import masked_mean
from espnet_plugin.vae.abs_parts import AbsBottleneck

SIGMA_FLOOR = 1e-4


def _check_mask(mask: torch.Tensor | None, h: torch.Tensor) -> None:
    if mask is not None and tuple(mask.shape) != (h.shape[0], h.shape[2]):
        raise DataError(
            f"bottleneck mask shape {tuple(mask.shape)} does not match (B, T) = "
            f"{(h.shape[0], h.shape[2])} of the encoder output {tuple(h.shape)}"
        )


class GaussianBottleneck(AbsBottleneck):
    """Diagonal-Gaussian bottleneck with the reparameterisation trick.

    Args:
        latent_dim: D, the latent channels (the encoder must output ``2 * D`` channels).

    Forward: ``h (B, 2D, T), mask (B, T) | None, sample: bool | None`` ->
    ``(z (B, D, T), kl (0-dim), {"mu": (B, D, T), "sigma": (B, D, T)})``.
    ``sample`` defaults to ``self.training``.
    KL (computed in float32): ``mean_{b, valid t} sum_d (mu^2 + sigma^2 - log sigma^2 - 1)``.
    """

    def __init__(self, latent_dim: int = 64) -> None:
        super().__init__()
        if latent_dim <= 0:
            raise ConfigError(f"GaussianBottleneck: latent_dim must be positive, got {latent_dim}")
        self.latent_dim = int(latent_dim)

    @staticmethod
    def in_channels(latent_dim: int) -> int:
        """Encoder output channels needed for ``latent_dim``: ``2 * latent_dim`` (mean and scale)."""
        return 2 * int(latent_dim)

    def forward(
        self, h: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Split, reparameterise and compute the KL term (see class docstring)."""
        if h.dim() != 3 or h.shape[1] != 2 * self.latent_dim:
            raise ConfigError(
                f"GaussianBottleneck(latent_dim={self.latent_dim}) expects (B, {2 * self.latent_dim}, T) "
                f"input, got {tuple(h.shape)}: set the encoder's out_channels to 2 * latent_dim"
            )
        _check_mask(mask, h)
        mu, s = h.chunk(2, dim=1)
        sigma = F.softplus(s) + SIGMA_FLOOR
        if sample is None:
            sample = self.training
        z = mu + sigma * torch.randn_like(mu) if sample else mu
        mu32, sigma32 = mu.float(), sigma.float()
        var = sigma32.pow(2)
        kl_frame = (mu32.pow(2) + var - torch.log(var) - 1.0).sum(dim=1)  # (B, T)
        kl = kl_frame.mean() if mask is None else masked_mean(kl_frame, mask.to(torch.bool))
        return z, kl, {"mu": mu, "sigma": sigma}


class DeterministicBottleneck(AbsBottleneck):
    """Identity bottleneck: ``z = h``, ``kl = 0``.

    Args:
        latent_dim: D (the encoder must output D channels).

    Forward: ``h (B, D, T)`` -> ``(z = h (B, D, T), kl = 0 (0-dim, h's device), {})``.
    """

    has_kl = False

    def __init__(self, latent_dim: int = 64) -> None:
        super().__init__()
        if latent_dim <= 0:
            raise ConfigError(f"DeterministicBottleneck: latent_dim must be positive, got {latent_dim}")
        self.latent_dim = int(latent_dim)

    @staticmethod
    def in_channels(latent_dim: int) -> int:
        """Encoder output channels needed for ``latent_dim``: ``latent_dim``."""
        return int(latent_dim)

    def forward(
        self, h: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(h, 0, {})``; ``sample`` is ignored."""
        if h.dim() != 3 or h.shape[1] != self.latent_dim:
            raise ConfigError(
                f"DeterministicBottleneck(latent_dim={self.latent_dim}) expects (B, {self.latent_dim}, T) "
                f"input, got {tuple(h.shape)}"
            )
        _check_mask(mask, h)
        return h, h.new_zeros((), dtype=torch.float32), {}
