"""Parsers for the official LibriTTS, LibriSpeech and LibriSpeech-PC layouts -> Kaldi dirs.

Layouts (``root`` may be the download dir that holds ``LibriTTS/`` or ``LibriSpeech/``, or
that corpus dir itself):

* LibriTTS (SLR60): ``LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav``
  with ``.normalized.txt`` and ``.original.txt`` beside each wav.  Utterance id: the file
  stem with ``_`` -> ``-`` (``84-121123-000007-000001``), as in LibriSpeech.
* LibriSpeech (SLR12): ``LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt``
  (lines ``UTTID TEXT``) and ``<UTTID>.flac``.
* LibriSpeech-PC (SLR145): a JSON-lines manifest (``audio_filepath``, ``text``,
  ``duration``) over LibriSpeech audio; punctuated, cased text; kept when
  ``min_seconds <= duration <= max_seconds`` (4-10 s in the F5-TTS evaluation).

Utterance ids start with ``<spk>-`` so sorting utterances sorts speakers (``-`` sorts before
every digit).  Transcripts are written in ``text_style``: ``"upper"`` (LibriSpeech style:
upper case, apostrophes, spaces; the same style as the synthetic corpus) or ``"raw"``
(as in the source file, e.g. LibriSpeech-PC's punctuation and case).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

from espnet_plugin.data.textgen import normalize_text
from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.kaldi_dir import write_data_dir

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]
TEXT_STYLES = ("upper", "raw")


@dataclass(frozen=True)
class UttRecord:
    """One utterance of a parsed corpus.

    Attributes:
        utt_id: Kaldi utterance id (starts with ``spk_id + "-"``).
        spk_id: speaker id.
        wav_path: audio file.
        text: transcript as found in the source.
        duration: seconds, when the source states it (LibriSpeech-PC), else None.
    """

    utt_id: str
    spk_id: str
    wav_path: str
    text: str
    duration: float | None = None


def _corpus_dir(root: PathLike, name: str) -> Path:
    r = Path(root)
    return r / name if (r / name).is_dir() else r


def _subset_dir(base: Path, subset: str) -> Path:
    d = base / subset
    if not d.is_dir():
        raise DataError(f"subset directory not found: {d}")
    return d


def parse_libritts(
    root: PathLike, subsets: Iterable[str], text_kind: str = "normalized",
    skip_missing_text: bool = False,
) -> list[UttRecord]:
    """Parse LibriTTS subsets (``train-clean-100``, ``dev-clean``, ``test-clean``, ...).

    Args:
        root: dir holding ``LibriTTS/`` (or the ``LibriTTS`` dir itself).
        subsets: subset names.
        text_kind: ``"normalized"`` or ``"original"`` transcript file.
        skip_missing_text: log and skip wavs without a transcript instead of raising.
    Returns:
        records sorted by utterance id.
    Raises:
        DataError: missing subset dir, missing/empty/non-UTF-8 transcript, bad file name.
    """
    if text_kind not in ("normalized", "original"):
        raise ConfigError(f"text_kind={text_kind!r}: choose 'normalized' or 'original'")
    base = _corpus_dir(root, "LibriTTS")
    out: list[UttRecord] = []
    for subset in subsets:
        for wav in sorted(_subset_dir(base, subset).glob("*/*/*.wav")):
            parts = wav.stem.split("_")
            if len(parts) != 4 or parts[0] != wav.parent.parent.name:
                raise DataError(f"{wav}: not a LibriTTS name <spk>_<chapter>_<para>_<sent>.wav")
            txt = wav.with_name(f"{wav.stem}.{text_kind}.txt")
            if not txt.is_file():
                if skip_missing_text:
                    logger.warning("%s: no %s transcript; skipped", wav, text_kind)
                    continue
                raise DataError(f"{wav}: transcript {txt.name} not found")
            text = _read_utf8(txt).strip()
            if not text:
                raise DataError(f"{txt}: empty transcript")
            out.append(UttRecord("-".join(parts), parts[0], str(wav), " ".join(text.split())))
    return sorted(out, key=lambda r: r.utt_id)


def _read_utf8(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: bytes that are not UTF-8 at byte {exc.start}") from exc


def parse_librispeech(root: PathLike, subsets: Iterable[str]) -> list[UttRecord]:
    """Parse LibriSpeech subsets from their ``*.trans.txt`` files.

    Args:
        root: dir holding ``LibriSpeech/`` (or the ``LibriSpeech`` dir itself).
        subsets: subset names (``train-clean-100``, ``test-clean``, ...).
    Returns:
        records sorted by utterance id.
    Raises:
        DataError: missing subset dir or audio, malformed transcript line.
    """
    base = _corpus_dir(root, "LibriSpeech")
    out: list[UttRecord] = []
    for subset in subsets:
        for trans in sorted(_subset_dir(base, subset).glob("*/*/*.trans.txt")):
            for lineno, line in enumerate(_read_utf8(trans).splitlines(), start=1):
                if not line.strip():
                    continue
                parts = line.split(maxsplit=1)
                if len(parts) != 2:
                    raise DataError(f"{trans}:{lineno}: expected 'UTTID TEXT', got {line!r}")
                utt, text = parts
                audio = trans.parent / f"{utt}.flac"
                if not audio.is_file():
                    raise DataError(f"{trans}:{lineno}: audio {audio} not found")
                out.append(UttRecord(utt, utt.split("-")[0], str(audio), text.strip()))
    return sorted(out, key=lambda r: r.utt_id)


def _resolve_pc_audio(path: str, root: PathLike, manifest: Path) -> Path:
    """Find a manifest's audio file: as given, under root, or by its last 4 components."""
    p = Path(path)
    cands = [p] if p.is_absolute() else [manifest.parent / p, Path(root) / p]
    tail = Path(*p.parts[-4:]) if len(p.parts) >= 4 else p
    cands += [Path(root) / "LibriSpeech" / tail, Path(root) / tail]
    for c in cands:
        if c.is_file():
            return c
    raise DataError(f"{manifest}: audio {path} not found (looked in {', '.join(map(str, cands))})")


def parse_librispeech_pc(
    root: PathLike, manifest: PathLike, min_seconds: float = 4.0, max_seconds: float = 10.0
) -> list[UttRecord]:
    """Parse a LibriSpeech-PC JSON-lines manifest, keeping ``min_seconds <= duration <= max_seconds``.

    Args:
        root: dir holding ``LibriSpeech/`` with the audio of the manifest.
        manifest: JSON-lines file with ``audio_filepath``, ``text``, ``duration``.
        min_seconds, max_seconds: duration filter (inclusive).
    Returns:
        records sorted by utterance id (the flac stem).
    Raises:
        DataError: unreadable manifest, bad JSON line, missing field, missing audio,
            duplicate utterance.
    """
    m = Path(manifest)
    if not m.is_file():
        raise DataError(f"LibriSpeech-PC manifest not found: {m}")
    out: dict[str, UttRecord] = {}
    dropped = 0
    for lineno, line in enumerate(_read_utf8(m).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            path, text, dur = obj["audio_filepath"], obj["text"], float(obj["duration"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{m}:{lineno}: bad manifest line ({exc!r})") from exc
        if not (min_seconds <= dur <= max_seconds):
            dropped += 1
            continue
        if not str(text).strip():
            raise DataError(f"{m}:{lineno}: empty text")
        audio = _resolve_pc_audio(str(path), root, m)
        utt = audio.name.split(".")[0]
        if utt in out:
            raise DataError(f"{m}:{lineno}: duplicate utterance {utt}")
        out[utt] = UttRecord(utt, utt.split("-")[0], str(audio), " ".join(str(text).split()), dur)
    logger.info("%s: kept %d utterances in [%g, %g] s, dropped %d", m, len(out),
                min_seconds, max_seconds, dropped)
    return [out[k] for k in sorted(out)]


def records_to_kaldi(records: list[UttRecord], data_dir: PathLike,
                     text_style: str = "upper") -> None:
    """Write records as a Kaldi dir (``wav.scp`` lists the original wav/flac paths).

    Args:
        records: utterances.
        data_dir: output dir.
        text_style: ``"upper"`` (LibriSpeech-style normalisation) or ``"raw"``.
    Raises:
        DataError: no records, duplicate utterance ids, or a transcript that is empty after
            normalisation.  ConfigError: unknown text style.
    """
    if text_style not in TEXT_STYLES:
        raise ConfigError(f"text_style={text_style!r}: choose one of {TEXT_STYLES}")
    if not records:
        raise DataError(f"{data_dir}: no utterances to write")
    wav: dict[str, str] = {}
    text: dict[str, str] = {}
    utt2spk: dict[str, str] = {}
    for r in records:
        if r.utt_id in wav:
            raise DataError(f"{data_dir}: duplicate utterance id {r.utt_id} ({r.wav_path})")
        t = normalize_text(r.text) if text_style == "upper" else r.text
        if not t:
            raise DataError(f"{data_dir}: utterance {r.utt_id}: transcript empty after "
                            f"normalisation ({r.text!r})")
        wav[r.utt_id], text[r.utt_id], utt2spk[r.utt_id] = r.wav_path, t, r.spk_id
    write_data_dir(data_dir, wav, text, utt2spk)
