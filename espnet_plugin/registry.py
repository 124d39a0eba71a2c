"""One name -> class (or object) registry for every extensible slot of the package.

Each slot (encoders, bottlenecks, decoders, discriminators, distillation terms, weightings, probe
frontends and encoders, metrics, judges) is one :class:`Registry` with a base class and a Python
entry-point group. Built-in entries are registered by the module that owns the registry, which
imports the built-in classes (one direction: never does a built-in class import its registry).
Third-party packages add entries through the group in their packaging metadata, e.g.::

    [project.entry-points."espnet_plugin.encoders"]
    myenc = "mypkg.enc:MyEncoder"

Rules:

* Lookup names are case-insensitive (stored lower-case, as ESPnet's ``ClassChoices``).
* A registered class must be a subclass of ``base`` (an object: an instance of it; a factory, where
  the slot allows factories, is checked when it is called); otherwise :class:`ConfigError`.
* A built-in / explicitly registered name wins over an entry point of the same name (the entry point
  is ignored with a warning).
* Entry points are read lazily: the group is re-read when ``sys.path`` changed, an entry point is
  imported only when its name is requested (:meth:`Registry.get`) or all entries are
  (:meth:`Registry.entries`).
* THE failure rule for a broken third-party entry point (it raises on import, or its object does
  not fit the base): when its own name is requested, :class:`ConfigError` naming the entry point
  and the cause; otherwise (listing all entries) a warning, issued once per entry point and
  process, and the entry is skipped.
"""

from __future__ import annotations

import importlib.metadata
import sys
import warnings
from typing import Any, Callable, Dict, Generic, List, Optional, Tuple, TypeVar

from espnet_plugin.errors import ConfigError

T = TypeVar("T")


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


class Registry(Generic[T]):
    """Names -> entries of one slot.

    Args:
        name: what an entry is, for messages ("encoder", "distillation term", ...).
        base: the class every entry must derive from (``instances=True``: be an instance of).
        entry_point_group: the entry-point group third parties register under; None: none.
        instances: entries are objects (``isinstance(obj, base)``) rather than classes.
        factories: a callable that is not a class is also accepted (a factory ``fn(**conf)``;
            what it returns is checked by the caller).
    """

    def __init__(
        self,
        name: str,
        base: type,
        entry_point_group: Optional[str] = None,
        *,
        instances: bool = False,
        factories: bool = False,
    ) -> None:
        self.name = name
        self.base = base
        self.entry_point_group = entry_point_group
        self.instances = instances
        self.factories = factories
        self._entries: Dict[str, T] = {}
        self._loaded: Dict[Tuple[str, str], T] = {}  # (ep name, ep value) -> loaded entry
        self._eps: Optional[List[importlib.metadata.EntryPoint]] = None
        self._eps_path: Optional[Tuple[str, ...]] = None
        self._warned: set = set()

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.base.__name__}, {self.entry_point_group!r})"

    # ------------------------------------------------------------------ registration
    def check(self, obj: Any, what: str) -> T:
        """Return ``obj`` when it fits the base; else :class:`ConfigError` naming ``what``."""
        if self.instances:
            ok = isinstance(obj, self.base)
        elif isinstance(obj, type):
            ok = issubclass(obj, self.base)
        else:
            ok = self.factories and callable(obj)
        if not ok:
            kind = "an instance" if self.instances else ("a subclass or factory" if self.factories else "a subclass")
            raise ConfigError(f"{self.name} {what}: {_qualname(obj)} is not {kind} of {_qualname(self.base)}")
        return obj

    def register(self, name: str, obj: Any = None, *, override: bool = False):
        """Register ``obj`` under ``name``: ``reg.register("x", X)`` or ``@reg.register("x")``.

        Re-registering the same object is a no-op; another object under a taken name raises
        :class:`ConfigError` unless ``override``.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{self.name} name must be a non-empty string, got {name!r}")
        key = name.lower()

        def _register(o: Any) -> Any:
            self.check(o, repr(key))
            old = self._entries.get(key)
            if old is not None and old is not o and not override:
                raise ConfigError(
                    f"{self.name} {key!r} is already registered ({_qualname(old)}); "
                    f"pass override=True to replace it by {_qualname(o)}"
                )
            self._entries[key] = o
            return o

        return _register if obj is None else _register(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a registered entry; no-op when absent)."""
        self._entries.pop(name.lower(), None)

    # ------------------------------------------------------------------ entry points
    def entry_points(self) -> List[importlib.metadata.EntryPoint]:
        """The group's entry points (re-read when ``sys.path`` changed since the last read)."""
        if self.entry_point_group is None:
            return []
        path = tuple(sys.path)
        if self._eps is None or self._eps_path != path:
            try:
                eps = list(importlib.metadata.entry_points(group=self.entry_point_group))
            except Exception as exc:  # noqa: BLE001 - broken metadata of some unrelated distribution
                self._warn_once(("group",), f"could not read entry points {self.entry_point_group!r}: {exc!r}")
                eps = []
            seen: Dict[str, importlib.metadata.EntryPoint] = {}
            for ep in eps:  # first one of a name wins (sys.path order)
                seen.setdefault(ep.name.lower(), ep)
            self._eps, self._eps_path = list(seen.values()), path
        return list(self._eps)

    def _warn_once(self, key: Tuple, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(msg, stacklevel=3)

    def load_entry_point(self, ep: importlib.metadata.EntryPoint) -> T:
        """Import ``ep`` and check its object (cached). THE loader of third-party entries.

        Raises:
            ConfigError: naming the entry point (``name = value``, group) and the cause.
        """
        key = (ep.name, ep.value)
        if key not in self._loaded:
            where = f"entry point '{ep.name} = {ep.value}' in {self.entry_point_group}"
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure of a third-party package
                raise ConfigError(f"{self.name} {ep.name!r}: cannot load {where} ({type(exc).__name__}: {exc})") from exc
            self._loaded[key] = self.check(obj, f"{ep.name!r} from {where}")
        return self._loaded[key]

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> T:
        """The entry called ``name``: registered ones first, then entry points.

        Raises:
            ConfigError: unknown name (the message lists the known names), or the entry point of
                that name is broken (the message names it and the cause).
        """
        if not isinstance(name, str):
            raise ConfigError(f"{self.name} name must be a string, got {name!r}")
        key = name.lower()
        eps = [ep for ep in self.entry_points() if ep.name.lower() == key]
        if key in self._entries:
            for ep in eps:
                self._warn_once(("clash", ep.name, ep.value),
                                f"{self.name} {key!r} is built in; {ep.name} = {ep.value} "
                                f"({self.entry_point_group}) ignored: using the built-in one")
            return self._entries[key]
        if eps:
            return self.load_entry_point(eps[0])
        raise ConfigError(f"unknown {self.name} {name!r}; known: {', '.join(self.names())}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.names()

    def names(self) -> List[str]:
        """Sorted names of all entries, registered and third-party (no entry point is imported)."""
        return sorted(set(self._entries) | {ep.name.lower() for ep in self.entry_points()})

    def entries(self) -> Dict[str, T]:
        """All entries, name -> entry, importing every entry point; a broken one is skipped with a
        warning (once per entry point and process) naming it and the cause."""
        out = dict(self._entries)
        for ep in self.entry_points():
            key = ep.name.lower()
            if key in out:
                continue
            try:
                out[key] = self.load_entry_point(ep)
            except ConfigError as exc:
                self._warn_once(("broken", ep.name, ep.value), f"{exc}; skipped")
        return out

    def items(self) -> List[Tuple[str, T]]:
        """``entries().items()``: registered entries in registration order, then entry points."""
        return list(self.entries().items())

    def registered(self) -> Dict[str, T]:
        """Only the explicitly registered entries (no entry point read)."""
        return dict(self._entries)

    def snapshot(self) -> Callable[[], None]:
        """Return a function restoring the registered entries and caches as they are now (tests)."""
        state = (dict(self._entries), dict(self._loaded), set(self._warned))

        def restore() -> None:
            self._entries, self._loaded, self._warned = dict(state[0]), dict(state[1]), set(state[2])
            self._eps = None

        return restore
