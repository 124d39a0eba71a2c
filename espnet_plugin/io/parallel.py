"""Per-utterance jobs run in input order over a process pool, with a progress bar.

Used by the data stages that convert one utterance per job (``bin/format_data.py``,
``data/synth_corpus.py``).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def map_in_order(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    nj: int,
    desc: str,
    show_progress: bool,
    *,
    unit: str = "utt",
    chunksize: int = 8,
) -> Iterator[R]:
    """Yield ``fn(job)`` for every job, in the order of ``jobs``.

    With ``nj <= 1`` the jobs run one after the other in this process; otherwise in a pool of
    ``nj`` processes (``fn`` and the jobs must then be picklable: a module-level function).
    When a job raises, or the caller stops iterating early (e.g. it raises on a bad result),
    the jobs not yet started are cancelled and the pool is shut down.

    Args:
        fn: the job function.
        jobs: its arguments, one per job.
        nj: number of processes.
        desc: progress bar label.
        show_progress: show a tqdm progress bar.
        unit: progress bar unit.
        chunksize: jobs sent to a worker at once.
    """
    from tqdm import tqdm

    bar = dict(total=len(jobs), desc=desc, unit=unit, disable=not show_progress)
    if nj <= 1:
        for j in tqdm(jobs, **bar):
            yield fn(j)
        return
    ex = ProcessPoolExecutor(max_workers=nj)
    try:
        yield from tqdm(ex.map(fn, jobs, chunksize=chunksize), **bar)
    finally:  # on the first failure drop the queued work
        ex.shutdown(wait=True, cancel_futures=True)
