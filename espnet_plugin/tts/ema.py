"""Exponential moving average (EMA) of a module's weights, stored inside the model.

    ema <- d * ema + (1 - d) * w,      d = min(decay, (1 + n) / (10 + n)) with warmup, else decay

where ``n`` counts the updates done so far (the warm-up keeps short runs usable: with
decay 0.9999 and no warm-up, a few hundred steps would leave the EMA at its initial weights).
Buffers (e.g. running statistics) are copied, not averaged.

The EMA copy is a sub-module whose parameters have ``requires_grad=False``: it is saved and
loaded with the model's state dict (so ESPnet checkpoints carry it), the optimiser never
receives a gradient for it, and DDP neither synchronises nor broadcasts it (each rank updates
its own copy from identical weights). ESPnet's trainer owns the optimiser step, so the model
calls :meth:`EMA.update` at the start of each training forward: the EMA then averages the
weights produced by the previous optimiser step (one step of lag, irrelevant at decay 0.9999).
With gradient accumulation over k batches, set ``update_every=k`` so there is one update per
optimiser step (``LatentTTSTask`` defaults it to ``accum_grad``).
"""
from __future__ import annotations

import copy
from typing import Iterator

import torch
from torch import nn

from espnet_plugin.errors import ConfigError


class EMA(nn.Module):
    """EMA shadow of ``model`` (a frozen deep copy, updated in place).

    Args:
        model: the module to track (its current weights initialise the shadow).
        decay: EMA decay ``d`` in [0, 1).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` for the n-th update.
        update_every: average only on every k-th call of :meth:`update` (counts calls).
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = True, update_every: int = 1):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"ema decay must be in [0, 1), got {decay}")
        if update_every < 1:
            raise ConfigError(f"ema update_every must be >= 1, got {update_every}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.update_every = int(update_every)
        self.module = copy.deepcopy(model)
        self.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._calls = 0  # python-side counter for update_every (no device sync)

    def train(self, mode: bool = True) -> "EMA":
        """The shadow copy always stays in eval mode (no dropout in the averaged model)."""
        super().train(mode)
        self.module.eval()
        return self

    def parameters_to_average(self, model: nn.Module) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Pairs (shadow parameter, live parameter), matched by name."""
        live = dict(model.named_parameters())
        for name, p in self.module.named_parameters():
            yield p, live[name]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step from ``model``'s current weights (no host-device sync)."""
        self._calls += 1
        if self._calls % self.update_every != 0:
            return
        n = self.num_updates.to(torch.float32)
        d = torch.full((), self.decay, device=n.device)
        if self.warmup:
            d = torch.minimum(d, (1.0 + n) / (10.0 + n))
        self.num_updates += 1
        for p_ema, p in self.parameters_to_average(model):
            w = p.detach()
            if not p_ema.dtype.is_floating_point:
                p_ema.copy_(w)
                continue
            p_ema.lerp_(w.to(p_ema.dtype), (1.0 - d).to(device=p_ema.device, dtype=p_ema.dtype))
        live_bufs = dict(model.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(live_bufs[name])
