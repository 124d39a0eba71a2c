"""Alignment (distillation) losses between a speech-VAE latent and frozen SSL teacher features.

Public API (imported lazily on first access, so ``import espnet_plugin.distill`` is cheap and
never imports s3prl)::

    build_term(name, **conf) -> nn.Module        # forward(g (B,T,F), f (B,T,F), mask (B,T)) -> ()
    register_term(name, cls=None, *, override=False)
    available_terms() -> list[str]
    build_projection(direction, head, latent_dim, teacher_dim, hidden_dim, latent_subspace)
    build_weighting(name, **conf)
    Distiller(latent_dim, teacher_dim, terms, projection, weighting, w_ssl)

Built-in terms: ``tas``, ``daxis``, ``mcos``, ``mdms`` (see :mod:`espnet_plugin.distill.terms`);
third-party terms come from the entry-point group ``espnet_plugin.distill_losses``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_term": "registry",
    "register_term": "registry",
    "available_terms": "registry",
    "get_term_class": "registry",
    "ENTRY_POINT_GROUP": "registry",
    "build_projection": "projection",
    "Projection": "projection",
    "build_weighting": "weighting",
    "Weighting": "weighting",
    "AdaptiveWeighting": "weighting",
    "FixedWeighting": "weighting",
    "VAVAEWeighting": "weighting",
    "Distiller": "distiller",
    "align_time": "distiller",
    "term_layers": "distiller",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
