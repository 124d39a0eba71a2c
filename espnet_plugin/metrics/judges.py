"""Judge models: one registry of named judges, lazily loaded once per process and cached.

A judge is a model that measures something a metric reports: ``asr`` (wav -> transcript, for WER/CER),
``sim`` ((wav_a, wav_b) -> speaker cosine, for ``spk_sim``), ``mos`` (wav -> MOS estimate, for ``mos``).
The metric names stay the same whichever judge is chosen; ``metrics.json`` names the judge behind
each value (``"judges": {"spk_sim": "wavlm_large_sv", ...}``).

Embedded judges (weights ship inside their wheels, no network; the embedded recipe's defaults,
``DEFAULT_JUDGES``):

* ``distillmos`` (mos): ``distillmos.ConvTransformerSQAModel()`` (a distilled XLS-R SQA model),
  input a (B, N) 16 kHz waveform tensor, output (B, 1) MOS in [1, 5].
* ``resemblyzer`` (sim): ``resemblyzer.VoiceEncoder("cpu")``; ``embed_utterance(preprocess_wav(x))``
  is an L2-normalised (256,) d-vector (non-negative entries), cosine = dot product.
  ``preprocess_wav`` normalises the volume and removes long silences with WebRTC VAD.
* ``pocketsphinx`` (asr): ``pocketsphinx.Decoder(samprate=16000)`` with its bundled US-English model;
  weak on robotic/synthetic voices but fully independent of the systems under test.

The paper's judges (``PAPER_JUDGES``, as F5-TTS evaluates; :mod:`.paper_judges`): ``whisper_large_v3``
(asr), ``wavlm_large_sv`` (sim, SIM-o) and ``utmos22_strong`` (mos). Their weights come from a local
path or the local model-hub cache, never from the network; when they are not there, loading raises
:class:`JudgeUnavailable` naming the judge, what it tried and the option / environment variable that
provides it. ``wavlm_base_plus_sv`` (``ESPNET_PLUGIN_WAVLM_SV``: HF id or local dir, default
``microsoft/wavlm-base-plus-sv``) backs the opt-in column ``spk_sim_wavlm``.
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Callable, Optional

import numpy as np

from espnet_plugin.errors import ConfigError, JudgeUnavailable  # noqa: F401 (re-exported)
from espnet_plugin.metrics import paper_judges
from espnet_plugin.metrics.judge_base import (  # noqa: F401 (re-exported: the judge API lives here)
    JUDGE_KINDS,
    SR,
    Judge,
    _as_f32,
    check_local_hf,
    hf_cache_dir,
    unavailable,
)
from espnet_plugin.registry import Registry

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- MOS
@functools.lru_cache(maxsize=None)
def _distillmos_model():
    import distillmos

    logger.info("loading DistillMOS judge (weights from the distillmos wheel)")
    return distillmos.ConvTransformerSQAModel().eval()


def mos_distillmos(wav: np.ndarray) -> float:
    """DistillMOS estimate of one (N,) 16 kHz waveform, in [1, 5]; NaN for an all-zero clip."""
    import torch

    x = _as_f32(wav)
    if x.size == 0 or float(np.max(np.abs(x))) == 0.0:
        logger.warning("MOS undefined for an empty/all-zero clip: NaN")
        return float("nan")
    with torch.no_grad():
        return float(_distillmos_model()(torch.from_numpy(x)[None]).reshape(-1)[0])


# ----------------------------------------------------------------- speaker similarity
MIN_VOICED_SECONDS = 0.3  # less voiced audio than this after VAD: no reliable embedding


@functools.lru_cache(maxsize=None)
def _voice_encoder():
    from resemblyzer import VoiceEncoder

    logger.info("loading Resemblyzer speaker encoder (weights from the wheel)")
    return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(wav: np.ndarray) -> np.ndarray | None:
    """Resemblyzer d-vector (256,) of a 16 kHz waveform, unit L2 norm.

    Returns None (with a logged reason) when the VAD leaves less than
    ``MIN_VOICED_SECONDS`` of speech (silence, noise): the embedding of padding is meaningless.
    """
    from resemblyzer import preprocess_wav

    x = _as_f32(wav)
    if x.size == 0 or float(np.max(np.abs(x))) == 0.0:
        logger.warning("speaker embedding undefined for an empty/all-zero clip")
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        pre = preprocess_wav(x)
    if pre.size < MIN_VOICED_SECONDS * SR:
        logger.warning(
            "speaker embedding undefined: %.2f s of voiced audio after VAD (< %.2f s)",
            pre.size / SR, MIN_VOICED_SECONDS,
        )
        return None
    return _voice_encoder().embed_utterance(pre)


def speaker_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the Resemblyzer embeddings of two (N,) 16 kHz clips.

    ``sim = <e_a, e_b>`` (both unit norm), in [0, 1] since the d-vectors are non-negative;
    NaN when either clip has too little speech.
    """
    ea, eb = speaker_embedding(a), speaker_embedding(b)
    if ea is None or eb is None:
        return float("nan")
    return float(np.dot(ea, eb) / (np.linalg.norm(ea) * np.linalg.norm(eb)))


# ------------------------------------------------------------------------------ ASR
@functools.lru_cache(maxsize=None)
def _sphinx_decoder():
    from pocketsphinx import Decoder

    logger.info("loading PocketSphinx decoder (bundled en-us model)")
    return Decoder(samprate=SR, loglevel="ERROR")


def asr_pocketsphinx(wav: np.ndarray) -> str:
    """Transcribe a 16 kHz (N,) waveform with PocketSphinx; returns lower-case words ("" if none)."""
    x = _as_f32(wav)
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    dec = _sphinx_decoder()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    hyp = dec.hyp()
    return "" if hyp is None else str(hyp.hypstr)


# --------------------------------------------------------------------- the judge registry
DEFAULT_JUDGES = {"asr": "pocketsphinx", "sim": "resemblyzer", "mos": "distillmos"}  # embedded, offline
PAPER_JUDGES = {"asr": "whisper_large_v3", "sim": "wavlm_large_sv", "mos": "utmos22_strong"}  # F5-TTS's


#: every judge; third parties add a :class:`Judge` object under the entry-point group
#: ``espnet_plugin.judges`` (entry-point name = ``Judge.name``)
JUDGES: Registry[Judge] = Registry("judge", Judge, "espnet_plugin.judges", instances=True)


def add_judge(judge: Judge, *, overwrite: bool = False) -> Judge:
    """Register ``judge`` (its kind is checked by :class:`Judge`). Raises ConfigError on a taken name."""
    if not isinstance(judge, Judge):
        raise ConfigError(f"add_judge: {judge!r} is not a Judge")
    if judge.name in JUDGES.registered() and not overwrite:
        raise ConfigError(f"judge {judge.name!r} is already registered")
    return JUDGES.register(judge.name, judge, override=overwrite)


def available_judges(kind: Optional[str] = None) -> list[Judge]:
    """All judges, built-in and third-party (of one ``kind`` when given), sorted by (kind, name)."""
    return sorted((j for j in JUDGES.entries().values() if kind is None or j.kind == kind),
                  key=lambda j: (j.kind, j.name))


def judge_info(name: str, kind: Optional[str] = None) -> Judge:
    """The :class:`Judge` called ``name``. Raises ConfigError when unknown, of another kind, or a
    broken third-party entry point (naming it and the cause)."""
    j = JUDGES.get(name) if name in JUDGES else None
    if j is None or (kind is not None and j.kind != kind):
        known = [x.name for x in available_judges(kind)]
        raise ConfigError(f"unknown {kind or ''} judge {name!r}; known: {known}".replace("  ", " "))
    return j


@functools.lru_cache(maxsize=None)
def get_judge(name: str, kind: Optional[str] = None) -> Callable:
    """The loaded function of judge ``name`` (cached per process).

    Raises:
        ConfigError: unknown name, or not of ``kind``.
        JudgeUnavailable: its weights cannot be loaded here (the message says how to provide them).
    """
    return judge_info(name, kind).load()


def load_wavlm_sv() -> Callable[[np.ndarray, np.ndarray], float]:
    """WavLM-Base-Plus x-vector speaker verification (transformers) from local files only."""
    name = os.environ.get("ESPNET_PLUGIN_WAVLM_SV", "microsoft/wavlm-base-plus-sv")
    provide = "ESPNET_PLUGIN_WAVLM_SV=<local model dir or HF id in the local cache>"
    check_local_hf(name, "wavlm_base_plus_sv", provide)
    try:
        import torch
        from transformers import AutoFeatureExtractor, WavLMForXVector

        fe = AutoFeatureExtractor.from_pretrained(name, local_files_only=True)
        model = WavLMForXVector.from_pretrained(name, local_files_only=True).eval()
    except Exception as exc:
        raise unavailable("wavlm_base_plus_sv", repr(name), provide, exc) from exc

    def embed(x: np.ndarray) -> "torch.Tensor":
        inp = fe(_as_f32(x), sampling_rate=SR, return_tensors="pt")
        with torch.no_grad():
            return torch.nn.functional.normalize(model(**inp).embeddings, dim=-1)[0]

    def sim(a: np.ndarray, b: np.ndarray) -> float:
        return float(torch.dot(embed(a), embed(b)))

    return sim


def get_asr_judge(name: str) -> Callable[[np.ndarray], str]:
    """The transcription function of ASR judge ``name`` (cached).

    Raises:
        JudgeUnavailable: the judge's weights cannot be loaded here.
        KeyError: unknown judge name (see :func:`available_judges`).
    """
    if name not in [j.name for j in available_judges("asr")]:
        raise KeyError(f"unknown ASR judge {name!r}; known: {[j.name for j in available_judges('asr')]}")
    return get_judge(name, "asr")


get_asr_judge.cache_clear = get_judge.cache_clear  # type: ignore[attr-defined]


for _judge in (
    Judge("pocketsphinx", "asr", "PocketSphinx, bundled US-English model (wheel)", lambda: asr_pocketsphinx,
          offline=True),
    Judge("resemblyzer", "sim", "Resemblyzer d-vector cosine (weights in the wheel)", lambda: speaker_similarity,
          offline=True),
    Judge("distillmos", "mos", "DistillMOS (weights in the wheel)", lambda: mos_distillmos, offline=True),
    Judge("wavlm_base_plus_sv", "sim", "WavLM-Base-Plus x-vector SV (transformers, microsoft/wavlm-base-plus-sv)",
          lambda: load_wavlm_sv(), provide="ESPNET_PLUGIN_WAVLM_SV"),
    *paper_judges.PAPER_JUDGE_LIST,
):
    add_judge(_judge)
