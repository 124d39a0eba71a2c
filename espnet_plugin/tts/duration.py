"""Total-length rule and ODE time schedule of F5-TTS (no duration model).

F5-TTS predicts no durations: the output length is extrapolated from the speaking rate of
the reference (prompt) utterance,

    total_frames = ref_len + int(ref_len / len(ref_text) * len(gen_text) / speed)

where ``len`` counts **UTF-8 bytes** (F5-TTS's ``len(text.encode("utf-8"))``): one per ASCII
character, two or three for accented / CJK characters. ``total_frames`` includes the prompt
frames; the generated part is ``total_frames - ref_len``.

The sampling time grid is ``t_k = k / steps`` (k = 0..steps) warped by sway sampling

    t <- t + s * (cos(pi * t / 2) - 1 + t)

which keeps t(0) = 0 and t(1) = 1 and, for s < 0, spends more steps near t = 0.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from espnet_plugin.errors import ConfigError, DataError


def text_length(text: str) -> int:
    """Length of ``text`` as F5-TTS counts it: the number of UTF-8 bytes."""
    return len(text.encode("utf-8"))


def estimate_duration(ref_len: int, ref_text: str, gen_text: str, speed: float = 1.0) -> int:
    """Total number of frames (prompt + generated) by F5-TTS's rule.

    ``ref_len + int(ref_len / text_length(ref_text) * text_length(gen_text) / speed)``.

    Args:
        ref_len: number of latent frames of the prompt.
        ref_text: transcript of the prompt (non-empty).
        gen_text: text to generate.
        speed: speaking-rate factor (> 0); 2.0 gives half as many generated frames.
    Returns:
        total frames, at least ``ref_len + 1``.
    """
    if speed <= 0:
        raise ConfigError(f"speed must be > 0, got {speed}")
    n_ref = text_length(ref_text)
    if n_ref == 0:
        raise DataError("the prompt text is empty: the duration rule needs its length")
    gen = int(ref_len / n_ref * text_length(gen_text) / speed)
    return int(ref_len) + max(gen, 1)


def sway_sampling(t: torch.Tensor, s: float) -> torch.Tensor:
    """Sway-sampling warp of flow times: ``t + s * (cos(pi t / 2) - 1 + t)``.

    Args:
        t: times in [0, 1], any shape.
        s: sway coefficient (F5-TTS uses -1; 0 leaves t unchanged).
    Returns:
        warped times, same shape as ``t``.
    """
    return t + s * (torch.cos(0.5 * math.pi * t) - 1.0 + t)


def time_schedule(
    steps: int,
    sway_sampling_coef: Optional[float] = -1.0,
    device: Optional[torch.device] = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """ODE time grid ``(steps + 1,)``: ``linspace(0, 1, steps + 1)`` then sway sampling.

    ``sway_sampling_coef=None`` (or 0) gives the plain uniform grid.
    """
    if steps < 1:
        raise ConfigError(f"the number of ODE steps must be >= 1, got {steps}")
    t = torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=dtype)
    if sway_sampling_coef:
        t = sway_sampling(t, float(sway_sampling_coef))
    return t
