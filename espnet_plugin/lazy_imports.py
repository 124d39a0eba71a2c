"""Defer ESPnet's import of ``g2p_en`` (and so of NLTK) until a phonemiser is actually used.

ESPnet's ``espnet2.text.phoneme_tokenizer`` does ``import g2p_en`` at module level, and every task
imports it (``espnet2.train.preprocessor`` -> ``build_tokenizer`` -> ``phoneme_tokenizer``), also
for char / BPE tokens. ``g2p_en``'s own module body then imports NLTK (~1 s, much more on a busy
machine) and calls ``nltk.download("averaged_perceptron_tagger_eng")`` / ``nltk.download("cmudict")``
when that data is absent: offline, every process prints
``[nltk_data] Error loading ...: <urlopen error ...>`` into its log (or waits on the network).

:func:`defer_g2p_en` puts a lazy module in ``sys.modules["g2p_en"]`` (the standard library's
:class:`importlib.util.LazyLoader`): ``import g2p_en`` binds it without running it, and its body
(NLTK import, data check, download) runs on the first attribute access, i.e. only when a
``g2p_en`` phonemiser is built (``--g2p g2p_en``), where the data is really needed.
Nothing else changes: ``g2p_en.G2p`` is the real class once touched.
"""
from __future__ import annotations

import importlib.util
import sys

DEFERRED = ("g2p_en",)


def defer(name: str) -> bool:
    """Make ``import <name>`` lazy (module body run on first attribute access).

    Returns True when a lazy module was installed; False when ``name`` is already imported
    (nothing to defer) or not installed (``import name`` keeps raising ModuleNotFoundError).
    """
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return False
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return True


def defer_g2p_en() -> None:
    """Defer every module of :data:`DEFERRED` (idempotent; called when ``espnet_plugin`` is imported)."""
    for name in DEFERRED:
        defer(name)
