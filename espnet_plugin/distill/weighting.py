"""Weights lambda_k of the alignment terms (LOSSES.md item 5).

- ``fixed``: ``lambda_k = 1``.
- ``adaptive`` (the paper, Eq. 6, per term k separately):
  ``lambda_k = ||grad_theta L_ref|| / (||grad_theta L_k|| + eps)``, eps = 1e-6, where theta are
  the given parameters (the encoder's last 1x1 conv: weight and bias, one norm over both),
  ``L_ref`` the reconstruction loss and ``L_k`` the UNWEIGHTED term; lambda_k is detached, no clamp.
- ``adaptive_vavae`` (VA-VAE): one lambda for the weighted sum ``S = sum_k w_k L_k``:
  ``lambda = scale * clamp(||grad_theta L_ref|| / (||grad_theta S|| + eps), 0, clamp_max)``,
  eps = 1e-4, clamp_max = 1e8, scale = 0.1; every term gets that same lambda.

Adaptive schemes fall back to ``lambda_k = 1`` when there is nothing to compare against:
``ref_loss`` is None or has no graph, or gradients are disabled (validation).
Gradients are taken with ``torch.autograd.grad(retain_graph=True, allow_unused=True)``;
a parameter a loss does not reach counts as a zero gradient.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from espnet_plugin.errors import ConfigError
from espnet_plugin.registry import Registry


def grad_norm(loss: Tensor, params: Sequence[Tensor]) -> Tensor:
    """``||d loss / d params||_2`` over all params together; a 0-dim float32 tensor, detached.

    Unused parameters (and a loss without graph) count as zero gradients.
    """
    device = params[0].device
    if not loss.requires_grad:
        return torch.zeros((), device=device)
    grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
    sq = [g.detach().float().pow(2).sum() for g in grads if g is not None]
    if not sq:
        return torch.zeros((), device=device)
    return torch.stack(sq).sum().sqrt()


class Weighting(nn.Module):
    """Base class: ``forward(losses, weights, ref_loss, params) -> lambdas``.

    Args (forward):
        losses: K unweighted term values, each 0-dim.
        weights: K configured term weights w_k (floats).
        ref_loss: the reference (reconstruction) loss, 0-dim, or None.
        params: theta, the parameters the gradient norms are taken over, or None.
    Returns:
        K detached 0-dim float32 tensors lambda_k (the total is ``sum_k w_k lambda_k L_k``).
    """

    adaptive = False

    def forward(
        self,
        losses: Sequence[Tensor],
        weights: Sequence[float],
        ref_loss: Optional[Tensor] = None,
        params: Optional[Sequence[Tensor]] = None,
    ) -> list[Tensor]:
        if not losses:
            return []
        if not self.adaptive or not self._active(ref_loss):
            return [torch.ones((), device=loss.device) for loss in losses]
        theta = self._params(params)
        return [lam.detach() for lam in self._lambdas(losses, weights, ref_loss, theta)]

    @staticmethod
    def _active(ref_loss: Optional[Tensor]) -> bool:
        return ref_loss is not None and torch.is_grad_enabled() and ref_loss.requires_grad

    @staticmethod
    def _params(params: Optional[Sequence[Tensor]]) -> list[Tensor]:
        theta = [p for p in (params or []) if p.requires_grad]
        if not theta:
            raise ConfigError(
                "adaptive weighting needs adaptive_params: the encoder's last layer parameters "
                "(weight and bias) that require grad; got none"
            )
        return theta

    def _lambdas(
        self, losses: Sequence[Tensor], weights: Sequence[float], ref_loss: Tensor, theta: list[Tensor]
    ) -> list[Tensor]:
        raise NotImplementedError


class FixedWeighting(Weighting):
    """``lambda_k = 1`` for every term."""


class AdaptiveWeighting(Weighting):
    """Per-term ``lambda_k = ||grad L_ref|| / (||grad L_k|| + eps)`` (detached, no clamp).

    Args:
        eps: added to the term's gradient norm (paper: 1e-6).
    """

    adaptive = True

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        if not eps > 0:
            raise ConfigError(f"adaptive weighting eps={eps!r} must be > 0")
        self.eps = float(eps)

    def _lambdas(self, losses, weights, ref_loss, theta):  # noqa: D102 - see class docstring
        ref = grad_norm(ref_loss, theta)
        return [ref / (grad_norm(loss, theta) + self.eps) for loss in losses]

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class VAVAEWeighting(Weighting):
    """One shared ``lambda = scale * clamp(||grad L_ref|| / (||grad S|| + eps), 0, clamp_max)``
    with ``S = sum_k w_k L_k`` (VA-VAE).

    Args:
        eps: 1e-4. clamp_max: 1e8. scale: 0.1 (VA-VAE's ``vf_weight``).
    """

    adaptive = True

    def __init__(self, eps: float = 1e-4, clamp_max: float = 1e8, scale: float = 0.1) -> None:
        super().__init__()
        if not eps > 0 or not clamp_max > 0 or not scale >= 0:
            raise ConfigError(
                f"adaptive_vavae weighting: need eps > 0, clamp_max > 0, scale >= 0; "
                f"got eps={eps!r}, clamp_max={clamp_max!r}, scale={scale!r}"
            )
        self.eps, self.clamp_max, self.scale = float(eps), float(clamp_max), float(scale)

    def _lambdas(self, losses, weights, ref_loss, theta):  # noqa: D102 - see class docstring
        total = sum(float(w) * loss for w, loss in zip(weights, losses))
        ratio = grad_norm(ref_loss, theta) / (grad_norm(total, theta) + self.eps)
        lam = ratio.clamp(0.0, self.clamp_max) * self.scale
        return [lam for _ in losses]

    def extra_repr(self) -> str:
        return f"eps={self.eps}, clamp_max={self.clamp_max}, scale={self.scale}"


WEIGHTINGS: Registry[type] = Registry("weighting", Weighting, "espnet_plugin.weightings")
WEIGHTINGS.register("fixed", FixedWeighting)
WEIGHTINGS.register("adaptive", AdaptiveWeighting)
WEIGHTINGS.register("adaptive_vavae", VAVAEWeighting)


def build_weighting(name: str = "fixed", **conf: Any) -> Weighting:
    """Build a weighting scheme by name: "fixed", "adaptive", "adaptive_vavae" or a third party's
    (a :class:`Weighting` subclass under the entry-point group ``espnet_plugin.weightings``).

    Raises:
        ConfigError: unknown name or keyword.
    """
    cls = WEIGHTINGS.get(name)
    try:
        return cls(**conf)
    except TypeError as exc:
        raise ConfigError(f"weighting {name!r}: bad configuration {conf!r} ({exc})") from exc
