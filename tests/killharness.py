"""Kill -9 harness: run a CLI as a child process, SIGKILL it N times in a row, rerun it, compare.

Importing ESPnet + this plugin costs ~11 s of CPU, so a fresh interpreter per attempt would blow
the test budget. A *zygote* (``python tests/killharness.py``) imports the modules once and then
``fork()``s one child per run: every run is still its own process, started from the same clean
pre-import state (the zygote itself never trains), and it is killed with a real ``SIGKILL``.

Kill points (``Zygote.start(..., traps=...)`` or a sleep in the test):
- a *time*: the test sleeps a seeded-random time, uniform over the uninterrupted run's wall time,
  then sends ``SIGKILL`` (:func:`kill_resume_sequence`);
- a *trap*: ``{"target": "pkg.module:Class.method", "nth": k, "arg_endswith": "1epoch.pth"}``;
  in the child the attribute is wrapped so that its k-th call (counting only calls with a str
  argument ending in ``arg_endswith``, when given) makes the process ``SIGKILL`` itself before the
  call runs: a precise point (inside a checkpoint write, a validation pass, between GAN turns).

Protocol (JSON lines on the zygote's stdin/stdout): ``{"op": "start", "module", "argv", "log",
"traps"}`` -> ``{"pid"}``; ``{"op": "wait", "pid", "timeout"}`` -> ``{"rc"}`` (-9 = killed,
``None`` = timed out, then killed).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- child side (in the zygote)
def _install_trap(trap: dict) -> None:
    mod_name, _, attr_path = trap["target"].partition(":")
    owner = importlib.import_module(mod_name)
    *parents, name = attr_path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    raw = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    kind = type(raw) if isinstance(raw, (classmethod, staticmethod)) else None
    func = raw.__func__ if kind else raw
    suffix, nth, seen = trap.get("arg_endswith"), int(trap.get("nth", 1)), [0]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if suffix is None or any(isinstance(a, (str, os.PathLike)) and os.fspath(a).endswith(suffix)
                                 for a in list(args) + list(kwargs.values())):
            seen[0] += 1
            if seen[0] == nth:
                sys.stderr.write(f"killharness: SIGKILL at {trap}\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return func(*args, **kwargs)

    setattr(owner, name, kind(wrapper) if kind else wrapper)


def _child(req: dict) -> None:
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    os.chdir(req.get("cwd") or os.getcwd())
    rc = 0
    try:
        for trap in req.get("traps") or []:
            _install_trap(trap)
        importlib.import_module(req["module"]).main(list(req["argv"]))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def serve(modules: Sequence[str]) -> None:
    """The zygote: import ``modules``, then serve start/wait requests (one JSON line each)."""
    out = os.fdopen(os.dup(1), "w")  # the protocol channel; stray prints (imports) go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for m in modules:
        importlib.import_module(m)
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "start":
            pid = os.fork()
            if pid == 0:
                os.setsid()
                out.close()
                _child(req)
            reply = {"pid": pid}
        else:
            pid, deadline, rc = req["pid"], time.time() + float(req.get("timeout", 300)), None
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    rc = os.waitstatus_to_exitcode(status)
                    break
                if time.time() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.02)
            reply = {"rc": rc}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    os._exit(0)  # stdin closed: skip the slow interpreter teardown of torch & co.


# ---------------------------------------------------------------- test side
class Zygote:
    """Client of a zygote subprocess that has imported ``modules``."""

    def __init__(self, modules: Sequence[str], log: Path):
        self.proc = subprocess.Popen([sys.executable, __file__, *modules], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self._recv().get("ready"), f"zygote failed: {Path(log).read_text()[-3000:]}"

    def _recv(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the kill-harness zygote died")
        return json.loads(line)

    def _ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._recv()

    def start(self, module: str, argv: Sequence[str], log: Path, traps: Sequence[dict] = ()) -> int:
        return self._ask({"op": "start", "module": module, "argv": [str(a) for a in argv],
                          "log": str(log), "traps": list(traps)})["pid"]

    def wait(self, pid: int, timeout: float = 300) -> Optional[int]:
        return self._ask({"op": "wait", "pid": pid, "timeout": timeout})["rc"]

    def run(self, module: str, argv: Sequence[str], log: Path, timeout: float = 300) -> float:
        """Run to the end; assert exit 0; return the wall time in seconds."""
        t0 = time.perf_counter()
        rc = self.wait(self.start(module, argv, log), timeout)
        assert rc == 0, f"{module} exited {rc}:\n{Path(log).read_text()[-3000:]}"
        return time.perf_counter() - t0

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def kill_resume_sequence(zyg: Zygote, module: str, argv: Sequence[str], log: Path, *, wall: float,
                         seed: int, n_time_kills: int, traps: Sequence[dict] = (),
                         after_kill: Optional[Callable[[int], None]] = None) -> list:
    """Kill runs of ``module argv`` in a row, then run it to the end. Returns what each attempt did.

    First one attempt per trap (each must die by its own SIGKILL: -9), then ``n_time_kills``
    attempts killed after ``uniform(0, wall)`` seconds (seeded); ``after_kill(i)`` runs after each
    kill (e.g. to check that what is on disk is consistent). An attempt that finished before its
    kill time is recorded as ``"finished"``: the rerun then only has to be a no-op.
    """
    rng = random.Random(seed)
    events = []
    for i, trap in enumerate(traps):
        rc = zyg.wait(zyg.start(module, argv, log, traps=[trap]))
        assert rc == -signal.SIGKILL, f"trap {trap} was never reached (rc {rc}):\n{Path(log).read_text()[-3000:]}"
        events.append(("trap", trap["target"], trap.get("arg_endswith"), trap.get("nth", 1)))
        if after_kill:
            after_kill(len(events))
    for _ in range(n_time_kills):
        at = rng.uniform(0, wall)
        pid = zyg.start(module, argv, log)
        time.sleep(at)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = zyg.wait(pid)
        events.append(("time", round(at, 2), "killed" if rc == -signal.SIGKILL else f"finished rc={rc}"))
        if after_kill:
            after_kill(len(events))
    with open(log, "a") as f:
        f.write(f"\nkillharness events: {events}\n")
    zyg.run(module, argv, log)
    return events


if __name__ == "__main__":
    serve(sys.argv[1:])
