"""Judge models used by the metrics: lazily loaded once per process and cached.

Offline judges (weights ship inside their wheels, no network):

* MOS: ``distillmos.ConvTransformerSQAModel()`` (DistillMOS, a distilled XLS-R SQA model),
  input a (B, N) 16 kHz waveform tensor, output (B, 1) MOS in [1, 5].
* Speaker similarity: ``resemblyzer.VoiceEncoder("cpu")``; ``embed_utterance(preprocess_wav(x))``
  is an L2-normalised (256,) d-vector (non-negative entries), cosine = dot product.
  ``preprocess_wav`` normalises the volume and removes long silences with WebRTC VAD.
* ASR: ``pocketsphinx.Decoder(samprate=16000)`` with its bundled US-English model; weak on
  robotic/synthetic voices but fully independent of the systems under test.

Online judges (need weights that are normally downloaded from a hub): ``whisper_large_v3``
(ASR), ``utmos`` (UTMOS22 strong) and ``wavlm_sv`` (WavLM x-vector speaker verification).
Their loaders only look at local files (``local_files_only``/env vars below) and raise
:class:`JudgeUnavailable` when the weights are not there, so the metric is skipped.

* ``ESPNET_PLUGIN_WHISPER``: HF model id or local dir (default ``openai/whisper-large-v3``,
  from the HF cache only).
* ``ESPNET_PLUGIN_UTMOS_DIR``: local checkout of ``tarepan/SpeechMOS`` (hub cache with weights).
* ``ESPNET_PLUGIN_WAVLM_SV``: HF id or local dir (default ``microsoft/wavlm-base-plus-sv``).
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Callable, Optional

import numpy as np

from espnet_plugin.metrics.registry import JudgeUnavailable, Metric, add_metric

logger = logging.getLogger(__name__)

SR = 16000


def _as_f32(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono (N,) waveform, got shape {x.shape}")
    return x


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


def _check_local(name: str, what: str, env: str) -> None:
    """Raise JudgeUnavailable early (without importing transformers) when ``name`` is neither
    an existing directory nor a model id present in the local Hugging Face cache."""
    if os.path.isdir(name):
        return
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise JudgeUnavailable(f"{what}: {name!r} is not a local directory; set {env}")
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")
    if not os.path.isdir(os.path.join(cache, "models--" + name.replace("/", "--"))):
        raise JudgeUnavailable(f"{what}: {name!r} is not in the local HF cache {cache}; "
                               f"set {env} to a local model dir")


def _load_whisper() -> Callable[[np.ndarray], str]:
    """Whisper large-v3 from local files only; raises JudgeUnavailable otherwise."""
    name = os.environ.get("ESPNET_PLUGIN_WHISPER", "openai/whisper-large-v3")
    _check_local(name, "Whisper", "ESPNET_PLUGIN_WHISPER")
    try:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        proc = WhisperProcessor.from_pretrained(name, local_files_only=True)
        model = WhisperForConditionalGeneration.from_pretrained(name, local_files_only=True)
    except Exception as exc:  # ImportError, OSError (not in cache), ...
        raise JudgeUnavailable(
            f"Whisper weights {name!r} not available locally ({type(exc).__name__}); "
            "set ESPNET_PLUGIN_WHISPER to a local model dir"
        ) from exc
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(dev).eval()

    def transcribe(wav: np.ndarray) -> str:
        feats = proc(_as_f32(wav), sampling_rate=SR, return_tensors="pt").input_features
        with torch.no_grad():
            ids = model.generate(feats.to(dev), language="en", task="transcribe")
        return proc.batch_decode(ids, skip_special_tokens=True)[0]

    return transcribe


ASR_JUDGES: dict[str, Callable[[], Callable[[np.ndarray], str]]] = {
    "pocketsphinx": lambda: asr_pocketsphinx,
    "whisper_large_v3": _load_whisper,
}


@functools.lru_cache(maxsize=None)
def get_asr_judge(name: str) -> Callable[[np.ndarray], str]:
    """Return the transcription function of ASR judge ``name`` (cached).

    Raises:
        JudgeUnavailable: the judge's weights cannot be loaded here.
        KeyError: unknown judge name (see ``ASR_JUDGES``).
    """
    if name not in ASR_JUDGES:
        raise KeyError(f"unknown ASR judge {name!r}; known: {sorted(ASR_JUDGES)}")
    return ASR_JUDGES[name]()


# ---------------------------------------------------------------- online MOS / SIM
def load_utmos() -> Callable[[np.ndarray], float]:
    """UTMOS22 strong from a local SpeechMOS checkout (``ESPNET_PLUGIN_UTMOS_DIR``)."""
    d = os.environ.get("ESPNET_PLUGIN_UTMOS_DIR")
    if not d or not os.path.isdir(d):
        raise JudgeUnavailable(
            "UTMOS needs a local tarepan/SpeechMOS checkout with cached weights: "
            "set ESPNET_PLUGIN_UTMOS_DIR"
        )
    try:
        import torch

        model = torch.hub.load(d, "utmos22_strong", source="local", trust_repo=True).eval()
    except Exception as exc:
        raise JudgeUnavailable(f"UTMOS could not be loaded from {d}: {exc}") from exc

    def utmos(hyp: np.ndarray) -> float:
        with torch.no_grad():
            return float(model(torch.from_numpy(_as_f32(hyp))[None], SR).reshape(-1)[0])

    return utmos


def load_wavlm_sv() -> Callable[[np.ndarray, np.ndarray], float]:
    """WavLM x-vector speaker verification model from local files only."""
    name = os.environ.get("ESPNET_PLUGIN_WAVLM_SV", "microsoft/wavlm-base-plus-sv")
    _check_local(name, "WavLM speaker model", "ESPNET_PLUGIN_WAVLM_SV")
    try:
        import torch
        from transformers import AutoFeatureExtractor, WavLMForXVector

        fe = AutoFeatureExtractor.from_pretrained(name, local_files_only=True)
        model = WavLMForXVector.from_pretrained(name, local_files_only=True).eval()
    except Exception as exc:
        raise JudgeUnavailable(
            f"WavLM speaker model {name!r} not available locally ({type(exc).__name__}); "
            "set ESPNET_PLUGIN_WAVLM_SV to a local model dir"
        ) from exc

    def embed(x: np.ndarray) -> "torch.Tensor":
        inp = fe(_as_f32(x), sampling_rate=SR, return_tensors="pt")
        with torch.no_grad():
            return torch.nn.functional.normalize(model(**inp).embeddings, dim=-1)[0]

    def sim(a: np.ndarray, b: np.ndarray) -> float:
        return float(torch.dot(embed(a), embed(b)))

    return sim


def add_online_judges(axis: str, pair: tuple, align: Optional[Callable] = None) -> None:
    """Register the online-weight judges of ``axis``: ``utmos`` (on ``hyp``) and ``spk_sim_wavlm``
    (WavLM x-vector cosine of the two inputs named by ``pair``, e.g. ``("ref", "hyp")``, first passed
    through ``align(a, b) -> (a, b)`` when given). Their loaders raise :class:`JudgeUnavailable`
    without local weights, and the metrics are then skipped."""
    def utmos_loader():
        f = load_utmos()
        return lambda hyp: f(hyp)

    def wavlm_loader():
        f = load_wavlm_sv()
        first, second = pair
        return lambda **kw: f(*(align(kw[first], kw[second]) if align else (kw[first], kw[second])))

    add_metric(Metric("utmos", "higher", None, axis, ("hyp",), loader=utmos_loader,
                      description="UTMOS22 strong MOS estimate (online weights)"))
    add_metric(Metric("spk_sim_wavlm", "higher", None, axis, tuple(pair), loader=wavlm_loader,
                      description="WavLM x-vector cosine (online weights)"))
