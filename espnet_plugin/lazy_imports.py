"""Defer ESPnet's import of ``g2p_en`` (and so of NLTK) until a phonemiser is actually used.

ESPnet's ``espnet2.text.phoneme_tokenizer`` does ``import g2p_en`` at module level, and every task
imports it (``espnet2.train.preprocessor`` -> ``build_tokenizer`` -> ``phoneme_tokenizer``), also
for char / BPE tokens. ``g2p_en``'s own module body then imports NLTK (~1 s, much more on a busy
machine) and calls ``nltk.download("averaged_perceptron_tagger_eng")`` / ``nltk.download("cmudict")``
when that data is absent: offline, every process prints
``[nltk_data] Error loading ...: <urlopen error ...>`` into its log (or waits on the network).

:func:`defer_g2p_en` puts a stand-in module in ``sys.modules["g2p_en"]``: ``import g2p_en`` binds
it without running anything, and the first attribute it lacks (``g2p_en.G2p``) imports the real
module (NLTK import, data check, download) and copies its namespace in, i.e. only when a
``g2p_en`` phonemiser is built (``--g2p g2p_en``), where the data is really needed.
The stand-in carries what the import system would set before running the body (``__spec__``,
``__loader__``, ``__package__``, ``__path__``, ``__file__``, ``__cached__``), because code that scans
``sys.modules`` reads them: ``inspect.getmodule`` does ``hasattr(module, "__file__")`` on every
module, and torch calls it (``torch.library`` -> ``inspect.getframeinfo``) whenever a custom op is
registered, e.g. when ``torch._prims`` is first imported. Without ``__file__`` that probe ran
g2p_en's body. (The standard library's ``importlib.util.LazyLoader`` does not do here: it loads on
*any* attribute access, so the import statement's ``__spec__`` read and that ``__file__`` probe
both run the module.)
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

DEFERRED = ("g2p_en",)


class _Deferred(types.ModuleType):
    """Stand-in for a module not run yet; its first missing attribute imports the real one."""

    def __getattr__(self, attr: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)  # later look-ups through this stand-in are direct
        return getattr(real, attr)


def defer(name: str) -> bool:
    """Make ``import <name>`` lazy: its body runs on the first use of one of its attributes.

    Returns True when a stand-in was installed; False when ``name`` is already imported (nothing
    to defer) or not installed (``import name`` keeps raising ModuleNotFoundError).
    """
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec  # read by the import statement (is it initialising?): no load
    stand_in.__loader__ = spec.loader
    if spec.has_location:  # what the real module will have; introspection reads these (see above)
        stand_in.__file__ = spec.origin
        stand_in.__cached__ = spec.cached
    stand_in.__package__ = spec.parent if spec.submodule_search_locations is None else name
    if spec.submodule_search_locations is not None:  # `import name.sub` finds sub without running name
        stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stand_in
    return True


def defer_g2p_en() -> None:
    """Defer every module of :data:`DEFERRED` (idempotent; called when ``espnet_plugin`` is imported)."""
    for name in DEFERRED:
        defer(name)
