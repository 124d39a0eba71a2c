"""Projection heads that bring the latent and the teacher features into one common space.

Two directions exist in the design space:

- ``latent_to_teacher`` (TAS/JMAS-VAE, the paper): ``g = W z`` with ``W: D -> F`` (a single
  ``Linear(64, 1024)`` with bias in the paper's code), ``f_hat = f``; common space F.
- ``teacher_to_latent`` (Semantic-VAE): ``g = z``, ``f_hat = P(f)`` with ``P: F -> D``
  (by default a small conv stack ``Conv1d(k=3) -> GELU -> Conv1d(k=3)``); common space D.

The head is trainable; the teacher features it receives are already detached. Heads are used
only in training and are not part of the exported VAE.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from espnet_plugin.errors import ConfigError

DIRECTIONS = ("latent_to_teacher", "teacher_to_latent")
HEADS = ("linear", "mlp", "conv")
DEFAULT_HEAD = {"latent_to_teacher": "linear", "teacher_to_latent": "conv"}


class _Conv(nn.Module):
    """Two 1-D convolutions over time (kernel 3, same length): (B, T, C_in) -> (B, T, C_out)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.net = nn.Sequential(
            nn.Conv1d(in_dim, hidden_dim, kernel_size, padding=pad),
            nn.GELU(),
            nn.Conv1d(hidden_dim, out_dim, kernel_size, padding=pad),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)


def make_head(kind: str, in_dim: int, out_dim: int, hidden_dim: Optional[int] = None) -> nn.Module:
    """A frame-wise map (B, T, in_dim) -> (B, T, out_dim).

    Args:
        kind: "linear" (``Linear`` with bias), "mlp" (``Linear -> GELU -> Linear``) or
            "conv" (``Conv1d k=3 -> GELU -> Conv1d k=3``).
        hidden_dim: width of the mlp/conv hidden layer; default ``max(out, min(in, 4 * out))``.
    """
    if kind not in HEADS:
        raise ConfigError(f"projection head {kind!r} unknown; choose one of {list(HEADS)}")
    for name, dim in (("input", in_dim), ("output", out_dim), ("hidden", hidden_dim)):
        if dim is not None and (not isinstance(dim, int) or dim <= 0):
            raise ConfigError(f"projection head {kind!r}: {name} dim {dim!r} must be a positive int")
    hidden = hidden_dim or max(out_dim, min(in_dim, 4 * out_dim))
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
    return _Conv(in_dim, hidden, out_dim)


class Projection(nn.Module):
    """Maps ``(z (B, T, D), f (B, T, F)) -> (g, f_hat)``, both ``(B, T, F')`` in the common space.

    ``latent_to_teacher``: ``g = W(z[..., :r])``, ``f_hat = f``, ``F' = F``.
    ``teacher_to_latent``: ``g = z[..., :r]``, ``f_hat = P(f)``, ``F' = r``.
    ``r = round(latent_subspace * D)``: only the first r latent dims are aligned (default all).
    """

    def __init__(
        self,
        direction: str = "latent_to_teacher",
        head: Optional[str] = None,
        latent_dim: int = 64,
        teacher_dim: int = 1024,
        hidden_dim: Optional[int] = None,
        latent_subspace: float = 1.0,
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise ConfigError(f"projection direction {direction!r} unknown; choose one of {list(DIRECTIONS)}")
        if not 0.0 < float(latent_subspace) <= 1.0:
            raise ConfigError(f"latent_subspace={latent_subspace!r} must be in (0, 1]")
        for name, dim in (("latent_dim", latent_dim), ("teacher_dim", teacher_dim)):
            if not isinstance(dim, int) or dim <= 0:
                raise ConfigError(f"projection {name}={dim!r} must be a positive int")
        self.direction = direction
        self.head_kind = head or DEFAULT_HEAD[direction]
        self.latent_dim = latent_dim
        self.teacher_dim = teacher_dim
        self.aligned_dim = max(1, round(float(latent_subspace) * latent_dim))
        if direction == "latent_to_teacher":
            self.head = make_head(self.head_kind, self.aligned_dim, teacher_dim, hidden_dim)
            self.out_dim = teacher_dim
        else:
            self.head = make_head(self.head_kind, teacher_dim, self.aligned_dim, hidden_dim)
            self.out_dim = self.aligned_dim

    def forward(self, z: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, T, D), f (B, T, F) -> (g, f_hat), both (B, T, out_dim)."""
        if z.shape[-1] != self.latent_dim:
            raise ConfigError(f"projection expects latent dim {self.latent_dim}, got z {tuple(z.shape)}")
        if f.shape[-1] != self.teacher_dim:
            raise ConfigError(f"projection expects teacher dim {self.teacher_dim}, got f {tuple(f.shape)}")
        zs = z[..., : self.aligned_dim]
        if self.direction == "latent_to_teacher":
            return self.head(zs), f
        return zs, self.head(f)

    def extra_repr(self) -> str:
        return f"direction={self.direction!r}, aligned_dim={self.aligned_dim}"


def build_projection(
    direction: str = "latent_to_teacher",
    head: Optional[str] = None,
    latent_dim: int = 64,
    teacher_dim: int = 1024,
    hidden_dim: Optional[int] = None,
    latent_subspace: float = 1.0,
) -> Projection:
    """Build a :class:`Projection` head.

    Args:
        direction: "latent_to_teacher" (g = W z, f_hat = f) or "teacher_to_latent"
            (g = z, f_hat = P(f)).
        head: "linear" | "mlp" | "conv"; None picks the direction's default
            ("linear" for latent_to_teacher as in the paper, "conv" for teacher_to_latent).
        latent_dim: D. teacher_dim: F. hidden_dim: mlp/conv width (see :func:`make_head`).
        latent_subspace: fraction r of the latent dims aligned (the first ``round(r*D)``).
    Returns:
        a module with ``forward(z (B, T, D), f (B, T, F)) -> (g, f_hat)``, both (B, T, F').
    """
    return Projection(direction, head, latent_dim, teacher_dim, hidden_dim, latent_subspace)


__all__ = ["Projection", "build_projection", "make_head", "DIRECTIONS", "HEADS"]
