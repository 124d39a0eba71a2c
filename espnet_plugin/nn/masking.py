"""Padding masks over the time axis: the one home of the helpers every model package uses.

Convention: a mask is bool ``(B, T)`` with True on valid (unpadded) positions; utterance ``b``
is valid on ``t < lengths[b]``.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import Tensor


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool mask: ``mask[b, t] = t < lengths[b]``."""
    ar = torch.arange(max_len, device=lengths.device)
    return ar[None, :] < lengths[:, None]


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` (any shape) over the entries where ``mask`` (same shape, bool) is True.

    ``sum_{mask} x / max(#mask, 1)``: 0 (still attached to the graph) when no entry is valid;
    masked entries never enter the sum, even when they hold inf or NaN.
    """
    total = torch.where(mask, x, torch.zeros_like(x)).sum()
    return total / mask.sum().to(x.dtype).clamp_min(1.0)


def fill_padding(x: Tensor, lengths: Tensor, value: Union[float, int] = 0.0) -> Tensor:
    """``x (B, T, ...)`` with every position ``t >= lengths[b]`` set to ``value`` (a new tensor).

    E.g. zeroing the padded frames of features ``(B, T, D)`` or filling padded text ids ``(B, L)``.
    """
    mask = lengths_to_mask(lengths.to(x.device), x.size(1))
    return x.masked_fill(~mask.view(*mask.shape, *([1] * (x.dim() - 2))), value)
