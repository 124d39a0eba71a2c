"""Reconstruction metrics: resynthesis ``hyp`` against the original ``ref``, both 16 kHz.

All functions take (N,) float waveforms at 16 kHz.  Lengths that differ (a vocoder pads to a
multiple of its hop) are trimmed to the shorter one; a difference above 5 % is logged.
Undefined cases return NaN with a logged reason, never a made-up number (the means count them at
the metric's worst value, :mod:`espnet_plugin.metrics.missing`):

* ``pesq`` (wide-band P.862.2, ``pesq`` package): NaN when either side is silent (the
  C library raises "No utterances detected" / fails on all-zero input) or too short.
* ``stoi`` (short-time objective intelligibility, ``pystoi``, non-extended): NaN when either
  side is silent (pystoi would return 0 for a silent reference: no frames are kept).
* ``mel_distance``: mean absolute difference of natural-log mel magnitudes,
  ``mean_{f,t} |log(max(M_ref, 1e-5)) - log(max(M_hyp, 1e-5))|`` with 16 kHz, n_fft 1024,
  Hann window 1024, hop 256, centred frames, 80 Slaney mel bands 0-8000 Hz (Slaney norm,
  as librosa/HiFi-GAN), magnitude (power 1) spectrogram.  Lower is better, 0 for identity.
* ``spk_sim``: speaker-judge cosine similarity ref vs hyp (``--sim_judge``: Resemblyzer by default,
  ``wavlm_large_sv`` in the paper recipe; see ``judges``).
* ``mos``: MOS-judge estimate of ``hyp`` alone (``--mos_judge``: DistillMOS by default, UTMOS22 strong
  in the paper recipe).
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, Optional

import numpy as np

from espnet_plugin.io.audio import is_silent
from espnet_plugin.metrics import judges
from espnet_plugin.metrics.registry import add_online_judges, register_metric

logger = logging.getLogger(__name__)

SR = 16000
MEL_N_FFT = 1024
MEL_HOP = 256
MEL_N_MELS = 80
MEL_FMIN = 0.0
MEL_FMAX = 8000.0
MEL_FLOOR = 1e-5


def _silent_pair(r: np.ndarray, h: np.ndarray, metric: str) -> bool:
    """True, with a warning naming the silent side, when ``metric`` is undefined (a clip is silent)."""
    for side, x in (("reference", r), ("hypothesis", h)):
        if is_silent(x):
            logger.warning("%s undefined: %s is silent -> NaN", metric, side)
            return True
    return False


def align_pair(ref: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim two (N,) waveforms to the shorter length; returns float32 copies (M,), (M,).

    Raises:
        ValueError: not 1-D, or NaN/Inf samples.
    """
    r = np.asarray(ref, dtype=np.float32)
    h = np.asarray(hyp, dtype=np.float32)
    if r.ndim != 1 or h.ndim != 1:
        raise ValueError(f"expected mono (N,) waveforms, got {r.shape} and {h.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(h))):
        raise ValueError("waveform contains NaN or Inf samples")
    n = min(r.size, h.size)
    if max(r.size, h.size) > 1.05 * max(n, 1):
        logger.warning("length mismatch ref %d vs hyp %d samples: trimmed to %d", r.size, h.size, n)
    return r[:n], h[:n]


@register_metric("pesq", direction="higher", axis="reconstruction", judge="pesq_wb",
                 description="wide-band PESQ (P.862.2 MOS-LQO), 1.02..4.64")
def pesq_wb(ref: np.ndarray, hyp: np.ndarray) -> float:
    """Wide-band PESQ of ``hyp`` against ``ref`` (16 kHz); NaN (logged) on silence or failure."""
    from pesq import PesqError, pesq

    r, h = align_pair(ref, hyp)
    if _silent_pair(r, h, "PESQ"):
        return float("nan")
    try:
        return float(pesq(SR, r, h, "wb"))
    except (PesqError, ValueError) as exc:
        logger.warning("PESQ failed (%s: %s) -> NaN", type(exc).__name__, exc)
        return float("nan")


@register_metric("stoi", direction="higher", axis="reconstruction", judge="pystoi",
                 description="STOI intelligibility, 0..1")
def stoi(ref: np.ndarray, hyp: np.ndarray) -> float:
    """STOI of ``hyp`` against ``ref`` (16 kHz, pystoi resamples to 10 kHz); NaN on silence."""
    import warnings

    from pystoi import stoi as _stoi

    r, h = align_pair(ref, hyp)
    if _silent_pair(r, h, "STOI"):
        return float("nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        val = float(_stoi(r, h, SR, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        logger.warning("STOI undefined: too few non-silent frames (clip %.2f s) -> NaN", r.size / SR)
        return float("nan")
    return val


@functools.lru_cache(maxsize=4)
def _mel_fb(device: str = "cpu"):
    import torchaudio

    # (n_freqs, n_mels)
    return torchaudio.functional.melscale_fbanks(
        MEL_N_FFT // 2 + 1, MEL_FMIN, MEL_FMAX, MEL_N_MELS, SR, norm="slaney", mel_scale="slaney"
    ).to(device)


def log_mel(wav: np.ndarray) -> np.ndarray:
    """Natural-log mel magnitude spectrogram (n_mels=80, T) of an (N,) 16 kHz waveform.

    ``T = 1 + N // 256`` (centred frames, zero padding at the edges).
    """
    import torch

    x = torch.from_numpy(np.asarray(wav, dtype=np.float32))
    spec = torch.stft(
        x, MEL_N_FFT, hop_length=MEL_HOP, win_length=MEL_N_FFT,
        window=torch.hann_window(MEL_N_FFT), center=True, pad_mode="constant", return_complex=True,
    ).abs()  # (F, T)
    mel = _mel_fb().T @ spec  # (n_mels, T)
    return torch.log(torch.clamp(mel, min=MEL_FLOOR)).numpy()


@register_metric("mel_distance", direction="lower", axis="reconstruction", judge="log_mel_l1",
                 description="L1 distance of log-mel spectrograms (80 bands, hop 256)")
def mel_distance(ref: np.ndarray, hyp: np.ndarray) -> float:
    """``mean |log_mel(ref) - log_mel(hyp)|`` after trimming to the shorter clip (0 = identical)."""
    r, h = align_pair(ref, hyp)
    if r.size == 0:
        logger.warning("mel distance undefined for empty clips -> NaN")
        return float("nan")
    return float(np.mean(np.abs(log_mel(r) - log_mel(h))))


@register_metric("spk_sim", direction="higher", axis="reconstruction", judge_kind="sim",
                 description="speaker similarity ref vs hyp (cosine of the speaker judge's embeddings)")
def spk_sim(ref: np.ndarray, hyp: np.ndarray, judge: Optional[Callable] = None) -> float:
    """Speaker-judge cosine similarity of ``ref`` and ``hyp`` trimmed to a common length
    (``judge(a, b)``; default Resemblyzer); NaN when either lacks speech."""
    r, h = align_pair(ref, hyp)
    return float((judge or judges.speaker_similarity)(r, h))


@register_metric("mos", direction="higher", axis="reconstruction", needs=("hyp",), judge_kind="mos",
                 description="MOS estimate of the resynthesis by the MOS judge, 1..5")
def mos(hyp: np.ndarray, judge: Optional[Callable] = None) -> float:
    """MOS-judge quality estimate of ``hyp`` alone (``judge(wav)``; default DistillMOS)."""
    return float((judge or judges.mos_distillmos)(hyp))


add_online_judges("reconstruction", pair=("ref", "hyp"), align=align_pair)

DEFAULT_METRICS = ("pesq", "stoi", "mel_distance", "spk_sim", "mos")
