"""Reading a ``wav.scp`` value: the one place where audio named by a data dir is decoded.

A value is one of

* a file path (any format libsndfile reads: wav, flac, ogg, ...);
* ``cmd |``: a shell command whose standard output is an audio file, e.g.
  ``sox in.flac -t wav - |`` or ``flac -c -d -s x.flac |`` (run with ``/bin/sh`` in the current
  directory; a non-zero exit status or no output is an error naming the utterance and command);
* ``path:offset`` (optionally ``[slice]``): a Kaldi ark entry, read by ``kaldiio.load_mat``.

A Kaldi segment ``(rec, start, end)`` cuts samples ``round(start * rate) .. round(end * rate)``
out of its recording at the recording's own rate (``end = -1``: to the end), before the
shared downmix / resample / validation of :func:`espnet_plugin.io.audio.finish_waveform`.
A segment must lie inside its recording: ``start`` before the end, ``end`` at most
``SEGMENT_OVERSHOOT_S`` past it (the overshoot is truncated, as Kaldi's ``extract-segments``).

Every failure raises :class:`espnet_plugin.errors.DataError` naming the utterance and the value.
"""
from __future__ import annotations

import io
import shlex
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from espnet_plugin.errors import DataError
from espnet_plugin.io.audio import (PathLike, finish_waveform, load_audio, pcm_to_float,
                                    resolve_audio_path, resolve_listed_path)
from espnet_plugin.io.kaldi_dir import Segment
from espnet_plugin.io.wav_header import check_wav_bytes, check_wav_file

SEGMENT_OVERSHOOT_S = 0.01  # a segment may end this far past its recording (truncated)
_STDERR_TAIL = 400  # characters of a failed command's stderr quoted in the error


def is_pipe(spec: str) -> bool:
    """True for a ``cmd |`` value."""
    return spec.rstrip().endswith("|")


def _ark_path(spec: str) -> Path | None:
    """The file of a ``path:offset[slice]`` value, or None when ``spec`` is not one."""
    head = spec.split("[", 1)[0]
    if ":" not in head:
        return None
    path, offset = head.rsplit(":", 1)
    return Path(path) if offset.strip().isdigit() else None


def _locate(spec: str, root: PathLike | None, listed: bool) -> Path:
    if root is None:
        return Path(spec)
    return resolve_listed_path(spec, root) if listed else resolve_audio_path(spec, root)


def source_files(spec: str, root: PathLike | None = None, listed: bool = False) -> list[Path]:
    """The files a value reads (to notice when they change): its path, its ark file, or the
    existing files named in its command."""
    if is_pipe(spec):
        try:
            words = shlex.split(spec.rstrip()[:-1])
        except ValueError:
            words = spec.split()
        return [Path(w) for w in words if Path(w).is_file()]
    p = _locate(spec, root, listed)
    if not p.is_file() and _ark_path(spec) is not None:
        return [_locate(str(_ark_path(spec)), root, listed)]
    return [p]


def run_pipe(spec: str, where: str) -> bytes:
    """Standard output of the command of a ``cmd |`` value.

    Raises:
        DataError: the command exits with a non-zero status or writes nothing (the message
            names ``where``, the command and the end of its stderr).
    """
    cmd = spec.rstrip()[:-1].strip()
    try:
        res = subprocess.run(cmd, shell=True, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as exc:
        raise DataError(f"{where}: cannot run command {cmd!r}: {exc}") from exc
    err = res.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
    if res.returncode != 0:
        raise DataError(f"{where}: command {cmd!r} failed with exit status {res.returncode}"
                        + (f": {err}" if err else ""))
    if not res.stdout:
        raise DataError(f"{where}: command {cmd!r} wrote no audio to its output"
                        + (f" (stderr: {err})" if err else ""))
    return res.stdout


def read_recording(spec: str, where: str, root: PathLike | None = None,
                   listed: bool = False) -> tuple[np.ndarray, int]:
    """Decode a whole ``wav.scp`` value, without any other processing.

    Args:
        spec: the value (path, ``cmd |`` or ``path:offset``).
        where: prefix of error messages (the utterance and value).
        root: directory that relative paths are relative to.
        listed: resolve relative paths as :func:`resolve_listed_path` (as written when they
            exist from the current directory) rather than always under ``root``.
    Returns:
        ``(data, rate)``: (N, C) float32 samples (C >= 1) and their rate in Hz.
    Raises:
        DataError: missing file, failing command, undecodable or empty audio, a wav that holds
            fewer frames than its header promises (:mod:`espnet_plugin.io.wav_header`).
    """
    if is_pipe(spec):
        out = run_pipe(spec, where)
        check_wav_bytes(out, f"{where}: the output of the command")
        try:
            data, rate = sf.read(io.BytesIO(out), dtype="float32", always_2d=True)
        except Exception as exc:
            raise DataError(f"{where}: cannot decode the command's output "
                            f"({len(out)} bytes) as audio: {exc}") from exc
    else:
        p = _locate(spec, root, listed)
        if p.is_file():
            check_wav_file(p, where)
            try:
                data, rate = sf.read(str(p), dtype="float32", always_2d=True)
            except Exception as exc:
                raise DataError(f"{where}: unreadable or corrupt audio: {exc}") from exc
        elif _ark_path(spec) is not None:
            ark = _ark_path(spec)
            full = spec if root is None else str(_locate(str(ark), root, listed)) + spec[len(str(ark)):]
            try:
                import kaldiio

                rate, raw = kaldiio.load_mat(full)
            except Exception as exc:
                raise DataError(f"{where}: cannot read ark entry: {exc}") from exc
            data = pcm_to_float(raw, where)
            data = data[:, None] if data.ndim == 1 else data
        else:
            raise DataError(f"{where}: audio file not found")
    if int(rate) <= 0 or data.ndim != 2 or data.shape[0] == 0:
        raise DataError(f"{where}: empty audio clip (0 samples decoded)")
    return data, int(rate)


def cut_segment(data: np.ndarray, rate: int, seg: Segment, where: str) -> np.ndarray:
    """Samples ``round(start * rate) .. round(end * rate)`` of (N, C) ``data`` (end -1: to N).

    Raises:
        DataError: the segment starts at or after the end of the recording, or ends more
            than ``SEGMENT_OVERSHOOT_S`` after it.
    """
    n = data.shape[0]
    dur = n / rate
    a = int(round(seg.start * rate))
    b = n if seg.end == -1 else int(round(seg.end * rate))
    if a >= n:
        raise DataError(f"{where}: segment starts at {seg.start:g} s, not inside its "
                        f"recording of {dur:.3f} s")
    if b > n + int(round(SEGMENT_OVERSHOOT_S * rate)):
        raise DataError(f"{where}: segment ends at {seg.end:g} s, past the end of its "
                        f"recording ({dur:.3f} s)")
    return data[a:min(b, n)]


def _where(utt: str | None, spec: str, seg: Segment | None) -> str:
    who = f"utterance {utt!r} " if utt is not None else ""
    if seg is None:
        return f"{who}({spec})"
    end = "end" if seg.end == -1 else f"{seg.end:g} s"
    return f"{who}(recording {seg.rec!r}: {spec}, {seg.start:g} s to {end})"


def load_entry(
    spec: str,
    fs: int = 16000,
    *,
    utt_id: str | None = None,
    segment: Segment | None = None,
    root: PathLike | None = None,
    listed: bool = False,
    min_samples: int = 0,
    max_seconds: float | None = None,
    allow_silence: bool = False,
) -> np.ndarray:
    """Read one ``wav.scp`` value (optionally one segment of it) as validated mono at ``fs``.

    Args:
        spec: the value (see the module docstring).
        fs: output rate in Hz.
        utt_id: utterance id for error messages.
        segment: cut this segment out of the recording first.
        root, listed: where relative paths are (see :func:`read_recording`).
        min_samples, max_seconds, allow_silence: as :func:`espnet_plugin.io.audio.load_audio`.
    Returns:
        (N,) float32 waveform.
    Raises:
        DataError: see :func:`read_recording`, :func:`cut_segment`, ``finish_waveform``.
    """
    if segment is None and not is_pipe(spec) and _locate(spec, root, listed).is_file():
        return load_audio(_locate(spec, root, listed), fs, utt_id=utt_id, min_samples=min_samples,
                          max_seconds=max_seconds, allow_silence=allow_silence)
    return load_entries(spec, [(utt_id, segment)], fs, root=root, listed=listed,
                        min_samples=min_samples, max_seconds=max_seconds,
                        allow_silence=allow_silence, raise_first=True)[0][1]


def load_entries(
    spec: str,
    items: Sequence[tuple[str | None, Segment | None]],
    fs: int = 16000,
    *,
    root: PathLike | None = None,
    listed: bool = False,
    min_samples: int = 0,
    max_seconds: float | None = None,
    allow_silence: bool = False,
    raise_first: bool = False,
) -> list[tuple[str | None, np.ndarray | DataError]]:
    """Decode one recording once and return each ``(utt, segment or None)`` item's audio.

    Returns:
        ``(utt, wav)`` per item in order; ``wav`` is the (N,) float32 waveform, or the
        :class:`DataError` of that item (every item gets the recording's own error).
    Raises:
        DataError: the first error, when ``raise_first``.
    """
    out: list[tuple[str | None, np.ndarray | DataError]] = []
    first_seg = items[0][1]
    if len(items) == 1:
        rec_where = _where(items[0][0], spec, first_seg)
    else:
        rec_where = f"recording {first_seg.rec!r} ({spec})" if first_seg else f"({spec})"
    try:
        data, rate = read_recording(spec, rec_where, root, listed)
    except DataError as exc:
        if raise_first:
            raise
        if len(items) > 1:  # name every utterance of the recording
            return [(u, DataError(f"utterance {u!r}: {exc}")) for u, _ in items]
        return [(u, exc) for u, _ in items]
    for utt, seg in items:
        where = _where(utt, spec, seg)
        try:
            clip = data if seg is None else cut_segment(data, rate, seg, where)
            out.append((utt, finish_waveform(clip, rate, fs, where, min_samples=min_samples,
                                             max_seconds=max_seconds, allow_silence=allow_silence)))
        except DataError as exc:
            if raise_first:
                raise
            out.append((utt, exc))
    return out
