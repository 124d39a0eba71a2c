"""Exponential moving average (EMA) of a module's weights, stored inside the model.

    ema <- d * ema + (1 - d) * w,      d = min(decay, (1 + n) / (10 + n)) with warmup, else decay

where ``n`` counts the updates done so far (the warm-up keeps short runs usable: with
decay 0.9999 and no warm-up, a few hundred steps would leave the EMA at its initial weights).
Buffers (e.g. running statistics) are copied, not averaged.

The averaging is PyTorch's :class:`torch.optim.swa_utils.AveragedModel` (``use_buffers=False``:
parameters averaged with our ``multi_avg_fn``, buffers copied from the live model). Its counter
``n_averaged`` counts the averaged models *including the initial copy*, so it starts at 1 here
(the shadow is the deep copy made at construction: AveragedModel never overwrites it with a plain
copy, which it does when ``n_averaged == 0``) and ``n = n_averaged - 1`` (:attr:`EMA.num_updates`).
Checkpoints store ``<prefix>n_averaged``; an older one with ``<prefix>num_updates`` (the count
``n``) loads, mapped to ``n_averaged = num_updates + 1``.

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

from typing import List

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from espnet_plugin.errors import ConfigError

#: the state-dict key of the update count written before the EMA was an AveragedModel
LEGACY_COUNT_KEY = "num_updates"


class WarmupEMA:
    """``multi_avg_fn`` of :class:`AveragedModel`: ``ema <- lerp(ema, w, 1 - d_n)`` in place.

    ``d_n = min(decay, (1 + n) / (10 + n))`` (warmup) or ``decay``, ``n = n_averaged - 1`` updates
    done before this one. Computed on the device of ``n_averaged`` (no host-device sync).
    Non-floating parameters are copied.
    """

    def __init__(self, decay: float, warmup: bool) -> None:
        self.decay = float(decay)
        self.warmup = bool(warmup)

    @torch.no_grad()
    def __call__(self, ema: List[torch.Tensor], live: List[torch.Tensor], n_averaged: torch.Tensor) -> None:
        if not (ema[0].is_floating_point() or ema[0].is_complex()):
            torch._foreach_copy_(ema, live)
            return
        n = n_averaged.to(torch.float32) - 1.0
        d = torch.full((), self.decay, device=n.device)
        if self.warmup:
            d = torch.minimum(d, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(ema, live, (1.0 - d).to(ema[0].real.dtype))


class EMA(AveragedModel):
    """EMA shadow of ``model`` (a frozen deep copy, updated in place).

    Args:
        model: the module to track (its current weights initialise the shadow).
        decay: EMA decay ``d`` in [0, 1).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` for the n-th update.
        update_every: average only on every k-th call of :meth:`update` (counts calls).
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = True, update_every: int = 1):
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"ema decay must be in [0, 1), got {decay}")
        if update_every < 1:
            raise ConfigError(f"ema update_every must be >= 1, got {update_every}")
        super().__init__(model, multi_avg_fn=WarmupEMA(decay, warmup), use_buffers=False)
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.update_every = int(update_every)
        self.n_averaged.fill_(1)  # the deep copy is the first averaged model (see the module doc)
        self.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._calls = 0  # python-side counter for update_every (no device sync)
        self._register_load_state_dict_pre_hook(self._map_legacy_count)

    @property
    def num_updates(self) -> torch.Tensor:
        """EMA updates done so far (``n``; 0 right after construction)."""
        return self.n_averaged - 1

    def train(self, mode: bool = True) -> "EMA":
        """The shadow copy always stays in eval mode (no dropout in the averaged model)."""
        super().train(mode)
        self.module.eval()
        return self

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step from ``model``'s current weights, on every ``update_every``-th call."""
        self._calls += 1
        if self._calls % self.update_every == 0:
            self.update_parameters(model)

    @staticmethod
    def _map_legacy_count(state_dict, prefix, *args) -> None:
        """``load_state_dict`` pre-hook: ``<prefix>num_updates = n`` (old checkpoints) -> ``n_averaged = n + 1``."""
        old = state_dict.pop(prefix + LEGACY_COUNT_KEY, None)
        if old is not None and prefix + "n_averaged" not in state_dict:
            state_dict[prefix + "n_averaged"] = old + 1
