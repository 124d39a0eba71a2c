"""Abstract bases of the speech VAE's parts (what the task and the model rely on, and nothing else).

A new part is one subclass of its base plus one entry point (see ``vae/choices.py``); the registry
refuses a class that does not derive from the slot's base. Shapes (B batch, N samples, T frames,
``T = ceil(N / hop_length)``, D latent channels)::

    AbsEncoder        wav (B, 1, N)            -> h (B, out_channels, T)
    AbsBottleneck     h (B, in_channels(D), T) -> z (B, D, T), kl (), stats {str: (B, D, T)}
    AbsDecoder        z (B, D, T)              -> wav (B, 1, T * hop_length), float32
    AbsDiscriminator  wav (B, 1, N)            -> [[feature maps ..., logits] per sub-discriminator]

The task's ``--fs`` reaches a part through :meth:`AbsEncoder.conf_with_fs` /
:meth:`AbsDiscriminator.conf_with_fs` (the default adds nothing).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn


class AbsEncoder(nn.Module, ABC):
    """Waveform -> frame-rate features that feed the bottleneck.

    Required attributes (set in ``__init__``):
        hop_length (int): samples per output frame; the input is right-padded to a multiple of it.
        out_channels (int): channels C of the output.
        last_layer (nn.Module | None): the layer whose ``weight`` / ``bias`` the adaptive loss
            weighting differentiates against (LOSSES.md item 5; DAC: the final 1x1 conv); None when
            the encoder has no trainable output layer (adaptive weighting is then off).

    Class attributes:
        fixed_latent (bool): True when the output IS the latent (a fixed frontend such as log-mel):
            the latent size is ``out_channels`` (read by :meth:`out_channels_from_conf`), the task
            does not set ``out_channels`` and the bottleneck must be deterministic (no KL).
            False (default): the task sets ``out_channels = bottleneck.in_channels(latent_dim)``.

    Forward: ``wav (B, 1, N), return_hidden=False -> h (B, out_channels, T)``, or ``(h, hiddens)``
    with ``return_hidden`` (a list of intermediate ``(B, *, T')`` tensors, the last one ``h``).
    """

    fixed_latent: bool = False
    hop_length: int
    out_channels: int
    last_layer: Optional[nn.Module]

    @classmethod
    def hop_length_from_conf(cls, **conf: Any) -> int:
        """``hop_length`` of ``cls(**conf)``; the default builds the encoder once to ask it (override
        it to read the config without building)."""
        return int(cls(**conf).hop_length)

    @classmethod
    def out_channels_from_conf(cls, **conf: Any) -> int:
        """``out_channels`` of ``cls(**conf)`` (the latent size of a ``fixed_latent`` encoder); the
        default builds the encoder once."""
        return int(cls(**conf).out_channels)

    @classmethod
    def conf_with_fs(cls, conf: Dict[str, Any], fs: int) -> Dict[str, Any]:
        """``conf`` with the task's sampling rate added where this encoder takes one (default: as is;
        keys set in ``conf`` win). Returns a new dict."""
        return dict(conf)

    @abstractmethod
    def forward(self, wav: torch.Tensor, return_hidden: bool = False):
        """``wav (B, 1, N) -> h (B, out_channels, ceil(N / hop_length))`` (see the class docstring)."""


class AbsBottleneck(nn.Module, ABC):
    """Encoder output -> latent, with its regulariser.

    Constructor: ``cls(latent_dim=D, **bottleneck_conf)``. Required attribute ``latent_dim`` (int).

    Forward: ``h (B, in_channels(D), T), mask (B, T) bool | None, sample: bool | None`` ->
    ``(z (B, D, T), kl 0-dim float32, stats {name: (B, D, T)})``; ``mask`` True on valid frames,
    ``sample`` defaults to ``self.training``.

    Class attribute ``has_kl``: whether ``kl`` can be non-zero (False: a fixed-latent encoder may
    use it).
    """

    has_kl: bool = True
    latent_dim: int

    @staticmethod
    @abstractmethod
    def in_channels(latent_dim: int) -> int:
        """Encoder output channels this bottleneck needs for ``latent_dim``."""

    @abstractmethod
    def forward(
        self, h: torch.Tensor, mask: Optional[torch.Tensor] = None, sample: Optional[bool] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """See the class docstring."""


class AbsDecoder(nn.Module, ABC):
    """Latent -> waveform.

    Constructor: ``cls(latent_dim=D, **decoder_conf)``. Required attribute ``hop_length`` (int),
    equal to the encoder's (checked when the generator is built).

    Forward: ``z (B, D, T) -> wav (B, 1, T * hop_length)``, float32 (also under autocast).
    """

    hop_length: int

    @abstractmethod
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """See the class docstring."""


class AbsDiscriminator(nn.Module, ABC):
    """GAN discriminator (ESPnet HiFiGAN convention).

    Constructor: ``cls(**discriminator_conf)`` after :meth:`conf_with_fs`.

    Forward: ``wav (B, 1, N) -> List[List[Tensor]]``: one inner list per sub-discriminator with its
    feature maps and the final logits LAST (what ESPnet's ``GeneratorAdversarialLoss``,
    ``DiscriminatorAdversarialLoss`` and ``FeatureMatchLoss`` expect).
    """

    @classmethod
    def conf_with_fs(cls, conf: Dict[str, Any], fs: int) -> Dict[str, Any]:
        """``conf`` with the task's sampling rate added where this discriminator takes one
        (default: as is; keys set in ``conf`` win). Returns a new dict."""
        return dict(conf)

    @abstractmethod
    def forward(self, wav: torch.Tensor) -> List[List[torch.Tensor]]:
        """See the class docstring."""
