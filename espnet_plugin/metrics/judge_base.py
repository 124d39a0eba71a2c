"""What a judge is (:class:`Judge`) and the helpers every judge module uses; imports no judge.

A judge is a model that measures something a metric reports (see :mod:`.judges`, which holds the
registry, and :mod:`.paper_judges`). Every wav is an (N,) float 16 kHz array.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from espnet_plugin.errors import ConfigError, JudgeUnavailable

SR = 16000
JUDGE_KINDS = ("asr", "sim", "mos")


def _as_f32(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono (N,) waveform, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class Judge:
    """A named judge model.

    Attributes:
        name: registry name (``--asr_judge`` / ``--sim_judge`` / ``--mos_judge`` value).
        kind: ``"asr"`` (wav -> str), ``"sim"`` ((wav, wav) -> float) or ``"mos"`` (wav -> float);
            every wav is an (N,) float 16 kHz array.
        model: one line naming the model and where its weights come from.
        load: zero-argument callable returning the judge function; raises :class:`JudgeUnavailable`.
        offline: True when the weights ship with an installed wheel.
        provide: how to provide the weights when they are missing (options / env vars).
    """

    name: str
    kind: str
    model: str
    load: Callable[[], Callable]
    offline: bool = False
    provide: str = ""

    def __post_init__(self) -> None:
        if self.kind not in JUDGE_KINDS:
            raise ConfigError(f"judge {self.name!r}: kind {self.kind!r} not in {JUDGE_KINDS}")



def unavailable(judge: str, tried: str, provide: str, exc: Optional[BaseException] = None) -> JudgeUnavailable:
    """The error of a judge that cannot be loaded: names the judge, what was tried and how to provide it."""
    why = f" ({type(exc).__name__}: {str(exc)[:300]})" if exc is not None else ""
    return JudgeUnavailable(f"judge {judge} cannot be loaded offline: tried {tried}{why}. "
                            f"Provide it with {provide}")


def hf_cache_dir() -> str:
    """The local Hugging Face hub cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``)."""
    return os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")


def check_local_hf(name: str, judge: str, provide: str) -> None:
    """Raise :func:`unavailable` early (without importing transformers) when ``name`` is neither an
    existing directory nor a model id present in the local Hugging Face cache."""
    if os.path.isdir(name):
        return
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise unavailable(judge, f"{name!r} (not a local directory)", provide)
    if not os.path.isdir(os.path.join(hf_cache_dir(), "models--" + name.replace("/", "--"))):
        raise unavailable(judge, f"{name!r} (not a local directory, not in the local HF cache "
                                 f"{hf_cache_dir()})", provide)
