"""Skip-or-fail policy of the batch jobs for utterances whose data is bad, and their record.

    bad = BadUtts(out_dir, skip=args.skip_bad_utts)         # job-level: one per output dir
    for utt in keys:
        with bad.guard(utt):                                  # the whole per-item body
            wav = load_entry(...)
            ...

Inside ``guard(utt)`` a :class:`espnet_plugin.errors.DataError` is re-raised when ``skip`` is
false (fail fast, the default), and otherwise logged (``logging.warning`` naming the utterance and
the reason), written to ``<out_dir>/bad_utts.tsv`` (``utt_id<TAB>reason``, one header line,
rewritten atomically after each new entry so a killed job keeps it) and swallowed, so the loop
goes on with the next item. Any other exception always propagates (a bug is not bad data).
Parallel jobs writing into one directory use ``name="bad_utts.<job>.tsv"``;
:func:`read_bad_utts` reads every ``bad_utts*.tsv`` of a directory.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from espnet_plugin.errors import DataError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
HEADER = "utt_id\treason\n"


def bad_utts_name(num_jobs: int = 1, job_index: int = 1) -> str:
    """``bad_utts.tsv`` for one job, ``bad_utts.<job_index>.tsv`` for one of several."""
    return "bad_utts.tsv" if num_jobs == 1 else f"bad_utts.{job_index}.tsv"


class BadUtts:
    """Collects the utterances a job skipped because of a :class:`DataError`.

    Args:
        out_dir: where the record goes (created when the first entry is written).
        skip: true: record and go on; false: re-raise (fail fast).
        name: the record's file name in ``out_dir``.
    Attributes:
        rows: ``{utt: reason}`` of the utterances skipped so far, in order.
    """

    def __init__(self, out_dir: PathLike, skip: bool, name: str = "bad_utts.tsv"):
        self.path = Path(out_dir) / name
        self.skip = bool(skip)
        self.rows: dict[str, str] = {}
        if self.path.exists():  # a record of an earlier run would describe other outputs
            self.path.unlink()

    @contextmanager
    def guard(self, utt: str) -> Iterator[None]:
        """Run one item's work; a ``DataError`` is skipped and recorded, or re-raised (see class)."""
        try:
            yield
        except DataError as exc:
            if not self.skip:
                raise
            self.add(utt, str(exc))

    def add(self, utt: str, reason: str) -> None:
        """Record ``utt`` as skipped for ``reason`` (logged, and the file rewritten atomically)."""
        reason = " ".join(reason.split())  # one line, no tabs
        logger.warning("skipping utterance %r: %s", utt, reason)
        self.rows[utt] = reason
        _write(self.path, self.rows)

    def __contains__(self, utt: str) -> bool:
        return utt in self.rows

    def __len__(self) -> int:
        return len(self.rows)


def read_bad_utts(out_dir: PathLike) -> dict[str, str]:
    """``{utt: reason}`` from every ``bad_utts*.tsv`` in ``out_dir`` (empty when there is none)."""
    return _read(sorted(Path(out_dir).glob("bad_utts*.tsv")))


def _read(paths: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in paths:
        for line in p.read_text(encoding="utf-8").splitlines()[1:]:
            if line.strip():
                utt, _, reason = line.partition("\t")
                out[utt] = reason
    return out


def _write(path: Path, rows: dict[str, str]) -> None:
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    write_text_atomic(path, HEADER + "".join(f"{u}\t{r}\n" for u, r in rows.items()))


def merge_bad_utts(out_dir: PathLike, num_jobs: int) -> int:
    """Merge the records ``bad_utts.<i>.tsv`` of jobs 1..num_jobs into ``bad_utts.tsv``; returns its size.

    Nothing is written when no job skipped anything.
    """
    parts = [p for i in range(1, num_jobs + 1) if (p := Path(out_dir) / bad_utts_name(num_jobs, i)).is_file()]
    if num_jobs == 1 or not parts:
        return 0
    rows = _read(parts)
    _write(Path(out_dir) / bad_utts_name(), rows)
    for p in parts:
        p.unlink()
    return len(rows)
