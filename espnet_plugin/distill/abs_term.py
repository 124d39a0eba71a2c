"""Abstract base of an alignment (distillation) loss term.

Shapes: ``forward(g, f, mask) -> loss`` with ``g`` the projected latent and ``f`` the teacher
features (or their projections), both float ``(B, T, F)``, ``mask`` bool ``(B, T)`` (True = valid
frame; None = all valid) and ``loss`` a 0-dim float32 tensor (lower is better; padding frames must
not enter it).

Optional attribute ``layer`` (int | None): the teacher layer the term reads (None: the default one).

Like ``collections.abc``, the check is structural too: any ``torch.nn.Module`` subclass whose
``forward`` takes ``(g, f, mask)`` counts as an :class:`AbsDistillTerm` (``issubclass`` is True),
so that a third-party term need not import this package; inheriting from it documents the intent.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Optional

from torch import Tensor, nn


def _takes_g_f_mask(forward) -> bool:
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(positional) >= 3 and len(required) <= 3


class AbsDistillTerm(nn.Module, ABC):
    """``forward(g (B, T, F), f (B, T, F), mask (B, T) bool | None) -> loss ()`` (see the module)."""

    @classmethod
    def __subclasshook__(cls, other: type):
        if cls is AbsDistillTerm:
            if isinstance(other, type) and issubclass(other, nn.Module) and other.forward is not nn.Module.forward:
                return _takes_g_f_mask(other.forward)
            return False
        return NotImplemented

    @abstractmethod
    def forward(self, g: Tensor, f: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """The 0-dim loss of ``g`` against ``f`` over the valid frames of ``mask``."""
