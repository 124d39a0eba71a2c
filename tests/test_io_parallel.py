"""Tests of espnet_plugin.io.parallel.map_in_order."""
from __future__ import annotations

import os

import pytest

from espnet_plugin.io.parallel import map_in_order


def _square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_3(x: int) -> int:
    if x == 3:
        raise ValueError(f"job {x} failed")
    return x


@pytest.mark.parametrize("nj", [0, 1, 2])
def test_results_in_input_order(nj):
    jobs = list(range(20))
    out = list(map_in_order(_square, jobs, nj, "squares", False, chunksize=3))
    assert [v for v, _ in out] == [x * x for x in jobs]
    pids = {p for _, p in out}
    assert (pids == {os.getpid()}) == (nj <= 1)  # sequential in this process, else in workers


@pytest.mark.parametrize("nj", [1, 2])
def test_a_failing_job_raises_and_the_caller_may_stop_early(nj):
    with pytest.raises(ValueError, match="job 3 failed"):
        list(map_in_order(_fail_on_3, list(range(50)), nj, "jobs", False))
    it = map_in_order(_fail_on_3, [0, 1, 2], nj, "jobs", False)
    assert next(it) == 0
    it.close()  # stopping early shuts the pool down (no hang, no error)
    assert list(map_in_order(_fail_on_3, [], nj, "jobs", False)) == []
