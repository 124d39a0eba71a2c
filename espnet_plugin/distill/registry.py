"""Names -> alignment (distillation) loss terms, built-in and third-party.

The registry is :data:`TERMS`, an :class:`espnet_plugin.registry.Registry` with base
:class:`~espnet_plugin.distill.abs_term.AbsDistillTerm`. This module imports the built-in terms of
:mod:`espnet_plugin.distill.terms` and registers them (one direction: ``terms`` imports no
registry). Third-party packages add terms through the entry-point group
``espnet_plugin.distill_losses``, e.g. in their ``pyproject.toml``::

    [project.entry-points."espnet_plugin.distill_losses"]
    myterm = "mypkg.losses:MyTerm"

The entry point's object is either an ``AbsDistillTerm`` class (any ``nn.Module`` whose ``forward``
takes ``(g, f, mask)`` counts, see :mod:`.abs_term`; called as ``cls(**conf)``) or a factory
``fn(**conf) -> nn.Module``. Entry points are imported only when their name is requested, so
listing the names imports nothing third-party. On a name clash the built-in term wins (warning).
A broken entry point follows the registry's rule: requested by name, :class:`ConfigError` naming
it and the cause.

Every term module has ``forward(g, f, mask) -> loss`` with ``g``, ``f`` float ``(B, T, F)``,
``mask`` bool ``(B, T)`` (True = valid frame) and a 0-dim loss.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Union

from torch import nn

from espnet_plugin.distill.abs_term import AbsDistillTerm
from espnet_plugin.distill.terms import DAxisCosine, MarginalCosine, MarginalDistanceMatrix, TAxisCosine
from espnet_plugin.errors import ConfigError
from espnet_plugin.registry import Registry

ENTRY_POINT_GROUP = "espnet_plugin.distill_losses"

TermFactory = Union[type, Callable[..., nn.Module]]

TERMS: Registry[TermFactory] = Registry("distillation term", AbsDistillTerm, ENTRY_POINT_GROUP, factories=True)
TERMS.register("tas", TAxisCosine)
TERMS.register("daxis", DAxisCosine)
TERMS.register("mcos", MarginalCosine)
TERMS.register("mdms", MarginalDistanceMatrix)


def register_term(name: str, cls: Optional[TermFactory] = None, *, override: bool = False):
    """Register a term class (or factory) under ``name`` (``TERMS.register``).

    Use as a decorator, ``@register_term("mcos")``, or directly, ``register_term("x", XTerm)``.
    Registering a different object under a taken name raises :class:`ConfigError` unless
    ``override=True``; re-registering the same object is a no-op.

    Args:
        name: lookup name (non-empty string; case-insensitive).
        cls: an :class:`AbsDistillTerm` class or a factory returning an ``nn.Module``.
        override: replace an existing registration.
    Returns:
        ``cls`` (direct form) or a decorator that registers and returns its argument.
    """
    return TERMS.register(name, cls, override=override)


def available_terms() -> list[str]:
    """Sorted names of all terms: built-in/registered ones and third-party entry points."""
    return TERMS.names()


def get_term_class(name: str) -> TermFactory:
    """The class/factory registered as ``name`` (built-ins first, then entry points).

    Raises:
        ConfigError: unknown name (the message lists the available names), or a broken entry point.
    """
    return TERMS.get(name)


def build_term(name: str, **conf: Any) -> nn.Module:
    """Build the term ``name`` with keyword configuration ``conf``.

    Example: ``build_term("mdms", m2=0.25, scope="batch")``. The result's
    ``forward(g (B, T, F), f (B, T, F), mask (B, T) bool) -> loss ()``.

    Raises:
        ConfigError: unknown name, a keyword the term does not take, a bad value, or a
            third-party factory that does not return a term module.
    """
    factory = get_term_class(name)
    try:
        inspect.signature(factory).bind(**conf)
    except TypeError as exc:
        raise ConfigError(f"distillation term {name!r}: bad configuration {conf!r} ({exc})") from exc
    except ValueError:  # no signature available (builtin callables): let the call decide
        pass
    module = factory(**conf)
    if not isinstance(module, AbsDistillTerm):
        raise ConfigError(
            f"distillation term {name!r}: {getattr(factory, '__qualname__', factory)!r} returned "
            f"{type(module).__name__}, not a torch.nn.Module with forward(g, f, mask) (AbsDistillTerm)"
        )
    return module
