"""Kaldi-style data directories: ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``segments``.

Every file holds one ``KEY VALUE`` entry per line (key and value separated by the first run
of white space).  Readers raise :class:`espnet_plugin.errors.DataError` naming the file and
line; writers sort by key and replace files atomically.

Lenient reading: functions that take ``problems: list | None`` append ``(key, reason)``
pairs for bad entries (non-UTF-8 line, empty value, key present in one file but not in
another) instead of raising, so a caller such as ``format_data --on_error skip`` can drop
those utterances and report them.  Duplicate keys always raise (which entry is meant is
ambiguous).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Union

from espnet_plugin.errors import DataError
from espnet_plugin.io.audio import write_bytes_atomic

PathLike = Union[str, os.PathLike]
Problems = list  # list[tuple[str, str]]: (key, reason)


@dataclass(frozen=True)
class Segment:
    """One line of a Kaldi ``segments`` file: ``<utt> <rec> <start> <end>``.

    Attributes:
        rec: recording id (a key of ``wav.scp``).
        start: start time in seconds (>= 0).
        end: end time in seconds (> start), or -1 for "to the end of the recording".
    """

    rec: str
    start: float
    end: float


def read_segments(path: PathLike, *, problems: Problems | None = None) -> dict[str, Segment]:
    """Read a ``segments`` file (``utt rec start end``, times in seconds, end -1 = to the end).

    Raises:
        DataError: as :func:`read_scp`; a line without 4 fields, times that are not numbers,
            start < 0, or end <= start (other than -1) (those unless ``problems`` is given).
    """
    out: dict[str, Segment] = {}
    for utt, value in read_scp(path, problems=problems).items():
        fields = value.split()
        try:
            if len(fields) != 3:
                raise ValueError(f"expected 'utt rec start end', got {len(fields) + 1} fields")
            rec, start, end = fields[0], float(fields[1]), float(fields[2])
            if not (start >= 0 and (end == -1 or end > start)):
                raise ValueError(f"bad times start={fields[1]} end={fields[2]} "
                                 "(need 0 <= start < end, or end = -1)")
        except ValueError as exc:
            reason = f"{path}: segment {utt!r}: {exc}"
            if problems is None:
                raise DataError(reason) from exc
            problems.append((utt, reason))
            continue
        out[utt] = Segment(rec, start, end)
    return out


def _few(keys: Iterable[str], k: int = 5) -> str:
    """``'a, b, c, ... (N in all)'`` for an error message."""
    keys = sorted(keys)
    shown = ", ".join(keys[:k])
    more = ", ..." if len(keys) > k else ""
    return f"{shown}{more} ({len(keys)} in all)"


def read_scp(
    path: PathLike,
    *,
    allow_empty: bool = False,
    problems: Problems | None = None,
) -> dict[str, str]:
    """Read a ``KEY VALUE`` file into an insertion-ordered dict.

    Blank lines are ignored; a trailing ``\\r`` is stripped.

    Args:
        path: the file.
        allow_empty: accept lines with a key but no value (value ``""``).
        problems: when a list, bad lines are appended as ``(key, reason)`` instead of raising.
    Raises:
        DataError: missing file, duplicate key (always), a line without a value or with
            bytes that are not UTF-8 (unless ``problems`` is given).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc}") from exc
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, bline in enumerate(raw.split(b"\n"), start=1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as exc:
            key = bline.split(maxsplit=1)[0].decode("utf-8", "replace") if bline.split() else "?"
            reason = (f"{p}:{lineno}: bytes that are not UTF-8 in the line of key {key!r} "
                      f"({exc.reason} at byte {exc.start})")
            if problems is None:
                raise DataError(reason) from exc
            _check_dup(p, key, lineno, first_line)
            problems.append((key, reason))
            continue
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        key = parts[0]
        value = parts[1] if len(parts) == 2 else ""
        _check_dup(p, key, lineno, first_line)
        if not value and not allow_empty:
            reason = f"{p}:{lineno}: key {key!r} has no value"
            if problems is None:
                raise DataError(reason)
            problems.append((key, reason))
            continue
        out[key] = value
    return out


def _check_dup(p: Path, key: str, lineno: int, first_line: dict[str, int]) -> None:
    if key in first_line:
        raise DataError(
            f"{p}:{lineno}: duplicate key {key!r} (first seen on line {first_line[key]})"
        )
    first_line[key] = lineno


def _format_lines(entries: Mapping[str, str], path: PathLike) -> str:
    lines = []
    for key in sorted(entries):
        value = str(entries[key])
        if not key or any(c.isspace() for c in key):
            raise DataError(f"{path}: key {key!r} is empty or contains white space")
        if "\n" in value or "\r" in value:
            raise DataError(f"{path}: value of {key!r} contains a line break")
        lines.append(f"{key} {value}".rstrip(" ") + "\n")
    return "".join(lines)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically (temp file + ``os.replace``)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_scp(path: PathLike, entries: Mapping[str, str]) -> None:
    """Write ``KEY VALUE`` lines sorted by key, atomically.

    Raises:
        DataError: a key that is empty or has white space, or a value with a line break.
    """
    write_text_atomic(path, _format_lines(entries, path))


def read_text(
    path: PathLike, *, allow_empty: bool = False, problems: Problems | None = None
) -> dict[str, str]:
    """Read a transcript file (``UTT words ...``).

    Raises:
        DataError: as :func:`read_scp`; an empty transcript unless ``allow_empty``.
    """
    return read_scp(path, allow_empty=allow_empty, problems=problems)


def job_keys(
    entries: Mapping[str, str],
    key_file: PathLike | None = None,
    num_jobs: int = 1,
    job_index: int = 1,
    *,
    source: str = "the list",
) -> list[str]:
    """The keys of ``entries`` one parallel job processes, sorted.

    With ``key_file`` (this job's part of the list, as ``utils/split_scp.pl`` writes it; ESPnet's
    ``--key_file``): the first field of each of its lines, every one of which must be in ``entries``.
    Without: every ``num_jobs``-th sorted key from the ``job_index``-th (1-based).

    Raises:
        DataError: a key of ``key_file`` missing from ``entries`` (named with ``source``).
    """
    if key_file is None:
        return sorted(entries)[job_index - 1 :: num_jobs]
    keys = list(read_scp(key_file, allow_empty=True))
    missing = [k for k in keys if k not in entries]
    if missing:
        raise DataError(f"{key_file}: {len(missing)} keys not in {source}: {_few(missing)}")
    return sorted(keys)


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    """Invert ``utt -> spk`` into ``spk -> sorted utts`` (speakers sorted)."""
    out: dict[str, list[str]] = {}
    for utt in sorted(utt2spk):
        out.setdefault(utt2spk[utt], []).append(utt)
    return {spk: out[spk] for spk in sorted(out)}


@dataclass
class KaldiDir:
    """A checked Kaldi data dir: all maps share the same utterance keys.

    Attributes:
        path: the directory.
        wav: utt -> wav.scp value (a path, ``path:offset`` or ``cmd |``); with ``segments``,
            the value of the utterance's recording.
        text: utt -> transcript, or None when the dir has no ``text``.
        utt2spk: utt -> speaker.
        spk2utt: speaker -> sorted list of utts.
        segments: utt -> :class:`Segment` when the dir has a ``segments`` file, else None.
    """

    path: Path
    wav: dict[str, str]
    text: dict[str, str] | None
    utt2spk: dict[str, str]
    spk2utt: dict[str, list[str]] = field(default_factory=dict)
    segments: dict[str, Segment] | None = None

    @property
    def utts(self) -> list[str]:
        """Sorted utterance ids."""
        return sorted(self.wav)


def check_data_dir(
    path: PathLike,
    require_text: bool = True,
    *,
    problems: Problems | None = None,
    allow_segments: bool = False,
) -> KaldiDir:
    """Read and cross-check a Kaldi data dir.

    ``wav.scp`` and ``utt2spk`` are required, ``text`` when ``require_text`` (it is read
    when present either way); ``spk2utt`` is optional, derived from ``utt2spk`` when
    missing and checked against it when present.  With a ``segments`` file (only when
    ``allow_segments``), ``wav.scp`` is keyed by recording: every segment's recording must be
    in it, and ``KaldiDir.wav`` maps each utterance to its recording's value.

    Args:
        path: the directory.
        require_text: a missing ``text`` file is an error.
        problems: when a list, utterances with bad lines or keys missing from some file are
            dropped and reported as ``(utt, reason)`` instead of raising.
        allow_segments: accept a ``segments`` file (callers that cut utterances from
            recordings, i.e. the format stage); otherwise it is an error.
    Raises:
        DataError: missing dir/file, bad lines, duplicate keys, or key sets that differ
            between files (the message lists the first few mismatched keys and their count).
    """
    d = Path(path)
    if not d.is_dir():
        raise DataError(f"{d}: data directory not found")
    for name in ["wav.scp", "utt2spk"] + (["text"] if require_text else []):
        if not (d / name).is_file():
            raise DataError(f"{d}: missing file {name}")
    segments = None
    has_segments = (d / "segments").is_file()
    rec_problems: Problems | None = [] if problems is not None else None
    recordings = read_scp(d / "wav.scp", problems=rec_problems if has_segments else problems)
    if has_segments:
        if not allow_segments:
            raise DataError(f"{d}: has a segments file; cut the utterances first (the format "
                            "stage, espnet_plugin.bin.format_data, does)")
        segments = read_segments(d / "segments", problems=problems)
        no_rec = sorted(u for u, s in segments.items() if s.rec not in recordings)
        if no_rec and problems is None:
            raise DataError(f"{d}: recordings of segments missing from wav.scp: "
                            + _few(f"{u} ({segments[u].rec})" for u in no_rec))
        bad_rec = dict(rec_problems or [])
        for u in no_rec:
            rec = segments.pop(u).rec
            problems.append((u, bad_rec.get(rec, f"{d}: recording {rec!r} of segment {u!r} "
                                                 "is not in wav.scp")))
        wav_of_utt = {u: recordings[s.rec] for u, s in segments.items()}
    files: dict[str, dict[str, str]] = {
        "segments" if segments is not None else "wav.scp": (
            wav_of_utt if segments is not None else recordings),
        "utt2spk": read_scp(d / "utt2spk", problems=problems),
    }
    if (d / "text").is_file():
        files["text"] = read_text(d / "text", problems=problems)
    dropped = {k for k, _ in problems} if problems is not None else set()
    all_keys = set().union(*(set(m) for m in files.values())) - dropped
    missing_in = {name: all_keys - set(m) for name, m in files.items()}
    bad_keys = set().union(*missing_in.values())
    if bad_keys and problems is None:
        parts = [f"missing from {n}: {_few(miss)}" for n, miss in missing_in.items() if miss]
        raise DataError(f"{d}: keys of {'/'.join(files)} differ; " + "; ".join(parts))
    for key in sorted(bad_keys):
        where = ", ".join(n for n, miss in missing_in.items() if key in miss)
        problems.append((key, f"{d}: no entry in {where}"))
    all_keys -= bad_keys
    for name in files:
        files[name] = {k: v for k, v in files[name].items() if k in all_keys}
    utt2spk = files["utt2spk"]
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    if (d / "spk2utt").is_file():
        given = {s: sorted(u.split()) for s, u in read_scp(d / "spk2utt").items()}
        if problems is not None:  # compare on the utterances that are kept
            given = {s: [u for u in us if u in all_keys] for s, us in given.items()}
            given = {s: us for s, us in given.items() if us}
        if given != spk2utt:
            diff = set(given) ^ set(spk2utt)
            diff |= {s for s in set(given) & set(spk2utt) if given[s] != spk2utt[s]}
            raise DataError(
                f"{d}: spk2utt disagrees with utt2spk for speakers {_few(diff)}; "
                "regenerate it from utt2spk"
            )
    wav = files.pop("segments" if segments is not None else "wav.scp")
    if segments is not None:
        segments = {u: segments[u] for u in wav}
    return KaldiDir(path=d, wav=wav, text=files.get("text"), utt2spk=utt2spk, spk2utt=spk2utt,
                    segments=segments)


def write_data_dir(
    path: PathLike,
    wav: Mapping[str, str],
    text: Mapping[str, str] | None,
    utt2spk: Mapping[str, str],
) -> None:
    """Write ``wav.scp``, ``text`` (if given), ``utt2spk`` and ``spk2utt``, sorted, atomically.

    Raises:
        DataError: key sets of ``wav``/``text``/``utt2spk`` differ, or bad keys/values.
    """
    d = Path(path)
    maps = {"wav.scp": wav, "utt2spk": utt2spk}
    if text is not None:
        maps["text"] = text
    keys = set(wav)
    for name, m in maps.items():
        if set(m) != keys:
            diff = set(m) ^ keys
            raise DataError(f"{d}: keys of {name} differ from wav.scp: {_few(diff)}")
    d.mkdir(parents=True, exist_ok=True)
    for name, m in maps.items():
        write_scp(d / name, m)
    spk2utt = {s: " ".join(u) for s, u in utt2spk_to_spk2utt(utt2spk).items()}
    write_scp(d / "spk2utt", spk2utt)
