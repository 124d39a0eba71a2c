"""Names -> alignment (distillation) loss terms, built-in and third-party.

Built-in terms live in :mod:`espnet_plugin.distill.terms` and register themselves with
:func:`register_term`. Third-party packages add terms through the Python entry-point group
``espnet_plugin.distill_losses``, e.g. in their ``setup.py``::

    entry_points={"espnet_plugin.distill_losses": ["myterm = mypkg.losses:MyTerm"]}

The entry point's object is either an ``nn.Module`` subclass (called as ``cls(**conf)``) or a
factory ``fn(**conf) -> nn.Module``. Entry points are only read when a name is not built in
(lazily, at lookup), so importing this module imports nothing third-party. On a name clash the
built-in term wins and a warning is issued.

Every term module has ``forward(g, f, mask) -> loss`` with ``g``, ``f`` float ``(B, T, F)``,
``mask`` bool ``(B, T)`` (True = valid frame) and a 0-dim loss.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import warnings
from typing import Any, Callable, Optional, Union

from torch import nn

from espnet_plugin.errors import ConfigError

ENTRY_POINT_GROUP = "espnet_plugin.distill_losses"

TermFactory = Union[type, Callable[..., nn.Module]]

_TERMS: dict[str, TermFactory] = {}
_EP_CACHE: dict[tuple[str, str], TermFactory] = {}
_BUILTINS_LOADED = False


def _ensure_builtins() -> None:
    """Import the built-in terms module once (it registers its classes on import)."""
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("espnet_plugin.distill.terms")


def register_term(name: str, cls: Optional[TermFactory] = None, *, override: bool = False):
    """Register a term class (or factory) under ``name``.

    Use as a decorator, ``@register_term("mcos")``, or directly, ``register_term("x", XTerm)``.
    Registering a different object under a taken name raises :class:`ConfigError` unless
    ``override=True``; re-registering the same object is a no-op.

    Args:
        name: lookup name (non-empty string, used as given).
        cls: an ``nn.Module`` subclass or a factory returning an ``nn.Module``.
        override: replace an existing registration.
    Returns:
        ``cls`` (direct form) or a decorator that registers and returns its argument.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"distillation term name must be a non-empty string, got {name!r}")

    def _register(obj: TermFactory) -> TermFactory:
        if not callable(obj):
            raise ConfigError(f"distillation term {name!r}: {obj!r} is not a class or factory")
        old = _TERMS.get(name)
        if old is not None and old is not obj and not override:
            raise ConfigError(
                f"distillation term {name!r} is already registered ({_qualname(old)}); "
                f"pass override=True to replace it by {_qualname(obj)}"
            )
        _TERMS[name] = obj
        return obj

    if cls is not None:
        return _register(cls)
    return _register


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """All entry points of the group (re-read each call: sys.path may have changed)."""
    try:
        return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # broken metadata of some unrelated distribution
        warnings.warn(f"could not read entry points {ENTRY_POINT_GROUP!r}: {exc}")
        return []


def _load_entry_point(name: str) -> Optional[TermFactory]:
    """Load the third-party term called ``name``; None if no entry point has that name."""
    eps = [ep for ep in _entry_points() if ep.name == name]
    if not eps:
        return None
    if len({ep.value for ep in eps}) > 1:
        warnings.warn(
            f"several entry points named {name!r} in {ENTRY_POINT_GROUP!r}: "
            f"{sorted({ep.value for ep in eps})}; using {eps[0].value!r}"
        )
    ep = eps[0]
    key = (ep.name, ep.value)
    if key not in _EP_CACHE:
        try:
            obj = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"distillation term {name!r}: cannot load entry point {ep.value!r} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if not callable(obj):
            raise ConfigError(f"distillation term {name!r}: entry point {ep.value!r} is not callable")
        _EP_CACHE[key] = obj
    return _EP_CACHE[key]


def available_terms() -> list[str]:
    """Sorted names of all terms: built-in/registered ones and third-party entry points."""
    _ensure_builtins()
    names = set(_TERMS)
    names.update(ep.name for ep in _entry_points())
    return sorted(names)


def get_term_class(name: str) -> TermFactory:
    """The class/factory registered as ``name`` (built-ins first, then entry points).

    Raises:
        ConfigError: unknown name (the message lists the available names).
    """
    _ensure_builtins()
    if name in _TERMS:
        if any(ep.name == name for ep in _entry_points()):
            warnings.warn(
                f"distillation term {name!r} is both built in and a third-party entry point "
                f"({ENTRY_POINT_GROUP!r}); using the built-in one"
            )
        return _TERMS[name]
    obj = _load_entry_point(name) if isinstance(name, str) else None
    if obj is None:
        raise ConfigError(
            f"unknown distillation term {name!r}; available: {', '.join(available_terms())}"
        )
    return obj


def build_term(name: str, **conf: Any) -> nn.Module:
    """Build the term ``name`` with keyword configuration ``conf``.

    Example: ``build_term("mdms", m2=0.25, scope="batch")``. The result's
    ``forward(g (B, T, F), f (B, T, F), mask (B, T) bool) -> loss ()``.

    Raises:
        ConfigError: unknown name, a keyword the term does not take, a bad value, or a
            third-party factory that does not return an ``nn.Module``.
    """
    factory = get_term_class(name)
    try:
        inspect.signature(factory).bind(**conf)
    except TypeError as exc:
        raise ConfigError(f"distillation term {name!r}: bad configuration {conf!r} ({exc})") from exc
    except ValueError:  # no signature available (builtin callables): let the call decide
        pass
    module = factory(**conf)
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"distillation term {name!r}: {_qualname(factory)} returned "
            f"{type(module).__name__}, not a torch.nn.Module"
        )
    return module
