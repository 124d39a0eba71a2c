"""Shared helpers of the bench scripts: machine line, interleaved timing, peak memory, child runs.

Timing rule of every script: the variants being compared run *interleaved* in one process
(warm-up round(s) first, then ``repeats`` rounds of "each variant once"), and each reports the
median of its rounds, so a machine that gets busier during the run slows all variants alike.
Scripts print ratios; nothing asserts a timing.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above the allocation before the call;
on CPU the process's peak resident set above the resident set before the call (``VmHWM`` after
``malloc_trim`` and a reset through ``/proc/self/clear_refs``; ``ru_maxrss`` where that is not allowed, which can only
see a new peak). CPU figures are taken in a fresh child process per variant (:func:`run_child`),
so no variant sees memory another one freed.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence

import torch

def full_config(spec: str) -> str:
    """The full config of a ``<scale>/<loss>`` spec (conf/<scale>/base.yaml + the loss override, merged
    by espnet_plugin.config_merge) as a file in a temporary folder, for ``--config``."""
    import atexit
    import shutil
    import tempfile

    from espnet_plugin.config_merge import materialize

    global _CONF_TMP
    if "_CONF_TMP" not in globals():
        _CONF_TMP = tempfile.mkdtemp(prefix="bench_confs_")
        atexit.register(shutil.rmtree, _CONF_TMP, True)
    return str(materialize(spec, _CONF_TMP, os.path.join(ROOT, "conf")))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MiB = 2**20


def add_common_args(p: argparse.ArgumentParser, repeats: int = 5, warmup: int = 1) -> None:
    """``--device cpu|cuda``, ``--quick``, ``--amp`` (CUDA only), ``--repeats``, ``--warmup``, ``--threads``."""
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quick", action="store_true", help="small sizes and 2 repetitions (smoke run)")
    p.add_argument("--amp", action="store_true", help="CUDA only: also time under autocast (bfloat16)")
    p.add_argument("--repeats", type=int, default=None, help=f"timed rounds (default {repeats}; 2 with --quick)")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed rounds first")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's); 1 avoids OpenMP stalls on a busy shared CPU")
    p.set_defaults(_default_repeats=repeats)


def resolve_args(args: argparse.Namespace) -> torch.device:
    """Fill ``args.repeats``, check ``--device``/``--amp``, apply ``--threads``; -> the torch device."""
    if args.repeats is None:
        args.repeats = 2 if args.quick else args._default_repeats
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available on this machine")
    if args.amp and args.device != "cuda":
        sys.exit("--amp needs --device cuda (bfloat16 autocast is timed on the GPU only)")
    if args.threads:
        torch.set_num_threads(args.threads)
    return torch.device(args.device)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(device: torch.device) -> str:
    """One line: date, CPU model and core count, torch threads and version, GPU name when used."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = "load avg %.1f" % os.getloadavg()[0]
    except OSError:
        load = "load avg n/a"
    line = (f"{date} | CPU: {cpu_model()} x{os.cpu_count()} ({load}) | torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")
    if device.type == "cuda":
        line += f" | CUDA: {torch.cuda.get_device_name(device)}"
    return line


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def amp_context(device: torch.device, enabled: bool) -> ContextManager:
    """bfloat16 autocast on ``device`` when ``enabled``, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def interleaved(
    fns: Dict[str, Callable[[], Any]], device: torch.device, repeats: int, warmup: int = 1
) -> Dict[str, List[float]]:
    """Seconds per call of each ``fns[name]()``: ``warmup`` untimed rounds, then ``repeats`` rounds,
    each round calling every function once in order. -> {name: [repeats seconds]}."""
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for rnd in range(warmup + repeats):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            out = fn()
            sync(device)
            if rnd >= warmup:
                times[name].append(time.perf_counter() - t0)
            del out
    return times


def median(xs: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(xs))


def _proc_status(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_memory(fn: Callable[[], Any], device: torch.device) -> float:
    """Bytes of peak memory of one ``fn()`` call above the memory in use before it (see module doc)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn()
        sync(device)
        del out
        return float(torch.cuda.max_memory_allocated(device) - base)
    gc.collect()
    try:  # hand freed heap pages back to the OS, so that the step's allocations show in the RSS again
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        base = _proc_status("VmRSS")
        out = fn()
        peak = _proc_status("VmHWM")
        del out
        if base is not None and peak is not None:
            return float(peak - base)
    except OSError:
        pass
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = fn()
    del out
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)


def run_child(script: str, argv: List[str], timeout: float = 1800) -> Optional[Dict[str, Any]]:
    """Run ``python script argv`` in a fresh process; -> the JSON dict on its last stdout line (None on failure)."""
    res = subprocess.run([sys.executable, script, *argv], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        print(f"[warn] child {' '.join(argv)} failed: {res.stderr.strip()[-800:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt_mib(x: Optional[float]) -> str:
    """Bytes -> 'N.N' MiB, or 'n/a'."""
    return "n/a" if x is None else f"{x / MiB:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain Markdown table (so a script's output can be pasted into RESULTS.md)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)
