"""Audio loading (read, downmix, resample, validate), the same steps for samples already decoded
(integer PCM to float, downmix, validation), and atomic 16-bit PCM writing.

Every failure the data can cause raises :class:`espnet_plugin.errors.DataError` naming the
utterance and the file, so a bad clip in a corpus of thousands is easy to find.
"""
from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf

from espnet_plugin.errors import DataError
from espnet_plugin.io.wav_header import check_wav_file

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

SILENCE_THRESHOLD = 1e-5  # loading: max |x| below this counts as an all-silent clip
SILENCE_PEAK = 1e-4  # scoring and the demo: max |x| below this (-80 dBFS) counts as silence
_NOTES_GIVEN: set[str] = set()


def _note_once(key: str, message: str) -> None:
    """Log ``message`` at INFO level the first time ``key`` is seen in this process."""
    if key not in _NOTES_GIVEN:
        _NOTES_GIVEN.add(key)
        logger.info(message)


def is_silent(wav: np.ndarray, threshold: float = SILENCE_PEAK) -> bool:
    """True when ``wav`` (any shape) is empty or ``max |x| < threshold`` (default -80 dBFS)."""
    return wav.size == 0 or float(np.max(np.abs(wav))) < threshold


def resolve_audio_path(path: PathLike, root: PathLike | None = None) -> Path:
    """Return ``path``, joined to ``root`` when it is relative and a root is given."""
    p = Path(path)
    if root is not None and not p.is_absolute():
        p = Path(root) / p
    return p


def resolve_listed_path(entry: PathLike, list_dir: PathLike) -> Path:
    """A path as written in a list file (wav.scp, a TTS pair list) located in ``list_dir``.

    As is when absolute or when it exists from the current directory; otherwise relative to
    ``list_dir`` (lists that name their audio relative to themselves).
    """
    p = Path(entry)
    if p.is_absolute() or p.exists():
        return p
    return Path(list_dir) / p


def resample(wav: np.ndarray, orig_fs: int, fs: int) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``) of a mono signal.

    Args:
        wav: (N,) float waveform.
        orig_fs: its sampling rate in Hz.
        fs: wanted rate in Hz.
    Returns:
        (round(N * fs / orig_fs),) float32 waveform.
    """
    if orig_fs == fs:
        return wav.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_fs), int(fs))
    out = resample_poly(wav.astype(np.float64), int(fs) // g, int(orig_fs) // g)
    return out.astype(np.float32)


def pcm_to_float(data: np.ndarray, where: str | None = None) -> np.ndarray:
    """Integer PCM (int8/16/32, uint8) or float samples -> float32 in [-1, 1] (same shape).

    Signed integers are divided by their full scale (``2 ** (bits - 1)``); unsigned 8-bit
    (the wav convention, e.g. what kaldiio returns for 8-bit wav) is centred on 128 first.

    Args:
        data: samples of any shape.
        where: prefix of the error message (e.g. the utterance and file).
    Raises:
        DataError: a sample type that is neither integer nor float.
    """
    x = np.asarray(data)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(x.dtype, np.integer):
        return (x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    raise DataError(f"{where + ': ' if where else ''}unsupported audio sample type {x.dtype}")


def downmix(x: np.ndarray, where: str | None = None) -> np.ndarray:
    """(N,), (N, C) or (C, N) with C <= 8 -> (N,) channel mean.

    A 2-D array with more than 8 columns and at most 8 rows is taken as channels-first.

    Args:
        x: samples.
        where: prefix of the error message (e.g. the utterance and file).
    Raises:
        DataError: more than 2 dimensions, or an empty 2-D array.
    """
    if x.ndim == 1:
        return x
    if x.ndim != 2 or x.size == 0:
        raise DataError(f"{where + ': ' if where else ''}audio array of shape {x.shape}: "
                        "expected (samples,) or (samples, channels)")
    if x.shape[1] > 8 and x.shape[0] <= 8:
        x = x.T  # channels first
    return x.mean(axis=1)


def check_waveform(
    wav: np.ndarray,
    fs: int,
    where: str,
    *,
    min_samples: int = 0,
    max_seconds: float | None = None,
    allow_silence: bool = False,
) -> None:
    """Validate audio already in memory with the rules (and messages) of :func:`load_audio`.

    Args:
        wav: (N,) or (N, C) samples at ``fs`` Hz.
        fs: its sampling rate in Hz.
        where: prefix of the error message (the utterance and/or file).
        min_samples: fewer samples than this are rejected.
        max_seconds: longer clips are rejected.
        allow_silence: accept clips whose max |x| < 1e-5.
    Raises:
        DataError: empty clip, NaN/Inf samples, too long, all-silent, or too short.
    """
    if wav.size == 0:
        raise DataError(f"{where}: empty audio clip (0 samples)")
    if not np.all(np.isfinite(wav)):
        raise DataError(f"{where}: audio contains NaN or Inf samples")
    n = int(wav.shape[0])
    if max_seconds is not None and n / fs > max_seconds:
        raise DataError(f"{where}: too long: {n / fs:.2f} s > max_seconds={max_seconds}")
    if not allow_silence and is_silent(wav, SILENCE_THRESHOLD):
        raise DataError(f"{where}: all-silent clip (max |x| < {SILENCE_THRESHOLD:g})")
    if n < min_samples:
        raise DataError(
            f"{where}: too short: {n} samples ({n / fs:.3f} s) < min_samples={min_samples}"
        )


def pcm_to_mono(data: np.ndarray, rate: int, fs: int, where: str) -> np.ndarray:
    """Decoded samples (e.g. from kaldiio) -> (N',) float32 mono at ``fs`` Hz.

    Integer PCM is scaled by :func:`pcm_to_float`, channels are averaged by :func:`downmix`,
    then the signal is resampled.  All-silent audio is accepted.

    Args:
        data: (N,), (N, C) or (C, N) integer PCM or float samples.
        rate: their sampling rate in Hz.
        fs: wanted rate in Hz.
        where: prefix of error messages (the utterance and its source).
    Raises:
        DataError: empty audio, NaN/Inf samples, an unsupported sample type or shape.
    """
    x = pcm_to_float(data, where)
    check_waveform(x, rate, where, allow_silence=True)
    return resample(downmix(x, where), rate, fs)


def load_audio(
    path: PathLike,
    fs: int = 16000,
    *,
    utt_id: str | None = None,
    min_samples: int = 0,
    max_seconds: float | None = None,
    allow_silence: bool = False,
    root: PathLike | None = None,
) -> np.ndarray:
    """Read an audio file as a validated mono float32 waveform at ``fs`` Hz.

    Multi-channel audio is averaged to mono and other rates are resampled (each noted
    once in the log).

    Args:
        path: audio file (any format libsndfile reads: wav, flac, ogg, ...).
        fs: output sampling rate in Hz.
        utt_id: utterance id used in error messages.
        min_samples: clips shorter than this (after resampling) are rejected.
        max_seconds: clips longer than this are rejected (checked before decoding).
        allow_silence: accept clips whose max |x| < 1e-5.
        root: directory that relative paths are relative to.
    Returns:
        (N,) float32 waveform in [-1, 1] (for PCM input).
    Raises:
        DataError: missing file, unreadable/corrupt header, a wav that holds fewer frames
            than its header promises or an unsupported wav sample format
            (:mod:`espnet_plugin.io.wav_header`), empty clip, all-silent clip, too short,
            too long, or NaN/Inf samples.
    """
    p = resolve_audio_path(path, root)
    who = f"utterance {utt_id!r} " if utt_id is not None else ""
    where = f"{who}({p})"
    if not p.is_file():
        raise DataError(f"{where}: audio file not found")
    check_wav_file(p, where)  # libsndfile silently reads what a truncated wav still holds
    try:
        info = sf.info(str(p))
        orig_fs = int(info.samplerate)
        frames = int(info.frames)
        channels = int(info.channels)
    except Exception as exc:  # libsndfile raises several types on garbage input
        raise DataError(f"{where}: unreadable or corrupt audio header: {exc}") from exc
    if orig_fs <= 0 or channels <= 0:
        raise DataError(f"{where}: invalid header (rate={orig_fs}, channels={channels})")
    if frames <= 0:
        raise DataError(f"{where}: empty audio clip (0 samples)")
    if max_seconds is not None and frames / orig_fs > max_seconds:
        raise DataError(
            f"{where}: too long: {frames / orig_fs:.2f} s > max_seconds={max_seconds}"
        )
    try:
        data, orig_fs = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"{where}: cannot decode audio: {exc}") from exc
    return finish_waveform(data, int(orig_fs), fs, where, min_samples=min_samples,
                           allow_silence=allow_silence)


def finish_waveform(
    data: np.ndarray,
    rate: int,
    fs: int,
    where: str,
    *,
    min_samples: int = 0,
    max_seconds: float | None = None,
    allow_silence: bool = False,
) -> np.ndarray:
    """Decoded float samples -> validated (N',) float32 mono at ``fs`` Hz.

    The steps every reader shares (:func:`load_audio`, ``espnet_plugin.io.scp_audio``):
    reject empty / NaN / too long, average channels, reject all-silent, resample
    (``N' = round(N * fs / rate)``), reject too short.  Downmixing and resampling are
    noted once in the log.

    Args:
        data: (N, C) float samples (C >= 1) at ``rate`` Hz.
        rate: their sampling rate in Hz.
        fs: wanted rate in Hz.
        where: prefix of error messages (the utterance and its source).
        min_samples: fewer samples than this (after resampling) are rejected.
        max_seconds: longer clips are rejected.
        allow_silence: accept clips whose max |x| < 1e-5.
    Raises:
        DataError: empty, NaN/Inf, too long, all-silent or too short audio.
    """
    if data.shape[0] == 0:
        raise DataError(f"{where}: empty audio clip (0 samples decoded)")
    if not np.all(np.isfinite(data)):
        raise DataError(f"{where}: audio contains NaN or Inf samples")
    if max_seconds is not None and data.shape[0] / rate > max_seconds:
        raise DataError(f"{where}: too long: {data.shape[0] / rate:.2f} s > max_seconds={max_seconds}")
    if data.shape[1] > 1:
        _note_once(
            f"downmix{data.shape[1]}",
            f"{where}: {data.shape[1]}-channel audio downmixed to mono "
            "(noted once; other multi-channel clips are downmixed the same way)",
        )
        wav = data.mean(axis=1)
    else:
        wav = data[:, 0]
    if not allow_silence and is_silent(wav, SILENCE_THRESHOLD):
        raise DataError(f"{where}: all-silent clip (max |x| < {SILENCE_THRESHOLD:g})")
    if rate != fs:
        _note_once(
            f"resample{rate}->{fs}",
            f"{where}: resampling {rate} Hz -> {fs} Hz "
            "(noted once; other clips at this rate are resampled the same way)",
        )
        wav = resample(wav, int(rate), fs)
    if wav.shape[0] < min_samples:
        raise DataError(
            f"{where}: too short: {wav.shape[0]} samples ({wav.shape[0] / fs:.3f} s) "
            f"< min_samples={min_samples}"
        )
    return np.ascontiguousarray(wav, dtype=np.float32)


def encode_wav(wav: np.ndarray, fs: int) -> bytes:
    """Encode a waveform as the bytes of a 16-bit PCM wav file.

    Args:
        wav: (N,) mono or (N, C) multi-channel float waveform; values are clipped to [-1, 1].
        fs: sampling rate in Hz.
    Raises:
        DataError: NaN/Inf samples or a bad shape.
    """
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise DataError(f"cannot write audio of shape {x.shape}: expected (N,) or (N, C), N > 0")
    if not np.all(np.isfinite(x)):
        raise DataError("cannot write audio containing NaN or Inf samples")
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), int(fs), subtype="PCM_16", format="WAV")
    return buf.getvalue()


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_audio(path: PathLike, wav: np.ndarray, fs: int) -> None:
    """Write a waveform as 16-bit PCM wav, atomically (temp file + ``os.replace``).

    Args:
        path: output .wav path (parent directories are created).
        wav: (N,) or (N, C) float waveform, clipped to [-1, 1].
        fs: sampling rate in Hz.
    """
    write_bytes_atomic(path, encode_wav(wav, fs))
