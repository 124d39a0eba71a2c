"""Recipe runs started at the beginning of the test session and awaited by their tests.

A recipe micro-run is minutes of mostly one busy process; run in line, each would add its whole
length to the suite. Started by conftest's session fixture before the first test, at a lower CPU
priority (``nice``), it runs on the second core while the rest of the suite uses the first, and the
tests that read it wait for it (:meth:`BackgroundRun.finish`). Not a mock: the same ``./run.sh``
call, only started earlier.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Optional

NICE = 10


class BackgroundRun:
    """``./run.sh args`` in ``recipe``, its output in ``log`` (one OMP thread, process group of its own)."""

    def __init__(self, recipe: Path, args: list[str], log: Path, nice: int = NICE, **info) -> None:
        self.recipe, self.args, self.log, self.info = recipe, list(args), log, info
        env = dict(os.environ, OMP_NUM_THREADS="1")
        with open(log, "w") as f:
            self.proc = subprocess.Popen(["./run.sh", *args], cwd=recipe, stdout=f, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True,
                                         preexec_fn=(lambda: os.nice(nice)) if nice else None)

    def finish(self, timeout: float = 1500) -> str:
        """Wait for the run; assert it succeeded; its log plus every job log (exp/logs/*.log)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        text = self.log.read_text()
        assert rc == 0, text[-6000:]
        logs = sorted((self.recipe / "exp" / "logs").glob("*.log"))
        return text + "".join(p.read_text() for p in logs)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


RUNS: dict[str, BackgroundRun] = {}


def take(name: str) -> Optional[BackgroundRun]:
    """The run started under ``name`` by the session fixture, if any (each is taken once)."""
    return RUNS.pop(name, None)


def stop_all() -> None:
    for run in RUNS.values():
        run.kill()
    RUNS.clear()
