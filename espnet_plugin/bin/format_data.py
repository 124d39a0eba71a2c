#!/usr/bin/env python3
"""The format + filter stages: a Kaldi dir -> validated 16 kHz mono PCM dump dir.

``python -m espnet_plugin.bin.format_data --in_dir data/train --out_dir dump/raw/train
--fs 16000 --min_seconds 0.5 --max_seconds 20 --nj 2 [--on_error skip|fail]``

``wav.scp`` values may be paths, ``cmd |`` pipes or ``path:offset`` ark entries; with a
``segments`` file (``utt rec start end``) each utterance is cut from its recording, which is
decoded once for all its segments (see :mod:`espnet_plugin.io.scp_audio`).

Writes ``out_dir/wav/<spk>/<utt>.wav``, ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``
(restricted to the kept utterances), ``utt2num_samples``, ``feats_type`` (``raw``),
``skipped.tsv`` (``utt<TAB>reason``) and the manifest ``.format_done``.

Every audio goes through :func:`espnet_plugin.io.scp_audio.load_entries` (cut, resample,
downmix, validate; too short / too long / segments outside their recording are filtered there).  ``--on_error fail`` (default) stops at the
first bad utterance with its DataError; ``skip`` logs and drops it.  Duplicate utterance ids
always fail.  Idempotent: when the manifest (arguments + hash of the input files and of the size and
mtime of each audio file, including files named in pipe commands) matches, nothing is written; otherwise wav files whose bytes
would not change are left untouched.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.audio import encode_wav, write_bytes_atomic
from espnet_plugin.io.kaldi_dir import check_data_dir, write_data_dir, write_scp, write_text_atomic
from espnet_plugin.io.scp_audio import load_entries, load_entry, source_files
from espnet_plugin.io.parallel import map_in_order

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]
FORMAT_VERSION = 2
ON_ERROR = ("fail", "skip")


@dataclass
class FormatResult:
    """What :func:`format_data` did.

    Attributes:
        kept: utterances written.
        skipped: ``(utt, reason)`` of dropped utterances (``on_error="skip"``).
        up_to_date: True when the manifest matched and nothing was written.
        num_samples: utt -> samples at ``fs``.
    """

    kept: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    up_to_date: bool = False
    num_samples: dict[str, int] = field(default_factory=dict)


def _job(job: tuple) -> list[tuple[str, int, str | None]]:
    """Load, validate and write the utterances of one recording.

    ``job`` = (wav.scp value, [(utt, segment or None, dst)], fs, min_samples, max_seconds,
    allow_silence, root); returns (utt, samples, error or None) per utterance.
    """
    spec, items, fs, min_samples, max_seconds, allow_silence, root = job
    checks = dict(min_samples=min_samples, max_seconds=max_seconds, allow_silence=allow_silence)
    if len(items) == 1 and items[0][1] is None:  # a whole file: its header is checked first
        try:
            loaded = [(items[0][0], load_entry(spec, fs, utt_id=items[0][0], root=root, **checks))]
        except DataError as exc:
            loaded = [(items[0][0], exc)]
    else:
        loaded = load_entries(spec, [(u, seg) for u, seg, _ in items], fs, root=root, **checks)
    out = []
    for (utt, wav), (_, _, dst) in zip(loaded, items):
        try:
            if isinstance(wav, DataError):
                raise wav
            data = encode_wav(wav, fs)
            if not (os.path.isfile(dst) and Path(dst).read_bytes() == data):
                write_bytes_atomic(dst, data)
        except DataError as exc:
            out.append((utt, 0, str(exc)))
            continue
        out.append((utt, int(wav.shape[0]), None))
    return out


def _input_hash(in_dir: Path, wav: dict[str, str], root: PathLike | None, args: dict) -> str:
    """Hash of the arguments, the Kaldi files' bytes and the size + mtime of each audio file."""
    h = hashlib.sha256(json.dumps({"v": FORMAT_VERSION, **args}, sort_keys=True).encode())
    for name in ("wav.scp", "segments", "text", "utt2spk", "spk2utt"):
        p = in_dir / name
        h.update(name.encode() + (p.read_bytes() if p.is_file() else b"<none>"))
    for spec in sorted(set(wav.values())):
        for f in source_files(spec, root):
            try:
                st = f.stat()
                h.update(f"{f} {st.st_size} {st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{f} missing\n".encode())
    return h.hexdigest()


def _check_id(utt: str, spk: str, in_dir: Path) -> None:
    for what, key in (("utterance", utt), ("speaker", spk)):
        if "/" in key or key in (".", "..") or "\0" in key:
            raise DataError(f"{in_dir}: {what} id {key!r} cannot be a file name")


def format_data(
    in_dir: PathLike,
    out_dir: PathLike,
    fs: int = 16000,
    min_seconds: float = 0.5,
    max_seconds: float = 20.0,
    nj: int = 1,
    on_error: str = "fail",
    require_text: bool = True,
    allow_silence: bool = False,
    audio_root: PathLike | None = None,
    show_progress: bool = False,
) -> FormatResult:
    """Format and filter a Kaldi dir into a dump dir (see the module docstring).

    Args:
        in_dir: input Kaldi dir (wav.scp, utt2spk, text, optional segments).
        out_dir: output dump dir.
        fs: output sampling rate in Hz.
        min_seconds, max_seconds: duration filter (after resampling).
        nj: parallel processes.
        on_error: ``"fail"`` (raise the first DataError) or ``"skip"`` (drop and report).
        require_text: the input must have a ``text`` file.
        allow_silence: keep all-silent clips.
        audio_root: directory that relative wav.scp paths are relative to (default: cwd).
        show_progress: tqdm progress bar.
    Raises:
        ConfigError: bad arguments.  DataError: bad data with ``on_error="fail"``, duplicate
            ids, or no utterance left.
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error={on_error!r}: choose one of {ON_ERROR}")
    if fs <= 0 or min_seconds < 0 or max_seconds <= min_seconds:
        raise ConfigError(f"need fs > 0 and 0 <= min_seconds < max_seconds "
                          f"(fs={fs}, min_seconds={min_seconds}, max_seconds={max_seconds})")
    src, out = Path(in_dir), Path(out_dir)
    problems: list | None = [] if on_error == "skip" else None
    kd = check_data_dir(src, require_text, problems=problems, allow_segments=True)
    merged: dict[str, list[str]] = {}
    for utt, reason in problems or []:  # one row per utterance
        merged.setdefault(utt, []).append(reason)
    skipped: list[tuple[str, str]] = [(u, "; ".join(r)) for u, r in merged.items()]
    args = dict(fs=fs, min_seconds=min_seconds, max_seconds=max_seconds, on_error=on_error,
                require_text=require_text, allow_silence=allow_silence,
                audio_root=str(audio_root), out_dir=str(out_dir))
    digest = _input_hash(src, kd.wav, audio_root, args)
    stamp = out / ".format_done"
    if stamp.is_file() and (out / "wav.scp").is_file():
        try:
            old = json.loads(stamp.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("hash") == digest:
            logger.info("%s: up to date with %s; nothing to do", out, src)
            return FormatResult(kept=old.get("kept", 0), up_to_date=True,
                                skipped=[tuple(x) for x in old.get("skipped", [])])
    wav_dir = os.path.join(str(out_dir), "wav")
    groups: dict[str, list] = {}  # one job per recording (per utterance without segments)
    dst = {}
    for utt in kd.utts:
        spk = kd.utt2spk[utt]
        _check_id(utt, spk, src)
        dst[utt] = os.path.join(wav_dir, spk, f"{utt}.wav")
        seg = kd.segments[utt] if kd.segments is not None else None
        groups.setdefault(seg.rec if seg else utt, [kd.wav[utt], []])[1].append((utt, seg, dst[utt]))
    jobs = [(spec, items, fs, int(round(min_seconds * fs)), max_seconds, allow_silence, audio_root)
            for spec, items in groups.values()]
    num_samples: dict[str, int] = {}
    for results in map_in_order(_job, jobs, nj, "formatting", show_progress, unit="rec",
                                chunksize=16):
        for utt, n, err in results:
            if err is None:
                num_samples[utt] = n
            elif on_error == "fail":
                raise DataError(err)
            else:
                skipped.append((utt, err))
    for utt, reason in skipped:
        logger.warning("skipped %s: %s", utt, reason)
    if skipped:
        logger.warning("%s: skipped %d utterance(s); see %s", src, len(skipped),
                       out / "skipped.tsv")
    if not num_samples:
        raise DataError(f"{src}: no utterance left after formatting/filtering")
    kept = sorted(num_samples)
    write_data_dir(out, {u: dst[u] for u in kept},
                   {u: kd.text[u] for u in kept} if kd.text is not None else None,
                   {u: kd.utt2spk[u] for u in kept})
    write_scp(out / "utt2num_samples", {u: str(num_samples[u]) for u in kept})
    write_text_atomic(out / "feats_type", "raw\n")
    write_text_atomic(out / "skipped.tsv",
                      "".join(f"{u}\t{' '.join(r.split())}\n" for u, r in skipped))
    _remove_stale(Path(wav_dir), {Path(dst[u]).resolve() for u in kept})
    if kd.text is None and (out / "text").is_file():
        (out / "text").unlink()
    manifest = {"hash": digest, "kept": len(kept), "skipped": skipped, "args": args,
                "in_dir": str(src)}
    write_text_atomic(stamp, json.dumps(manifest, indent=1) + "\n")
    logger.info("%s -> %s: kept %d, skipped %d", src, out, len(kept), len(skipped))
    return FormatResult(kept=len(kept), skipped=skipped, num_samples=num_samples)


def _remove_stale(wav_dir: Path, keep: set[Path]) -> None:
    """Delete ``*.wav`` under our own ``out_dir/wav`` that the new wav.scp no longer lists."""
    if wav_dir.is_dir():
        for p in wav_dir.glob("*/*.wav"):
            if p.resolve() not in keep:
                p.unlink()


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--min_seconds", type=float, default=0.5)
    p.add_argument("--max_seconds", type=float, default=20.0)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--on_error", choices=ON_ERROR, default="fail")
    p.add_argument("--no_text", action="store_true", help="the input has no text file")
    p.add_argument("--allow_silence", action="store_true")
    p.add_argument("--audio_root", default=None, help="base of relative wav.scp paths")
    p.add_argument("--no_progress", action="store_true")
    return p


def main(cmd: list[str] | None = None) -> int:
    """Entry point; returns 0 (a data or configuration error is raised: ``espnet_plugin.cli``)."""
    a = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    format_data(a.in_dir, a.out_dir, a.fs, a.min_seconds, a.max_seconds, a.nj, a.on_error,
                require_text=not a.no_text, allow_silence=a.allow_silence,
                audio_root=a.audio_root, show_progress=not a.no_progress)
    return 0


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
