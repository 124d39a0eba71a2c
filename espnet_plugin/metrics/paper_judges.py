"""The paper's judges (as F5-TTS evaluates zero-shot TTS), loaded from local files only.

* ``whisper_large_v3`` (asr): ``openai/whisper-large-v3`` through transformers, English, greedy
  (``--whisper_model`` / ``ESPNET_PLUGIN_WHISPER``: a local model dir or a hub id in the local HF
  cache; default ``openai/whisper-large-v3``). F5-TTS runs the same weights through faster-whisper.
* ``wavlm_large_sv`` (sim, SIM-o): ECAPA-TDNN on WavLM-Large hidden states, fine-tuned for speaker
  verification (UniSpeech's ``wavlm_large_finetune.pth``, the checkpoint F5-TTS's evaluation loads;
  :mod:`.ecapa_tdnn`). Needs that checkpoint (``--sv_checkpoint`` / ``ESPNET_PLUGIN_SV_CHECKPOINT``)
  and the WavLM-Large upstream (``--sv_wavlm_large`` / ``ESPNET_PLUGIN_SV_WAVLM_LARGE``: s3prl's
  ``WavLM-Large.pt``; default: s3prl's download cache of its ``wavlm_large`` upstream).
  ``sim = cos(e_a, e_b)`` of the two 256-d embeddings.
* ``utmos22_strong`` (mos): UTMOS22 strong learner of SpeechMOS (``torch.hub`` repo
  ``tarepan/SpeechMOS:v1.2.0``, entry ``utmos22_strong``) from a local checkout
  (``--utmos_dir`` / ``ESPNET_PLUGIN_UTMOS_DIR``; default: the torch hub cache of that repo), whose
  weights must already be in the torch hub cache.

Nothing is downloaded: a missing file raises :class:`JudgeUnavailable` naming the judge, the paths
tried and the option / environment variable that provides it.
"""
from __future__ import annotations

import glob
import os
from typing import Callable

import numpy as np

from espnet_plugin.metrics.judge_base import SR, Judge, _as_f32, check_local_hf, unavailable

# scorer option -> the environment variable it sets (bin/score_recon.py, bin/score_tts.py)
PATH_OPTIONS = {
    "whisper_model": "ESPNET_PLUGIN_WHISPER",
    "sv_checkpoint": "ESPNET_PLUGIN_SV_CHECKPOINT",
    "sv_wavlm_large": "ESPNET_PLUGIN_SV_WAVLM_LARGE",
    "utmos_dir": "ESPNET_PLUGIN_UTMOS_DIR",
}
WAVLM_LARGE_URL = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/wavlm_large.pt"
SPEECHMOS_REPO = "tarepan/SpeechMOS:v1.2.0"


def _provide(*options: str) -> str:
    return " or ".join(f"--{o} <path> (env {PATH_OPTIONS[o]})" for o in options)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------------------ ASR
def load_whisper() -> Callable[[np.ndarray], str]:
    """Whisper large-v3 (transformers) from a local dir or the local HF cache."""
    name = os.environ.get("ESPNET_PLUGIN_WHISPER") or "openai/whisper-large-v3"
    provide = _provide("whisper_model") + " (a local model dir, or a hub id already in the HF cache)"
    check_local_hf(name, "whisper_large_v3", provide)
    try:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        proc = WhisperProcessor.from_pretrained(name, local_files_only=True)
        model = WhisperForConditionalGeneration.from_pretrained(name, local_files_only=True)
    except Exception as exc:  # ImportError, OSError (incomplete cache), ...
        raise unavailable("whisper_large_v3", repr(name), provide, exc) from exc
    dev = _device()
    model = model.to(dev).eval()

    def transcribe(wav: np.ndarray) -> str:
        feats = proc(_as_f32(wav), sampling_rate=SR, return_tensors="pt").input_features
        with torch.no_grad():
            ids = model.generate(feats.to(dev), language="en", task="transcribe")
        return proc.batch_decode(ids, skip_special_tokens=True)[0]

    return transcribe


# ----------------------------------------------------------------------- SIM-o (SV)
def _wavlm_large_path() -> str:
    """The s3prl WavLM-Large checkpoint: the option/env path, else s3prl's download cache."""
    path = os.environ.get("ESPNET_PLUGIN_SV_WAVLM_LARGE")
    provide = _provide("sv_wavlm_large") + " (s3prl's WavLM-Large .pt)"
    if path:
        if not os.path.isfile(path):
            raise unavailable("wavlm_large_sv", f"WavLM-Large upstream {path!r} (no such file)", provide)
        return path
    from s3prl.util.download import _urls_to_filepaths

    cached = _urls_to_filepaths(WAVLM_LARGE_URL, download=False)
    if not os.path.isfile(cached):
        raise unavailable("wavlm_large_sv", f"WavLM-Large upstream in s3prl's cache {cached!r} (absent)", provide)
    return cached


def load_wavlm_large_sv() -> Callable[[np.ndarray, np.ndarray], float]:
    """ECAPA-TDNN + WavLM-Large speaker verification (UniSpeech checkpoint); returns ``sim(a, b)``."""
    ckpt = os.environ.get("ESPNET_PLUGIN_SV_CHECKPOINT")
    provide = _provide("sv_checkpoint") + " (UniSpeech's wavlm_large_finetune.pth, as F5-TTS's eval uses)"
    if not ckpt or not os.path.isfile(ckpt):
        raise unavailable("wavlm_large_sv", f"SV checkpoint {ckpt!r} " + ("(not set)" if not ckpt else "(no such file)"),
                          provide)
    upstream_path = _wavlm_large_path()
    try:
        import torch
        from s3prl.upstream.wavlm.expert import UpstreamExpert

        from espnet_plugin.metrics.ecapa_tdnn import EcapaTdnnSV

        upstream = UpstreamExpert(upstream_path)
        model = EcapaTdnnSV(upstream, n_layers=len(upstream.model.encoder.layers) + 1)
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        state = state.get("model", state)
        result = model.load_state_dict(state, strict=False)
    except Exception as exc:
        raise unavailable("wavlm_large_sv", f"checkpoint {ckpt!r} with upstream {upstream_path!r}",
                          provide, exc) from exc
    head_missing = [k for k in result.missing_keys if not k.startswith("feature_extract.")]
    if head_missing:
        raise unavailable("wavlm_large_sv", f"checkpoint {ckpt!r}: not an ECAPA-TDNN SV checkpoint "
                                            f"(missing {head_missing[:4]})", provide)
    dev = _device()
    model = model.to(dev).eval()

    def embed(x: np.ndarray) -> "torch.Tensor":
        with torch.no_grad():
            return model([torch.from_numpy(_as_f32(x)).to(dev)])[0]

    def sim(a: np.ndarray, b: np.ndarray) -> float:
        return float(torch.nn.functional.cosine_similarity(embed(a), embed(b), dim=-1))

    return sim


# ------------------------------------------------------------------------------ MOS
def _speechmos_dir() -> str:
    d = os.environ.get("ESPNET_PLUGIN_UTMOS_DIR")
    provide = _provide("utmos_dir") + f" (a local checkout of {SPEECHMOS_REPO} with its weights in the torch hub cache)"
    if d:
        if not os.path.isfile(os.path.join(d, "hubconf.py")):
            raise unavailable("utmos22_strong", f"{d!r} (no hubconf.py there)", provide)
        return d
    import torch

    hub = torch.hub.get_dir()
    found = sorted(glob.glob(os.path.join(hub, "tarepan_SpeechMOS*", "hubconf.py")))
    if not found:
        raise unavailable("utmos22_strong", f"the torch hub cache {hub!r} (no tarepan_SpeechMOS checkout)", provide)
    return os.path.dirname(found[-1])


def load_utmos() -> Callable[[np.ndarray], float]:
    """UTMOS22 strong (SpeechMOS) from a local checkout; returns ``mos(wav)``."""
    d = _speechmos_dir()
    try:
        import torch

        model = torch.hub.load(d, "utmos22_strong", source="local", trust_repo=True).eval()
    except Exception as exc:
        raise unavailable("utmos22_strong", f"torch.hub.load({d!r}, 'utmos22_strong', source='local')",
                          _provide("utmos_dir"), exc) from exc
    dev = _device()
    model = model.to(dev)

    def utmos(hyp: np.ndarray) -> float:
        with torch.no_grad():
            return float(model(torch.from_numpy(_as_f32(hyp))[None].to(dev), SR).reshape(-1)[0])

    return utmos


#: the paper's judges, registered by :mod:`.judges` (this module imports no registry)
PAPER_JUDGE_LIST = (
    Judge("whisper_large_v3", "asr", "Whisper large-v3 (transformers, openai/whisper-large-v3)",
          lambda: load_whisper(), provide=_provide("whisper_model")),
    Judge("wavlm_large_sv", "sim", "ECAPA-TDNN on WavLM-Large, SV fine-tuned (UniSpeech wavlm_large_finetune.pth)",
          lambda: load_wavlm_large_sv(), provide=_provide("sv_checkpoint", "sv_wavlm_large")),
    Judge("utmos22_strong", "mos", f"UTMOS22 strong ({SPEECHMOS_REPO}, torch.hub)",
          lambda: load_utmos(), provide=_provide("utmos_dir")),
)
