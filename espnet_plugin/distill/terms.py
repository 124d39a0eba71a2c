"""Built-in alignment (distillation) loss terms: one small class per term.

Every term is an :class:`~espnet_plugin.distill.abs_term.AbsDistillTerm`, registered by name in
:mod:`espnet_plugin.distill.registry` (this module imports no registry). It has
``forward(g, f, mask) -> loss`` where ``g`` is the projected latent and ``f`` the
teacher features (or their projections), both float ``(B, T, F)``, ``mask`` bool ``(B, T)``
(True = valid frame), and ``loss`` a 0-dim float32 tensor. All means run over valid frames
only: padding frames never enter a mean, neither as summands nor in the count.

``cos(a, b) = a.b / (max(|a|, eps) * max(|b|, eps))`` with ``eps = 1e-8`` (as in
``torch.nn.functional.cosine_similarity``). Everything is computed in float32 with autocast
switched off, so the terms are safe inside ``torch.autocast`` regions.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from espnet_plugin.distill.abs_term import AbsDistillTerm
from espnet_plugin.errors import ConfigError
from espnet_plugin.nn.masking import masked_mean

COS_EPS = 1e-8
SCOPES = ("batch", "utterance")


@contextlib.contextmanager
def _fp32(device: torch.device) -> Iterator[None]:
    """Disable autocast on ``device`` (matmuls would otherwise run in fp16/bf16)."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def _prepare(g: Tensor, f: Tensor, mask: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Check shapes; return float32 ``g``, ``f`` (B, T, F), zero at padding, and bool ``mask`` (B, T)."""
    if g.dim() != 3 or g.shape != f.shape:
        raise ConfigError(
            f"distillation term needs g and f of equal shape (B, T, F); got {tuple(g.shape)} "
            f"and {tuple(f.shape)}"
        )
    if mask is None:
        mask = torch.ones(g.shape[:2], dtype=torch.bool, device=g.device)
    if mask.shape != g.shape[:2]:
        raise ConfigError(f"mask shape {tuple(mask.shape)} does not match (B, T) = {tuple(g.shape[:2])}")
    mask = mask.to(device=g.device, dtype=torch.bool)
    # zero the padding frames: garbage (even inf/NaN) there can then reach neither the value
    # nor, through a matrix product, the gradient of a valid frame
    m = mask.unsqueeze(-1)
    g = torch.where(m, g.float(), torch.zeros((), dtype=torch.float32, device=g.device))
    f = torch.where(m, f.float(), torch.zeros((), dtype=torch.float32, device=f.device))
    return g, f, mask


def _unit(x: Tensor, dim: int = -1) -> Tensor:
    """``x / max(|x|, eps)`` along ``dim``."""
    return x / torch.linalg.vector_norm(x, dim=dim, keepdim=True).clamp_min(COS_EPS)


def frame_cosine(g: Tensor, f: Tensor) -> Tensor:
    """Per-frame cosine over the feature axis: (B, T, F), (B, T, F) -> (B, T)."""
    return (_unit(g) * _unit(f)).sum(-1)


def _check_margin(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"margin {name}={value!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"margin {name}={value!r} must be a finite number >= 0")
    return value


class TAxisCosine(AbsDistillTerm):
    """T-axis cosine (TAS-VAE): ``L = mean_{b,t valid} (1 - cos(g_bt, f_bt))``.

    Shapes: g, f (B, T, F); mask (B, T) -> loss ().
    """

    def forward(self, g: Tensor, f: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        with _fp32(g.device):
            g, f, mask = _prepare(g, f, mask)
            return masked_mean(1.0 - frame_cosine(g, f), mask)


class DAxisCosine(AbsDistillTerm):
    """D-axis cosine (SpeechTokenizer): cosine along TIME for each feature dim.

    ``c_bd = cos_t(g_{b,:,d}, f_{b,:,d})`` over the valid frames of utterance b;
    ``L = - mean_{b,d} log sigmoid(c_bd)``, the mean over utterances with at least one valid frame.
    Shapes: g, f (B, T, F); mask (B, T) -> loss ().
    """

    def forward(self, g: Tensor, f: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        with _fp32(g.device):
            g, f, mask = _prepare(g, f, mask)
            cos = (_unit(g, dim=1) * _unit(f, dim=1)).sum(1)  # (B, F)
            has = mask.any(1, keepdim=True).expand_as(cos)  # (B, F)
            return masked_mean(-F.logsigmoid(cos), has)


class MarginalCosine(AbsDistillTerm):
    """Marginal per-frame cosine: ``L = mean_{b,t valid} ReLU(1 - m1 - cos(g_bt, f_bt))``.

    Args:
        m1: margin >= 0 (paper: 0.5; 0 gives the T-axis cosine).
    Shapes: g, f (B, T, F); mask (B, T) -> loss ().
    """

    def __init__(self, m1: float = 0.5) -> None:
        super().__init__()
        self.m1 = _check_margin("m1", m1)

    def forward(self, g: Tensor, f: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        with _fp32(g.device):
            g, f, mask = _prepare(g, f, mask)
            return masked_mean(F.relu(1.0 - self.m1 - frame_cosine(g, f)), mask)

    def extra_repr(self) -> str:
        return f"m1={self.m1}"


class MarginalDistanceMatrix(AbsDistillTerm):
    """Marginal distance-matrix similarity (pairwise structure).

    With valid frames ``g_i``, ``f_i``:
    ``L = mean_{i,j} ReLU(|cos(g_i, g_j) - cos(f_i, f_j)| - m2)`` (diagonal pairs included).

    - ``scope="batch"`` (the paper's code): i, j range over all N valid frames of the batch,
      flattened, so pairs cross utterances; one mean over the N^2 pairs.
    - ``scope="utterance"`` (VA-VAE): pairs only within one utterance; mean over the
      ``n_b^2`` pairs of each utterance, then mean over utterances with ``n_b > 0``.

    Rows are normalised and one matrix product gives the cosine matrix, so memory is
    O(N^2), never O(N^2 F). Padding frames get zero pair weight (excluded from the counts).

    Args:
        m2: margin >= 0 (paper: 0.25).
        scope: "batch" or "utterance".
    Shapes: g, f (B, T, F); mask (B, T) -> loss ().
    """

    def __init__(self, m2: float = 0.25, scope: str = "batch") -> None:
        super().__init__()
        self.m2 = _check_margin("m2", m2)
        if scope not in SCOPES:
            raise ConfigError(f"mdms scope {scope!r} unknown; choose one of {list(SCOPES)}")
        self.scope = scope

    def _pair_loss(self, g: Tensor, f: Tensor) -> Tensor:
        """(..., N, F), (..., N, F) -> per-pair loss (..., N, N)."""
        gn, fn = _unit(g), _unit(f)
        diff = gn @ gn.transpose(-1, -2) - fn @ fn.transpose(-1, -2)
        return F.relu(diff.abs() - self.m2)

    def forward(self, g: Tensor, f: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        with _fp32(g.device):
            g, f, mask = _prepare(g, f, mask)
            B, T, D = g.shape
            w = mask.to(g.dtype)
            if self.scope == "batch":
                g, f, w = g.reshape(1, B * T, D), f.reshape(1, B * T, D), w.reshape(1, B * T)
            pw = w.unsqueeze(-1) * w.unsqueeze(-2)  # (B', N, N) pair weights
            pair = self._pair_loss(g, f)  # padding rows are zero: finite
            per = (pair * pw).sum((-1, -2)) / pw.sum((-1, -2)).clamp_min(1.0)  # (B',)
            return masked_mean(per, w.sum(-1) > 0)

    def extra_repr(self) -> str:
        return f"m2={self.m2}, scope={self.scope!r}"
