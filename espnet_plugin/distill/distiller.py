"""The distiller: projection head(s) + alignment terms + weighting, as the VAE model calls it.

``total = w_ssl * sum_k w_k * lambda_k * L_k`` where ``L_k = term_k(g, f_hat, mask)``,
``(g, f_hat) = projection(z, f_k)``, ``f_k`` the teacher features of the term's layer,
linearly interpolated along time to the latent frame rate and detached, ``w_k`` the
configured weight and ``lambda_k`` from the weighting scheme (1 when fixed).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from espnet_plugin.distill.projection import build_projection
from espnet_plugin.distill.registry import build_term
from espnet_plugin.distill.weighting import Weighting, build_weighting
from espnet_plugin.errors import ConfigError

TeacherFeats = Union[Tensor, Mapping[Any, Tensor]]
TERM_KEYS = {"name", "weight", "conf", "layer", "projection"}


def align_time(f: Tensor, length: int) -> Tensor:
    """Linear interpolation along time: (B, T', F) -> (B, length, F) (align_corners=False)."""
    if f.shape[1] == length:
        return f
    return F.interpolate(f.transpose(1, 2), size=length, mode="linear", align_corners=False).transpose(1, 2)


def _layer_key(layer: Any) -> Optional[int]:
    if layer is None:
        return None
    try:
        return int(layer)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"teacher layer {layer!r} is not an integer") from exc


def term_layers(terms: Optional[Sequence[Mapping[str, Any]]]) -> list[int]:
    """Teacher layers named by terms' ``layer`` keys (config values, unresolved), sorted, unique."""
    return sorted({_layer_key(t.get("layer")) for t in terms or [] if isinstance(t, Mapping)} - {None})


class Distiller(nn.Module):
    """Alignment loss between the VAE latent and frozen teacher features.

    Args:
        latent_dim: D of the latent z.
        teacher_dim: F of the teacher features.
        terms: list of dicts ``{"name": str, "weight": float = 1.0, "conf": dict = {},
            "layer": int | None = None, "projection": dict | None = None}``; ``name`` is looked
            up with :func:`build_term`; ``layer`` picks the teacher layer from a dict of features
            (None = the teacher's configured layer: the single tensor, or the dict's ``None``
            key); ``projection`` gives the term its own head (otherwise the shared one). An empty
            list is the vanilla VAE: zero loss, no stats.
        projection: keyword arguments of :func:`build_projection` for the shared head
            (``latent_dim``/``teacher_dim`` are filled in). Default: ``Linear(D, F)``.
        weighting: "fixed" | "adaptive" | "adaptive_vavae", or a dict ``{"name": ..., **conf}``.
        w_ssl: global weight of the alignment loss (paper: 2.5).
    """

    def __init__(
        self,
        latent_dim: int = 64,
        teacher_dim: int = 1024,
        terms: Optional[Sequence[Mapping[str, Any]]] = None,
        projection: Optional[Mapping[str, Any]] = None,
        weighting: Union[str, Mapping[str, Any]] = "fixed",
        w_ssl: float = 1.0,
    ) -> None:
        super().__init__()
        self.latent_dim, self.teacher_dim, self.w_ssl = latent_dim, teacher_dim, float(w_ssl)
        terms = list(terms or [])
        self.terms = nn.ModuleList()
        self.heads = nn.ModuleList()
        self.stat_names: list[str] = []
        self.weights: list[float] = []
        self.layers: list[Optional[int]] = []
        self.head_index: list[int] = []
        if terms:
            self.heads.append(self._projection(projection, "shared"))
        for spec in terms:
            self._add_term(spec, projection)
        if isinstance(weighting, str):
            self.weighting: Weighting = build_weighting(weighting)
        elif isinstance(weighting, Mapping) and "name" in weighting:
            self.weighting = build_weighting(**dict(weighting))
        else:
            raise ConfigError(f"weighting must be a name or a dict with 'name'; got {weighting!r}")

    def _projection(self, conf: Optional[Mapping[str, Any]], who: str) -> nn.Module:
        conf = dict(conf or {})
        for key, dim in (("latent_dim", self.latent_dim), ("teacher_dim", self.teacher_dim)):
            if conf.setdefault(key, dim) != dim:
                raise ConfigError(f"{who} projection: {key}={conf[key]} differs from the distiller's {dim}")
        try:
            return build_projection(**conf)
        except TypeError as exc:
            raise ConfigError(f"{who} projection: bad configuration {conf!r} ({exc})") from exc

    def _add_term(self, spec: Mapping[str, Any], shared: Optional[Mapping[str, Any]]) -> None:
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ConfigError(f"each distillation term needs a dict with a 'name'; got {spec!r}")
        unknown = set(spec) - TERM_KEYS
        if unknown:
            raise ConfigError(f"distillation term {spec['name']!r}: unknown keys {sorted(unknown)}")
        name = spec["name"]
        self.terms.append(build_term(name, **dict(spec.get("conf") or {})))
        weight = spec.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"distillation term {name!r}: weight {weight!r} must be a number >= 0")
        self.weights.append(float(weight))
        self.layers.append(_layer_key(spec.get("layer")))
        if spec.get("projection") is not None:
            self.heads.append(self._projection(spec["projection"], f"term {name!r}"))
            self.head_index.append(len(self.heads) - 1)
        else:
            self.head_index.append(0)
        stat, i = str(name), 1
        while stat in self.stat_names or stat == "total":  # "distill_total" is the sum
            stat, i = f"{name}_{i}", i + 1
        self.stat_names.append(stat)

    @property
    def required_layers(self) -> list[Optional[int]]:
        """Teacher layers the terms read (None = the single feature tensor), sorted, unique."""
        uniq = set(self.layers)
        return ([None] if None in uniq else []) + sorted(x for x in uniq if x is not None)

    def _teacher(self, f: TeacherFeats, layer: Optional[int]) -> Tensor:
        if isinstance(f, Tensor):
            if layer is not None:
                raise ConfigError(f"a term reads teacher layer {layer}, but a single tensor was given")
            return f
        feats = {_layer_key(k): v for k, v in f.items()}
        if layer is None:
            if None in feats:  # the teacher's configured layer
                return feats[None]
            if len(feats) != 1:
                raise ConfigError(
                    f"a term has layer=None but the teacher gave layers {sorted(feats, key=str)}"
                )
            return next(iter(feats.values()))
        if layer not in feats:
            raise ConfigError(f"teacher layer {layer} missing; got layers {sorted(feats, key=str)}")
        return feats[layer]

    def forward(
        self,
        z: Tensor,
        f: TeacherFeats,
        mask: Optional[Tensor] = None,
        ref_loss: Optional[Tensor] = None,
        adaptive_params: Optional[Sequence[Tensor]] = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Alignment loss and its stats.

        Args:
            z: latent after reparameterisation (B, T, D).
            f: teacher features (B, T', F) at the teacher's frame rate, or {layer: (B, T', F)}
                (key ``None`` = the teacher's configured layer).
            mask: (B, T) bool, True = valid latent frame (None = all valid).
            ref_loss: unweighted reconstruction loss (0-dim), needed by adaptive weighting.
            adaptive_params: theta of adaptive weighting (the encoder's last conv weight, bias).
        Returns:
            total (0-dim float32) and stats: per term ``distill_<name>`` (L_k) and
            ``lambda_<name>`` (w_k * lambda_k), plus ``distill_total``; all 0-dim and detached.
            No terms: (0, {}).
        """
        if len(self.terms) == 0:
            return z.new_zeros((), dtype=torch.float32), {}
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ConfigError(f"distiller expects z (B, T, {self.latent_dim}); got {tuple(z.shape)}")
        B, T, _ = z.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=z.device)
        if mask.shape != (B, T):
            raise ConfigError(f"mask shape {tuple(mask.shape)} does not match z (B, T) = {(B, T)}")
        mask = mask.to(device=z.device, dtype=torch.bool)
        # fp32 teacher features unless the model itself runs in another dtype without autocast
        feat_dtype = torch.float32 if torch.is_autocast_enabled(z.device.type) else z.dtype
        aligned: dict[Optional[int], Tensor] = {}
        projected: dict[tuple[int, Optional[int]], tuple[Tensor, Tensor]] = {}
        losses: list[Tensor] = []
        for term, layer, h in zip(self.terms, self.layers, self.head_index):
            if layer not in aligned:
                feats = self._teacher(f, layer)
                if feats.dim() != 3 or feats.shape[0] != B or feats.shape[-1] != self.teacher_dim:
                    raise ConfigError(
                        f"teacher features (layer {layer}) must be (B={B}, T', F={self.teacher_dim}); "
                        f"got {tuple(feats.shape)}"
                    )
                feats = feats.detach().to(device=z.device, dtype=feat_dtype)
                aligned[layer] = align_time(feats, T)
            if (h, layer) not in projected:
                projected[(h, layer)] = self.heads[h](z, aligned[layer])
            g, f_hat = projected[(h, layer)]
            losses.append(term(g, f_hat, mask).float())
        lambdas = self.weighting(losses, self.weights, ref_loss, adaptive_params)
        total = torch.zeros((), device=z.device)
        stats: dict[str, Tensor] = {}
        for name, loss, w, lam in zip(self.stat_names, losses, self.weights, lambdas):
            total = total + (w * lam) * loss
            stats[f"distill_{name}"] = loss.detach()
            stats[f"lambda_{name}"] = (w * lam).detach()
        total = self.w_ssl * total
        stats["distill_total"] = total.detach()
        return total, stats
